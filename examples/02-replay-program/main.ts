/**
 * Replay as an Effect program: an analytics handler had a bug, it is fixed, and the approvals of
 * one workspace are replayed into its group only, with progress. Then the history of one event
 * and the trace of its correlation id, from the event store.
 *
 * Runs against REDIS_URL; with DATABASE_URL the event store is on (its own schema per run,
 * dropped at the end), without it the replay reads Redis only and keeps its job in Redis.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Consumer, EventBus, EventStore, Publisher, RedisStream, Replay } from "@hyvve/bus"
import { ApprovalApproved, ApprovalRequested } from "@hyvve/schema"
import { PgClient } from "@effect/sql-pg"
import { Console, Effect, Layer, Option, Redacted, References, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"

const prefix = `hyvve-replay-example-${process.pid}`
const schema = `hyvve_replay_example_${process.pid}`
const databaseUrl = process.env["DATABASE_URL"]

const program = Effect.gen(function*() {
  // 1. Analytics counts approvals per workspace. Version 1 counts ws_2's twice (the bug).
  const counts = new Map<string, number>()
  let replays = 0
  yield* Consumer.handle(ApprovalApproved, (event) =>
    Effect.sync(() => {
      if (event.replay !== undefined) replays++
      counts.set(event.tenantId, (counts.get(event.tenantId) ?? 0) + 1)
    }), { group: "analytics" })
  // Notifications must never re-send: they opt out of replays.
  let notified = 0
  yield* Consumer.handle(ApprovalApproved, () => Effect.sync(() => void notified++), { group: "notifications", replays: "skip" })

  // 2. Traffic: 300 approvals in three workspaces, each with its request.
  for (let i = 0; i < 300; i++) {
    const tenantId = `ws_${i % 3}`
    const context = { tenantId, userId: "usr_1", correlationId: `cor_${i}` }
    yield* Publisher.publish(ApprovalRequested, { approvalId: `apr_${i}`, workspaceId: tenantId, requestedById: "agt_1", kind: "content" }, context)
    yield* Publisher.publish(ApprovalApproved, { approvalId: `apr_${i}`, decidedById: "usr_7", decision: "approved" }, context)
  }
  while ((counts.get("ws_0") ?? 0) + (counts.get("ws_1") ?? 0) + (counts.get("ws_2") ?? 0) < 300 || notified < 300) {
    yield* Effect.sleep("50 millis")
  }
  yield* Console.log(`1. handled: analytics ${[...counts].map(([k, v]) => `${k}=${v}`).join(" ")}, notifications ${notified}`)

  // 3. The fix ships; ws_2's numbers are rebuilt: reset, then replay its approvals to analytics.
  counts.set("ws_2", 0)
  const jobId = yield* Replay.start({
    target: Replay.group("analytics"),
    types: [ApprovalApproved],
    tenantId: "ws_2",
    batchSize: 25,
    rate: 500,
    actor: "ops@example.com"
  })
  yield* Console.log(`2. replay ${jobId.slice(0, 12)}… started`)
  yield* Replay.progress(jobId, { interval: "100 millis" }).pipe(
    Stream.runForEach((p) =>
      Console.log(`   ${p.status.padEnd(9)} ${String(p.percent).padStart(5)} %  matched ${p.matched}  replayed ${p.replayed}`)
    )
  )
  while ((counts.get("ws_2") ?? 0) < 100) yield* Effect.sleep("50 millis")
  const job = yield* Replay.get(jobId)
  yield* Console.log(`3. ${job.status}: scanned ${job.scanned}, replayed ${job.replayed}; analytics ws_2=${counts.get("ws_2")} (${replays} marked as replays), notifications still ${notified}`)

  // 4. History, when the store is on.
  const store = yield* EventStore.EventStore
  if (store.backend === "none") {
    yield* Console.log("4. no DATABASE_URL: no event store (the job lived in Redis)")
    return
  }
  // The archiver and the status writer work off the hot path: give them a moment to land the
  // first approval of ws_2 and both groups' outcomes.
  const firstApproval = Effect.gen(function*() {
    const page = yield* store.events({ tenantId: "ws_2", types: [ApprovalApproved.type] }, { limit: 1 })
    const first = page.events[0]
    return first === undefined ? Option.none() : yield* store.event(first.id)
  })
  const stored = (detail: Option.Option<EventStore.EventDetail>) =>
    Option.isSome(detail) && detail.value.deliveries.length === 2 && detail.value.deliveries.every((d) => d.status === "COMPLETED")
  const detail = yield* firstApproval.pipe(
    Effect.repeat({ until: stored, schedule: Schedule.spaced("50 millis"), times: 200 })
  )
  if (Option.isNone(detail)) {
    yield* Console.log("4. the event store has not archived ws_2's approvals yet")
    return
  }
  const first = detail.value.event
  const deliveries = detail.value.deliveries.map((d) => `${d.group}:${d.status}×${d.attempts}`).join(", ")
  yield* Console.log(`4. event ${first.type} of ${first.tenantId}: ${deliveries}`)
  const trace = yield* store.trace(first.correlationId)
  yield* Console.log(`   trace ${first.correlationId}: ${trace.roots.map((r) => r.event.type).join(", ")}`)
  const audit = yield* store.auditLog({ subject: jobId })
  yield* Console.log(`   audit: ${audit.map((a) => `${a.action} by ${a.actor}`).join(", ")}`)
})

// --- composition ---------------------------------------------------------------------------

const redisUrl = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379"
const settings = { prefix, claimTimeout: "5 seconds", block: "500 millis" } as const

// The store's schema of this run is dropped at the end.
const DropSchema = databaseUrl === undefined ? Layer.empty : Layer.effectDiscard(
  Effect.addFinalizer(() =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(databaseUrl) })),
      Effect.ignore
    )
  )
)

// Removes this run's keys from Redis when the program ends.
const Cleanup = Layer.effectDiscard(
  Effect.addFinalizer(() =>
    RedisStream.RedisStream.use((redis) =>
      redis.deleteKeys(
        ["main", "main:replay-progress", "redeliver:analytics", "redeliver:notifications", "subscriptions", "replay:jobs", "replay:jobs:index"]
          .map((k) => `${prefix}:events:${k}`)
      )
    ).pipe(Effect.ignore)
  )
)

const BusLive = EventBus.layer({
  redis: RedisStream.options(redisUrl, "hyvve-replay-example"),
  bus: settings,
  store: databaseUrl === undefined ? EventStore.layerNone : EventStore.layerPg({ url: databaseUrl, schema })
})

program.pipe(
  Effect.scoped,
  Effect.provide(Cleanup.pipe(Layer.provideMerge(BusLive), Layer.provideMerge(DropSchema))),
  Effect.provideService(References.MinimumLogLevel, "Error"),
  NodeRuntime.runMain
)
