// Lets a plain `vitest` pick up the projects declared in vitest.workspace.ts.
export { default } from "./vitest.workspace.ts"
