/**
 * Runs the demo (`npm run demo`'s program) as a user would, against the real Redis and against
 * the in-memory fallback, and checks what it prints: the main job must never silently break.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const main = fileURLToPath(new URL("./main.ts", import.meta.url))

const runDemo = (env: Record<string, string>) =>
  Effect.callback<string, Error>((resume) => {
    const child = execFile(process.execPath, [main], { env: { ...process.env, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resume(error === null ? Effect.succeed(stdout) : Effect.fail(new Error(`${error.message}\n${stdout}\n${stderr}`)))
    })
    return Effect.sync(() => child.kill())
  })

const expectStory = (out: string) => {
  assert.include(out, "crm-sync  attempt 3 for apr_1 succeeded")
  assert.include(out, "crm-sync  attempt 3 for apr_2 succeeded")
  assert.include(out, 'dlq       approval.rejected group=audit-export attempts=1 error="audit mapping has no field for rejection notes"')
  assert.include(out, "audit     exported apr_3 after the fix")
  assert.include(out, "notifications 6, analytics 6, crm attempts 6 (synced 2), audited 1")
  assert.include(out, "dlq size 0, healthy true, main stream length 6")
}

describe("npm run demo", () => {
  it.live("tells the whole approvals story against Redis", () =>
    Effect.gen(function*() {
      const out = yield* runDemo({ REDIS_URL: process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379" })
      assert.match(out, /^bus: Redis at /)
      expectStory(out)
    }), { timeout: 40_000 })

  it.live("falls back to the in-memory backend with a one-line notice when no Redis answers", () =>
    Effect.gen(function*() {
      const out = yield* runDemo({ REDIS_URL: "redis://127.0.0.1:1" })
      assert.match(out, /^bus: no Redis reachable, using the in-memory backend\n/)
      expectStory(out)
    }), { timeout: 40_000 })
})
