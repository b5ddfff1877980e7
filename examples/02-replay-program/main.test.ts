/**
 * Runs the replay example as a user would, against the real Redis with the event store on the
 * tests' database, and checks what it prints.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const main = fileURLToPath(new URL("./main.ts", import.meta.url))

const run = (env: Record<string, string>) =>
  Effect.callback<string, Error>((resume) => {
    const child = execFile(process.execPath, [main], { env: { ...process.env, ...env }, timeout: 40_000 }, (error, stdout, stderr) => {
      resume(error === null ? Effect.succeed(stdout) : Effect.fail(new Error(`${error.message}\n${stdout}\n${stderr}`)))
    })
    return Effect.sync(() => child.kill())
  })

describe("examples/02-replay-program", () => {
  it.live("replays one workspace's approvals to analytics only, with progress, history and audit", () =>
    Effect.gen(function*() {
      const out = yield* run({
        REDIS_URL: process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379",
        DATABASE_URL: process.env["TEST_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/hyvve_test"
      })
      assert.include(out, "1. handled: analytics ws_0=100 ws_1=100 ws_2=100, notifications 300")
      assert.include(out, "3. completed: scanned 600, replayed 100; analytics ws_2=100 (100 marked as replays), notifications still 300")
      assert.match(out, /completed\s+100 %\s+matched 100\s+replayed 100/)
      const percents = [...out.matchAll(/(?:running|completed)\s+([\d.]+) %/g)].map((m) => Number(m[1]))
      assert.deepStrictEqual(percents, [...percents].sort((a, b) => a - b), "progress is monotone")
      assert.include(out, "4. event approval.approved of ws_2: analytics:COMPLETED×1, notifications:COMPLETED×1")
      assert.include(out, "audit: replay.start by ops@example.com")
    }), { timeout: 60_000 })
})
