// The root test config. Vitest 5 no longer discovers a workspace file by name: this is an ordinary config that
// declares the test projects, and the test script passes it with `--config vitest.workspace.ts`.
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: [
      { test: { name: "schema", root: "packages/schema", include: ["test/**/*.test.ts"] } },
      {
        test: {
          name: "bus",
          root: "packages/bus",
          include: ["test/**/*.test.ts"],
          testTimeout: 30_000,
          hookTimeout: 30_000
        }
      },
      { test: { name: "examples", root: "examples", include: ["**/*.test.ts"], testTimeout: 30_000 } }
    ]
  }
})
