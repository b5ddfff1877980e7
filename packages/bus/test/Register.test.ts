/**
 * `Consumer.Register` is global to a TypeScript program, so the application that registers its
 * events (`typecheck/register/app.ts`) is checked by its own `tsc` run: its `@ts-expect-error`
 * lines prove what does not compile, and everything else must.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"

const project = fileURLToPath(new URL("../typecheck/register/tsconfig.json", import.meta.url))
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")

describe("Consumer.Register", () => {
  it.live("an application's registered events type-check without a catalog option on each call", () =>
    Effect.gen(function*() {
      const result = yield* Effect.callback<{ readonly code: number; readonly output: string }>((resume) => {
        execFile(process.execPath, [tsc, "-p", project], (error, stdout, stderr) => {
          resume(Effect.succeed({ code: error === null ? 0 : (error.code === undefined ? 1 : Number(error.code)), output: stdout + stderr }))
        })
      })
      assert.strictEqual(result.output, "", "tsc reports nothing")
      assert.strictEqual(result.code, 0)
    }), { timeout: 120_000 })
})
