/**
 * The `hyvve` command as a user runs it (its `bin`, a child process) against an admin server over
 * the bus on the real Redis: stats and DLQ commands in text and JSON, the role and token errors,
 * a server that is not there, and `tail` printing events as they are published.
 */
import { execFile, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { ApprovalApproved } from "@hyvve/schema"
import { Dlq, Publisher } from "@hyvve/bus"
import { Effect, Ref } from "effect"
import * as Fixture from "../../admin/test/fixtures/AdminFixture.ts"

const bin = fileURLToPath(new URL("../bin/hyvve.js", import.meta.url))

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const hyvve = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.promise(
    () =>
      new Promise<Run>((resolve) => {
        execFile(
          process.execPath,
          [bin, ...args],
          { env: { ...process.env, ...env }, timeout: 30_000 },
          (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
        )
      })
  )

const as = (token: string) =>
  Effect.map(Fixture.Server, (server) => ({ HYVVE_ADMIN_URL: server.url, HYVVE_ADMIN_TOKEN: token }))

layer(Fixture.layer("cli"), { excludeTestServices: true, timeout: "60 seconds" })("hyvve", (it) => {
  // Each run starts a Node process (about 1-2 s on a busy machine), so the cases share runs.
  it.effect("stats, dlq list/show/retry/delete/purge in text and JSON; roles, tokens and an absent server as clear errors", () =>
    Effect.gen(function*() {
      yield* Fixture.seed([{ notes: "one", tenantId: "ws_a" }, { notes: "two", tenantId: "ws_b" }])
      const entries = (yield* Dlq.Dlq.use((dlq) => dlq.list())).entries
      const viewer = yield* as(Fixture.tokens.viewer)
      const admin = yield* as(Fixture.tokens.admin)

      const [stats, list, show, refused, down, badToken, badId] = yield* Effect.all(
        [
          hyvve(["stats"], viewer),
          hyvve(["dlq", "list", "--tenant", "ws_b", "--json"], viewer),
          hyvve(["dlq", "show", entries[0]!.id], viewer),
          hyvve(["dlq", "retry", entries[0]!.id], viewer),
          hyvve(["stats", "--url", "http://127.0.0.1:9", "--token", "whatever-token"]),
          hyvve(["dlq", "list"], yield* as("not-a-known-token")),
          hyvve(["dlq", "show", "not-an-id"], admin)
        ],
        { concurrency: 2 }
      )
      assert.strictEqual(stats.code, 0, stats.stderr)
      assert.include(stats.stdout, "stream ")
      assert.include(stats.stdout, ": 2 entries")
      assert.include(stats.stdout, "dlq: 2 of 10 (20.0 %)")
      assert.include(stats.stdout, Fixture.group)

      assert.strictEqual(list.code, 0, list.stderr)
      assert.deepStrictEqual(JSON.parse(list.stdout).entries.map((e: { id: string }) => e.id), [entries[1]!.id])

      assert.strictEqual(show.code, 0, show.stderr)
      assert.include(show.stdout, "decodes against the current schema")
      assert.include(show.stdout, "NonRetryable: rejected <b>one</b>")

      assert.strictEqual(refused.code, 1)
      assert.include(refused.stderr, "not allowed (403)")
      assert.strictEqual(down.code, 1)
      assert.include(down.stderr, "cannot reach the admin API at http://127.0.0.1:9")
      assert.strictEqual(badToken.code, 1)
      assert.include(badToken.stderr, "refused the token (401)")
      assert.strictEqual(badId.code, 1)
      assert.include(badId.stderr, "not-an-id")

      // An admin re-drives one (it reaches the handler), deletes the other, and a purge needs a filter.
      const handler = yield* Fixture.Handler
      yield* Ref.set(handler.failing, false)
      const [retried, deleted, unfiltered] = yield* Effect.all(
        [
          hyvve(["dlq", "retry", entries[0]!.id, "--json"], admin),
          hyvve(["dlq", "delete", entries[1]!.id], admin),
          hyvve(["dlq", "purge"], admin)
        ],
        { concurrency: 2 }
      )
      assert.strictEqual(retried.code, 0, retried.stderr)
      assert.isString(JSON.parse(retried.stdout).newEntryId)
      yield* Effect.gen(function*() {
        while (!(yield* Ref.get(handler.handled)).includes(entries[0]!.eventId!)) yield* Effect.sleep("50 millis")
      }).pipe(Effect.timeout("20 seconds"))
      assert.include(deleted.stdout, `${entries[1]!.id}: deleted`)
      assert.strictEqual(unfiltered.code, 1)
      assert.include(unfiltered.stderr, "all: true")
      assert.strictEqual(yield* Dlq.Dlq.use((dlq) => dlq.size), 0)
    }))

  it.effect("tail prints events as they are published, filtered by pattern", () =>
    Effect.gen(function*() {
      const env = yield* as(Fixture.tokens.admin)
      const child = spawn(process.execPath, [bin, "tail", "approval.*", "--count", "1", "--json"], {
        env: { ...process.env, ...env }
      })
      let stdout = ""
      child.stdout.on("data", (chunk) => (stdout += String(chunk)))
      // "close", not "exit": the last stdout chunk can arrive after "exit".
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
      let done = false
      void exited.then(() => (done = true))
      // The tail starts at the stream's end when it connects: publish until it prints one.
      for (let i = 0; i < 100 && !done; i++) {
        yield* Publisher.publish(
          ApprovalApproved,
          { approvalId: `apr_tail_${i}`, decidedById: "usr_1", decision: "approved", notes: "tail" },
          { tenantId: "ws_t", userId: "usr_1" }
        )
        yield* Effect.sleep("200 millis")
      }
      const code = yield* Effect.promise(() => exited)
      assert.strictEqual(code, 0)
      const event = JSON.parse(stdout.trim())
      assert.strictEqual(event.type, "approval.approved")
      assert.strictEqual(event.tenantId, "ws_t")
      assert.strictEqual(event.data.notes, "tail")
    }))
})
