/**
 * Runs the demo (`npm run demo`'s program) as a user would, against the real Redis and against
 * the in-memory fallback, and checks what it prints: the main job must never silently break.
 */
import { execFile, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const main = fileURLToPath(new URL("./main.ts", import.meta.url))

const runDemo = (env: Record<string, string>) =>
  Effect.callback<string, Error>((resume) => {
    const child = execFile(process.execPath, [main], { env: { ...process.env, HYVVE_ADMIN_PORT: "0", ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
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
  assert.include(out, "5. replay: the approvals again, to analytics only")
  assert.include(out, "completed: scanned 6, matched 2, replayed 2, failed 0; analytics now 8")
  // It ends by saying where the dashboard is, with the token to use.
  const lines = out.trim().split("\n")
  assert.match(lines[lines.length - 4]!, /^6\. dashboard: http:\/\/127\.0\.0\.1:\d+\/admin#token=[0-9a-f]{24}$/)
  assert.include(lines[lines.length - 1]!, "npm run demo -- --serve")
}

describe("npm run demo", () => {
  it.live("--serve keeps the page up with live traffic until SIGTERM, then stops cleanly", () =>
    Effect.gen(function*() {
      const child = spawn(process.execPath, [main, "--serve"], {
        env: { ...process.env, HYVVE_ADMIN_PORT: "0", REDIS_URL: process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379" }
      })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (chunk) => (stdout += String(chunk)))
      child.stderr.on("data", (chunk) => (stderr += String(chunk)))
      // "close", not "exit": the last stdout chunk can arrive after "exit".
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      const dashboard = yield* Effect.promise(async () => {
        for (let i = 0; i < 600 && !stdout.includes("serving with live traffic"); i++) await new Promise((r) => setTimeout(r, 50))
        const match = /dashboard: (http:\/\/[^/]+)\/admin#token=([0-9a-f]+)/.exec(stdout)
        if (match === null) throw new Error(`no dashboard line\n${stdout}\n${stderr}`)
        return { url: match[1]!, token: match[2]! }
      })
      const length = () =>
        fetch(`${dashboard.url}/admin/events/stats`, { headers: { authorization: `Bearer ${dashboard.token}` } })
          .then((r) => r.json() as Promise<{ stream: { length: number } }>)
          .then((stats) => stats.stream.length)
      // Live traffic: the stream grows past the scenario's six events.
      yield* Effect.promise(async () => {
        for (let i = 0; i < 300; i++) {
          if ((await length()) > 8) return
          await new Promise((r) => setTimeout(r, 100))
        }
        throw new Error("no live traffic")
      })
      assert.strictEqual((yield* Effect.promise(() => fetch(`${dashboard.url}/admin`))).status, 200)
      child.kill("SIGTERM")
      // Interrupted by the signal (130, as Effect's runMain reports it) after the finalizers ran.
      assert.strictEqual(yield* Effect.promise(() => exited), 130, stderr)
      assert.include(stdout, "stopped: the server is closed and this run's keys are deleted")
      assert.strictEqual(stderr, "")
      // The server is gone with it.
      const after = yield* Effect.promise(() => fetch(`${dashboard.url}/health/events`).then(() => "up", () => "down"))
      assert.strictEqual(after, "down")
    }), { timeout: 60_000 })

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
