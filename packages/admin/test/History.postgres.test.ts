/**
 * The admin API over a bus with its event store on the real PostgreSQL (a schema of its own,
 * dropped at the end) and the real Redis: an event with its deliveries and a trace from the store,
 * confined to the principal's tenant; replays started, followed (server-sent progress), cancelled
 * and resumed through the typed client, reaching the handler; every mutating call in the store's
 * audit table with who, what, filters and counts.
 */
import { assert, layer } from "@effect/vitest"
import { EventStore, Publisher } from "@hyvve/bus"
import { ApprovalApproved, ApprovalRequested } from "@hyvve/schema"
import { Effect, Layer, Option, Ref, Stream } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import * as PgStore from "../../bus/test/fixtures/PgStore.ts"
import { AdminApi, Audit, Auth } from "../src/index.ts"
import * as Fixture from "./fixtures/AdminFixture.ts"

const client = (token: string) =>
  Effect.flatMap(Fixture.Server, (server) =>
    HttpApiClient.make(AdminApi.AdminApi, { baseUrl: server.url }).pipe(
      Effect.provide(Layer.mergeAll(Auth.layerClient(token), FetchHttpClient.layer))
    ))

const status = (token: string, path: string) =>
  Effect.flatMap(Fixture.Server, (server) =>
    Effect.promise(() => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status)))

/** Publishes a request and its approval under one correlation id per tenant; waits until archived and handled. */
const traffic = Effect.gen(function*() {
  const handler = yield* Fixture.Handler
  yield* Ref.set(handler.failing, false)
  const store = yield* EventStore.EventStore
  const ids: Array<string> = []
  const published: Array<string> = []
  for (const tenantId of ["ws_a", "ws_b", "ws_a"]) {
    const context = { tenantId, userId: "usr_1", correlationId: "cor_shared" }
    published.push(
      yield* Publisher.publish(
        ApprovalRequested,
        { approvalId: `apr_${tenantId}`, workspaceId: tenantId, requestedById: "agt_1", kind: "content" },
        context
      )
    )
    ids.push(
      yield* Publisher.publish(ApprovalApproved, { approvalId: `apr_${tenantId}`, decidedById: "usr_1", decision: "approved" }, context)
    )
  }
  published.push(...ids)
  // The status writer and the archiver are independent: wait for the deliveries and for every event's row.
  const archived = Effect.map(
    Effect.forEach(published, (id) => store.event(id)),
    (found) => found.every(Option.isSome)
  )
  yield* Fixture.waitUntil(
    "the approvals handled, their deliveries stored and all six events archived",
    Effect.zipWith(
      store.statusCounts(Fixture.group),
      archived,
      (counts, all) => counts.find((c) => c.status === "COMPLETED")?.count === 3 && all
    ),
    "20 seconds"
  )
  return ids
})

