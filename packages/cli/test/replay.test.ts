/**
 * `hyvve replay …`, `hyvve trace` and `hyvve event` as a user runs them (the `bin`, a child
 * process; on a pseudo-terminal from `script` for the progress bar) against an admin server over
 * the bus on the real Redis with its event store on the real PostgreSQL; and the store routes'
 * error from a server without a store.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { AdminApi } from "@hyvve/admin"
import { EventStore, Publisher } from "@hyvve/bus"
import { ApprovalApproved, ApprovalRequested } from "@hyvve/schema"
import { Effect, Ref } from "effect"
import * as PgStore from "../../bus/test/fixtures/PgStore.ts"
import * as Fixture from "../../admin/test/fixtures/AdminFixture.ts"
import { bar, parseTime, treeText } from "../src/Cli.ts"

const bin = fileURLToPath(new URL("../bin/hyvve.js", import.meta.url))

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const exec = (file: string, args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.promise(
    () =>
      new Promise<Run>((resolve) => {
        execFile(file, args, { env: { ...process.env, ...env }, timeout: 45_000 }, (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }))
      })
  )

const hyvve = (args: ReadonlyArray<string>, env: Record<string, string>) => exec(process.execPath, [bin, ...args], env)

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`

/** Runs the command on a pseudo-terminal (util-linux `script`), as a user at a terminal does. */
const onTerminal = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  exec("script", ["-qefc", [process.execPath, bin, ...args].map(quote).join(" "), "/dev/null"], env)

const as = (token: string) =>
  Effect.map(Fixture.Server, (server) => ({ HYVVE_ADMIN_URL: server.url, HYVVE_ADMIN_TOKEN: token }))

