// The root test config. Vitest 5 no longer discovers a workspace file by name: this is an ordinary config that
// declares the test projects, and the test script passes it with `--config vitest.workspace.ts`.
import { defineConfig } from "vitest/config"

// The workspace packages resolve to their TypeScript sources (the "@hyvve/source" export
// condition), so tests never need a build; the install test checks the built packages. The rest
// is Vite's default for server code.
const resolve = { conditions: ["@hyvve/source", "module", "node", "development|production"] }
const sources = { resolve, ssr: { resolve } }
// Processes the tests start (a consumer process, the demo) resolve the sources the same way.
const env = { NODE_OPTIONS: `--conditions=@hyvve/source ${process.env["NODE_OPTIONS"] ?? ""}`.trim() }

export default defineConfig({
  test: {
    projects: [
      { ...sources, test: { name: "schema", root: "packages/schema", include: ["test/**/*.test.ts"], env } },
      {
        ...sources,
        test: {
          name: "bus",
          root: "packages/bus",
          include: ["test/**/*.test.ts"],
          testTimeout: 30_000,
          hookTimeout: 30_000,
          env
        }
      },
      {
        ...sources,
        test: {
          name: "admin",
          root: "packages/admin",
          include: ["test/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          env
        }
      },
      {
        ...sources,
        test: { name: "cli", root: "packages/cli", include: ["test/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 60_000, env }
      },
      { ...sources, test: { name: "examples", root: "examples", include: ["**/*.test.ts"], testTimeout: 30_000, env } },
      // The built packages installed outside the workspace (no source condition: it tests dist).
      { test: { name: "install", root: "test/install", include: ["*.test.ts"], testTimeout: 120_000 } }
    ]
  }
})