layer(Fixture.layer("store", { store: PgStore.layer("admin") }), { excludeTestServices: true, timeout: "90 seconds" })(
  "admin API with the event store",
  (it) => {
    it.effect("an event with its deliveries and a trace, confined to the tenant; 404 for an unknown id", () =>
      Effect.gen(function*() {
        const [a, b] = yield* traffic
        const viewer = yield* client(Fixture.tokens.viewer)
        const detail = yield* viewer.history.event({ params: { id: a! } })
        assert.strictEqual(detail.event.tenantId, "ws_a")
        assert.deepStrictEqual(detail.deliveries.map((d) => [d.group, d.status, d.attempts]), [[Fixture.group, "COMPLETED", 1]])

        const tenant = yield* client(Fixture.tokens.tenantViewer)
        assert.strictEqual((yield* tenant.history.event({ params: { id: a! } })).event.id, a)
        assert.strictEqual((yield* tenant.history.event({ params: { id: b! } }).pipe(Effect.flip))._tag, "Forbidden")
        assert.strictEqual((yield* viewer.history.event({ params: { id: "evt_nothing" } }).pipe(Effect.flip))._tag, "NotFound")

        const trace = yield* viewer.history.trace({ params: { correlationId: "cor_shared" } })
        assert.strictEqual(trace.size, 6)
        const scoped = yield* tenant.history.trace({ params: { correlationId: "cor_shared" } })
        assert.strictEqual(scoped.size, 4)
        assert.isTrue(scoped.roots.every((node) => node.event.tenantId === "ws_a"))
        assert.strictEqual((yield* viewer.history.trace({ params: { correlationId: "cor_none" } }).pipe(Effect.flip))._tag, "NotFound")

        // The auth rows of the history routes, with a store: 401, and the tenant's 403.
        const expectations: ReadonlyArray<readonly [string, string, number]> = [
          [Fixture.tokens.viewer, `/admin/events/${b}`, 200],
          [Fixture.tokens.tenantAdmin, `/admin/events/${b}`, 403],
          [Fixture.tokens.tenantAdmin, `/admin/events/${a}`, 200],
          ["not-a-known-token", `/admin/events/${a}`, 401],
          ["not-a-known-token", "/admin/events/trace/cor_shared", 401],
          [Fixture.tokens.tenantViewer, "/admin/events/trace/cor_shared", 200],
          [Fixture.tokens.owner, "/admin/events/trace/cor_shared", 200]
        ]
        for (const [token, path, expected] of expectations) assert.strictEqual(yield* status(token, path), expected, `${path}`)
      }))

    it.effect("a replay started through the API reaches the handler, its progress streams to 100 %, tenant-scoped", () =>
      Effect.gen(function*() {
        const handler = yield* Fixture.Handler
        const before = (yield* Ref.get(handler.handled)).length
        // A tenant-scoped admin asks for no tenant: its own is applied.
        const tenantAdmin = yield* client(Fixture.tokens.tenantAdmin)
        const started = yield* tenantAdmin.replay.start({
          payload: { group: Fixture.group, types: ["approval.approved"], batchSize: 1 }
        })
        assert.strictEqual(started.job.tenantId, "ws_a")
        assert.deepStrictEqual(started.job.target, { _tag: "Group", group: Fixture.group })
        const progress = yield* tenantAdmin.replay.progress({ params: { jobId: started.job.id } }).pipe(
          Effect.flatMap(Stream.runCollect)
        )
        const last = progress[progress.length - 1]!
        assert.deepInclude(last, { status: "completed", percent: 100, matched: 2, replayed: 2 })
        for (const [i, p] of progress.entries()) if (i > 0) assert.isAtLeast(p.percent, progress[i - 1]!.percent)
        yield* Fixture.waitUntil(
          "the replayed events handled",
          Effect.map(Ref.get(handler.handled), (ids) => ids.length === before + 2),
          "20 seconds"
        )

        // Another tenant's job is not theirs to see.
        const admin = yield* client(Fixture.tokens.admin)
        const other = yield* admin.replay.start({ payload: { tenant: "ws_b", from: 0, to: 1 } })
        assert.strictEqual((yield* tenantAdmin.replay.get({ params: { jobId: other.job.id } }).pipe(Effect.flip))._tag, "Forbidden")
        const listed = yield* tenantAdmin.replay.list({ query: {} })
        assert.isTrue(listed.some((view) => view.job.id === started.job.id))
        assert.isTrue(listed.every((view) => view.job.tenantId === "ws_a"))
        assert.isTrue((yield* admin.replay.list({ query: {} })).some((view) => view.job.id === other.job.id))
      }))

    it.effect("cancel stops a running replay after its batch and resume finishes it; every call is in the store's audit table", () =>
      Effect.gen(function*() {
        const admin = yield* client(Fixture.tokens.admin)
        // One event a second: running long enough to be cancelled mid-way.
        const started = yield* admin.replay.start({ payload: { group: Fixture.group, batchSize: 1, rate: 1 } })
        const jobId = started.job.id
        yield* Fixture.waitUntil(
          "the replay replayed its first event",
          Effect.map(admin.replay.get({ params: { jobId } }), (view) => view.job.replayed >= 1),
          "20 seconds"
        )
        const cancelled = yield* admin.replay.cancel({ params: { jobId } })
        assert.strictEqual(cancelled.job.status, "cancelled")
        assert.isBelow(cancelled.job.replayed, 6)
        assert.isBelow(cancelled.progress.percent, 100)

        const resumed = yield* admin.replay.resume({ params: { jobId } })
        assert.strictEqual(resumed.job.status, "running")
        const conflict = yield* admin.replay.resume({ params: { jobId } }).pipe(Effect.flip)
        assert.strictEqual(conflict._tag, "Conflict")
        yield* Fixture.waitUntil(
          "the resumed replay completed",
          Effect.map(admin.replay.get({ params: { jobId } }), (view) => view.job.status === "completed"),
          "30 seconds"
        )
        const done = yield* admin.replay.get({ params: { jobId } })
        assert.strictEqual(done.job.replayed, done.job.matched)
        assert.strictEqual(done.progress.percent, 100)

        // A purge with a filter, audited with its count.
        const purged = yield* admin.dlq.purge({ payload: { type: "nothing.matches" } })
        assert.strictEqual(purged.purged, 0)

        const store = yield* EventStore.EventStore
        const rows = yield* store.auditLog({ limit: 100 })
        const adminRow = (action: string, subject?: string) =>
          rows.find((row) =>
            row.action === action && (subject === undefined || row.subject === subject) &&
            typeof row.details === "object" && row.details !== null && "outcome" in row.details
          )
        const start = adminRow("replay.start")
        assert.isDefined(start)
        assert.match(start!.actor, /^(admin|owner):/)
        const outcomes = (action: string) =>
          rows.filter((row) => row.action === action && row.subject === jobId).flatMap((row) =>
            typeof row.details === "object" && row.details !== null && "outcome" in row.details ? [row.details.outcome] : []
          )
        assert.deepStrictEqual(outcomes("replay.cancel"), ["ok"])
        // Newest first: the refused second resume is recorded too.
        assert.deepStrictEqual(outcomes("replay.resume"), ["failed", "ok"])
        assert.deepInclude(adminRow("dlq.purge")!.details, { role: "admin", outcome: "ok", count: 0, filters: { type: "nothing.matches" } })
        // The tenant-scoped start of the previous test recorded the tenant it was confined to.
        const scoped = rows.find((row) => row.action === "replay.start" && JSON.stringify(row.details).includes(`"tenantId":"ws_a"`))
        assert.isDefined(scoped)
        // The replay's own rows (written by the bus) are there too, and `Audit.recent` reads the table.
        assert.isTrue(rows.some((row) => row.action === "replay.start" && row.subject.startsWith("rpl_")))
        const recent = yield* Audit.Audit.use((audit) => audit.recent(100))
        assert.isTrue(recent.some((record) => record.action === "dlq.purge" && record.count === 0 && record.role === "admin"))
        assert.isTrue(Option.isSome(Option.fromUndefinedOr(recent.find((r) => r.action === "replay.cancel" && r.target === jobId))))
      }))
  }
)