layer(Fixture.layer("cli-replay", { store: PgStore.layer("cli") }), { excludeTestServices: true, timeout: "120 seconds" })(
  "hyvve replay, trace, event",
  (it) => {
    it.effect("replay start follows the job (plain lines off a terminal, a bar on one, JSON for scripts); status, list, cancel, resume", () =>
      Effect.gen(function*() {
        const handler = yield* Fixture.Handler
        yield* Ref.set(handler.failing, false)
        for (const tenantId of ["ws_a", "ws_b", "ws_a"]) {
          yield* Publisher.publish(
            ApprovalApproved,
            { approvalId: `apr_${tenantId}`, decidedById: "usr_1", decision: "approved" },
            { tenantId, userId: "usr_1" }
          )
        }
        yield* Fixture.waitUntil("three events handled", Effect.map(Ref.get(handler.handled), (ids) => ids.length === 3), "20 seconds")
        const admin = yield* as(Fixture.tokens.admin)

        const [plain, json, terminal] = yield* Effect.all(
          [
            hyvve(["replay", "start", "--group", Fixture.group, "--type", "approval.approved", "--tenant", "ws_a", "--batch-size", "1"], admin),
            hyvve(["replay", "start", "--group", Fixture.group, "--from", "1h", "--json"], admin),
            onTerminal(["replay", "start", "--group", Fixture.group, "--batch-size", "1"], admin)
          ],
          { concurrency: 3 }
        )
        assert.strictEqual(plain.code, 0, plain.stderr)
        const lines = plain.stdout.trim().split("\n")
        assert.match(lines[0]!, /^replay rpl_[0-9a-f-]{36} started$/)
        assert.match(lines[lines.length - 2]!, /^completed\s+100\.0 % {2}scanned \d+ {2}matched 2 {2}replayed 2 {2}failed 0$/)
        assert.match(lines[lines.length - 1]!, /^replay rpl_\S+ completed: scanned \d+, matched 2, replayed 2, failed 0$/)
        assert.notInclude(plain.stdout, "\r")

        assert.strictEqual(json.code, 0, json.stderr)
        const final = JSON.parse(json.stdout)
        assert.deepInclude(final.job, { status: "completed", matched: 3, replayed: 3 })
        assert.strictEqual(final.progress.percent, 100)

        assert.strictEqual(terminal.code, 0, terminal.stderr + terminal.stdout)
        assert.include(terminal.stdout, "\r")
        assert.include(terminal.stdout, `${bar(100)} completed`)

        // 3 replays of 2, 3 and 3 events (3 originals before).
        yield* Fixture.waitUntil("the replayed events handled", Effect.map(Ref.get(handler.handled), (ids) => ids.length === 11), "20 seconds")
      }), 150_000)

    it.effect("replay status, list (tenant-scoped), cancel and resume of a slow job, and bad input as one line", () =>
      Effect.gen(function*() {
        const handler = yield* Fixture.Handler
        const admin = yield* as(Fixture.tokens.admin)
        const jobs = yield* hyvve(["replay", "list", "--json"], admin)
        const final = JSON.parse(jobs.stdout).find((v: { job: { matched: number } }) => v.job.matched === 3)
        const jobId = final.job.id as string
        const [status, list, tenantList] = yield* Effect.all(
          [
            hyvve(["replay", "status", jobId], yield* as(Fixture.tokens.viewer)),
            hyvve(["replay", "list", "--json"], admin),
            hyvve(["replay", "list", "--json"], yield* as(Fixture.tokens.tenantViewer))
          ],
          { concurrency: 3 }
        )
        assert.strictEqual(status.code, 0, status.stderr)
        assert.include(status.stdout, `replay ${jobId} completed: scanned`)
        assert.strictEqual(JSON.parse(list.stdout).length, 3)
        assert.deepStrictEqual(JSON.parse(tenantList.stdout).map((v: { job: { tenantId: string } }) => v.job.tenantId), ["ws_a"])

        // A slow job (one event a second), cancelled after its first, then resumed to its end.
        const slow = yield* hyvve(["replay", "start", "--group", Fixture.group, "--batch-size", "1", "--rate", "1", "--detach", "--json"], admin)
        assert.strictEqual(slow.code, 0, slow.stderr)
        const slowId = JSON.parse(slow.stdout).job.id as string
        const store = yield* EventStore.EventStore
        assert.strictEqual(store.backend, "postgres")
        yield* Fixture.waitUntil(
          "the slow replay replayed one event",
          Effect.map(Ref.get(handler.handled), (ids) => ids.length >= 12),
          "20 seconds"
        )
        const [cancel, viewerCancel] = yield* Effect.all(
          [hyvve(["replay", "cancel", slowId], admin), hyvve(["replay", "cancel", slowId], yield* as(Fixture.tokens.viewer))],
          { concurrency: 2 }
        )
        assert.strictEqual(cancel.code, 0, cancel.stderr)
        assert.match(cancel.stdout, new RegExp(`^replay ${slowId} (cancelled|completed):`))
        assert.strictEqual(viewerCancel.code, 1)
        assert.include(viewerCancel.stderr, "not allowed (403)")
        if (cancel.stdout.includes("cancelled")) {
          const resume = yield* hyvve(["replay", "resume", slowId], admin)
          assert.strictEqual(resume.code, 0, resume.stderr)
          assert.include(resume.stdout, `replay ${slowId} resumed from `)
          assert.include(resume.stdout, `replay ${slowId} completed:`)
        }
        const again = yield* hyvve(["replay", "resume", slowId], admin)
        assert.strictEqual(again.code, 1)
        assert.include(again.stderr, "conflict (409)")

        const [badTime, badGroup] = yield* Effect.all(
          [hyvve(["replay", "start", "--from", "yesterday-ish"], admin), hyvve(["replay", "start", "--group", "nope"], admin)],
          { concurrency: 2 }
        )
        assert.strictEqual(badTime.code, 1)
        assert.include(badTime.stderr, `--from "yesterday-ish"`)
        assert.strictEqual(badGroup.code, 1)
        assert.include(badGroup.stderr, `no group "nope"`)
      }), 150_000)

    it.effect("trace prints the causation tree and event the deliveries, from the store", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const context = { tenantId: "ws_t", userId: "usr_1", correlationId: "cor_cli" }
        yield* Publisher.publish(
          ApprovalRequested,
          { approvalId: "apr_t", workspaceId: "ws_t", requestedById: "agt_1", kind: "content", title: "<b>\u001b[31mred" },
          context
        )
        const id = yield* Publisher.publish(ApprovalApproved, { approvalId: "apr_t", decidedById: "usr_1", decision: "approved" }, context)
        yield* Fixture.waitUntil(
          "the approval's delivery stored",
          Effect.map(store.event(id), (found) => found._tag === "Some" && found.value.deliveries.some((d) => d.status === "COMPLETED")),
          "20 seconds"
        )
        const viewer = yield* as(Fixture.tokens.viewer)
        const [trace, event, other] = yield* Effect.all(
          [
            hyvve(["trace", "cor_cli"], viewer),
            hyvve(["event", id], viewer),
            hyvve(["event", id], yield* as(Fixture.tokens.tenantViewer))
          ],
          { concurrency: 3 }
        )
        assert.strictEqual(trace.code, 0, trace.stderr)
        const lines = trace.stdout.trim().split("\n")
        assert.strictEqual(lines[0], "cor_cli (2 events)")
        assert.match(lines[1]!, /^├─ approval\.requested {2}\S+ {2}tenant ws_t {2}/)
        assert.match(lines[2]!, new RegExp(`^└─ approval\\.approved  ${id}  tenant ws_t  .*\\[${Fixture.group}: COMPLETED\\]$`))
        assert.strictEqual(event.code, 0, event.stderr)
        assert.include(event.stdout, `approval.approved v1.0  ${id}  tenant ws_t`)
        assert.match(event.stdout, new RegExp(`${Fixture.group}\\s+COMPLETED\\s+1`))
        assert.strictEqual(other.code, 1)
        assert.include(other.stderr, "not allowed (403)")
        // Terminal control characters from an event are printed escaped.
        const requested = yield* hyvve(["trace", "cor_cli", "--json"], viewer)
        assert.include(JSON.parse(requested.stdout).roots[0].event.data.title, "<b>")
        assert.notInclude(trace.stdout, "\u001b")
      }), 120_000)
  }
)

layer(Fixture.layer("cli-nostore"), { excludeTestServices: true, timeout: "60 seconds" })("without an event store", (it) => {
  it.effect("trace and event say the server has no store; replay still runs from Redis", () =>
    Effect.gen(function*() {
      const admin = yield* as(Fixture.tokens.admin)
      const [trace, event, replay] = yield* Effect.all(
        [hyvve(["trace", "cor_1"], admin), hyvve(["event", "evt_1"], admin), hyvve(["replay", "start", "--from", "0", "--to", "1"], admin)],
        { concurrency: 3 }
      )
      assert.strictEqual(trace.code, 1)
      assert.include(trace.stderr, "no event store (503)")
      assert.include(trace.stderr, "DATABASE_URL")
      assert.strictEqual(event.code, 1)
      assert.include(event.stderr, "no event store (503)")
      assert.strictEqual(replay.code, 0, replay.stderr)
      assert.include(replay.stdout, "completed: scanned 0, matched 0, replayed 0, failed 0")
    }), 120_000)

  it.effect("times parse as ISO dates, epoch ms and spans ago; the bar fills with the percent", () =>
    Effect.gen(function*() {
      const now = Date.parse("2026-01-02T00:00:00Z")
      assert.strictEqual(yield* parseTime("from", "2h", now), now - 7_200_000)
      assert.strictEqual(yield* parseTime("from", "1700000000000", now), 1_700_000_000_000)
      assert.strictEqual(yield* parseTime("from", "2026-01-01T00:00:00Z", now), now - 86_400_000)
      assert.strictEqual((yield* parseTime("to", "soon", now).pipe(Effect.flip))._tag, "CliFailure")
      assert.strictEqual(bar(50, 10), "[#####-----]")
      assert.strictEqual(bar(0, 4), "[----]")
      assert.strictEqual(treeText(new AdminApi.Trace({ correlationId: "c", size: 0, roots: [] })), "c (0 events)")
    }))
})
