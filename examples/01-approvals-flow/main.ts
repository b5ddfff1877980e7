/**
 * @title The approvals flow, end to end
 *
 * An ApprovalsService publishes approval.requested / .approved / .rejected. A notification
 * handler listens on `approval.*`, analytics on `**`, a flaky CRM sync recovers through retries,
 * and a broken audit exporter dead-letters its event, which an operator re-drives once fixed.
 * Runs against REDIS_URL, or the in-memory backend (with a one-line notice) when none answers.
 */
import { Consumer, Dlq, EventBus, Health, Publisher, RedisStream, Retry } from "@hyvve/bus"
import { ApprovalApproved, ApprovalRejected, ApprovalRequested } from "@hyvve/schema/catalog/Approval"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Context, Effect, Layer, Ref, References, Schedule } from "effect"

// --- the application's own service ---------------------------------------------------------

class ApprovalsService extends Context.Service<ApprovalsService, {
  readonly request: (approvalId: string, title: string) => Effect.Effect<string, Publisher.PublishError>
  readonly decide: (
    approvalId: string,
    decision: "approved" | "rejected",
    notes?: string
  ) => Effect.Effect<string, Publisher.PublishError>
}>()("examples/ApprovalsService") {
  static readonly layer = Layer.effect(
    ApprovalsService,
    Effect.gen(function*() {
      const publisher = yield* Publisher.Publisher
      // Every event of one approval shares its correlation id, so "what happened to apr_1" is
      // one query later on.
      const context = (approvalId: string) => ({ tenantId: "ws_acme", userId: "usr_reviewer", correlationId: approvalId })
      return ApprovalsService.of({
        request: (approvalId, title) =>
          publisher.publish(
            ApprovalRequested,
            { approvalId, workspaceId: "ws_acme", requestedById: "agt_content", kind: "content", title },
            context(approvalId)
          ),
        decide: (approvalId, decision, notes) =>
          publisher.publish(
            decision === "approved" ? ApprovalApproved : ApprovalRejected,
            { approvalId, decidedById: "usr_reviewer", decision, ...(notes === undefined ? {} : { notes }) },
            context(approvalId)
          )
      })
    })
  )
}

// --- what the demo observes ----------------------------------------------------------------

interface Tally {
  readonly notified: number
  readonly analytics: number
  readonly crmAttempts: number
  readonly crmSynced: number
  readonly audited: number
}

class Observed extends Context.Service<Observed, Ref.Ref<Tally>>()("examples/Observed") {
  static readonly layer = Layer.effect(
    Observed,
    Ref.make<Tally>({ notified: 0, analytics: 0, crmAttempts: 0, crmSynced: 0, audited: 0 })
  )
}

// The audit exporter is "broken" until an operator fixes it (flips this flag).
class AuditExporterFixed extends Context.Service<AuditExporterFixed, Ref.Ref<boolean>>()("examples/AuditFixed") {
  static readonly layer = Layer.effect(AuditExporterFixed, Ref.make(false))
}

// --- handlers ------------------------------------------------------------------------------

const Handlers = Layer.effectDiscard(
  Effect.gen(function*() {
    const tally = yield* Observed
    const fixed = yield* AuditExporterFixed
    const bump = (f: (t: Tally) => Tally) => Ref.update(tally, f)

    // One group per concern: a failing CRM sync never re-runs the notifications.
    yield* Consumer.handle("approval.*", (event) =>
      Effect.gen(function*() {
        yield* bump((t) => ({ ...t, notified: t.notified + 1 }))
        yield* Console.log(`  notify    ${event.type.padEnd(20)} ${event.data.approvalId}`)
      }), { group: "notifications" })

    yield* Consumer.handle("**", () => bump((t) => ({ ...t, analytics: t.analytics + 1 })), {
      group: "analytics",
      concurrency: 16
    })

    // Flaky: the CRM answers on the third try. Short delays so the demo is quick; production
    // keeps the default 1 min / 5 min / 30 min.
    yield* Consumer.handle(ApprovalApproved, (event, info) =>
      Effect.gen(function*() {
        yield* bump((t) => ({ ...t, crmAttempts: t.crmAttempts + 1 }))
        if (info.attempt < 3) {
          yield* Console.log(`  crm-sync  attempt ${info.attempt} for ${event.data.approvalId} failed (CRM timeout)`)
          return yield* Effect.fail(new Error("CRM timeout"))
        }
        yield* Console.log(`  crm-sync  attempt ${info.attempt} for ${event.data.approvalId} succeeded`)
        yield* bump((t) => ({ ...t, crmSynced: t.crmSynced + 1 }))
      }), { group: "crm-sync", retry: Retry.delays(["200 millis", "400 millis", "800 millis"]) })

    // Broken: a bad mapping that no retry can fix, so it dead-letters at once.
    yield* Consumer.handle(ApprovalRejected, (event) =>
      Effect.gen(function*() {
        if (!(yield* Ref.get(fixed))) {
          return yield* new Retry.NonRetryable({ message: "audit mapping has no field for rejection notes" })
        }
        yield* Console.log(`  audit     exported ${event.data.approvalId} after the fix`)
        yield* bump((t) => ({ ...t, audited: t.audited + 1 }))
      }), { group: "audit-export" })
  })
)

// --- the scenario --------------------------------------------------------------------------

const waitFor = <A, E>(label: string, read: Effect.Effect<A, E>, done: (a: A) => boolean) =>
  read.pipe(
    Effect.repeat({ until: done, schedule: Schedule.spaced("50 millis") }),
    Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die(new Error(`timed out waiting for ${label}`)) })
  )

const scenario = Effect.gen(function*() {
  const approvals = yield* ApprovalsService
  const tally = yield* Observed
  const fixed = yield* AuditExporterFixed
  const dlq = yield* Dlq.Dlq

  yield* Console.log("1. three approvals requested, two approved, one rejected")
  for (const [id, title] of [["apr_1", "Launch post"], ["apr_2", "Pricing page"], ["apr_3", "Partner email"]]) {
    yield* approvals.request(id!, title!)
  }
  yield* approvals.decide("apr_1", "approved")
  yield* approvals.decide("apr_2", "approved", "ship it")
  yield* approvals.decide("apr_3", "rejected", "tone is off")

  yield* waitFor("handlers", Ref.get(tally), (t) => t.notified === 6 && t.analytics === 6 && t.crmSynced === 2)
  const page = yield* waitFor("the DLQ entry", dlq.list(), (p) => p.entries.length === 1)
  const entry = page.entries[0]!

  yield* Console.log("2. the audit exporter dead-lettered its event:")
  yield* Console.log(`  dlq       ${entry.type} group=${entry.group} attempts=${entry.attempts} error="${entry.error.message}"`)

  yield* Console.log("3. the exporter is fixed; the operator re-drives the DLQ entry to its group only")
  yield* Ref.set(fixed, true)
  yield* dlq.retry(entry.id)
  yield* waitFor("the re-driven event", Ref.get(tally), (t) => t.audited === 1)

  const final = yield* Ref.get(tally)
  const health = yield* Health.check
  yield* Console.log("4. summary")
  yield* Console.log(`  notifications ${final.notified}, analytics ${final.analytics}, crm attempts ${final.crmAttempts} (synced ${final.crmSynced}), audited ${final.audited}`)
  yield* Console.log(`  dlq size ${yield* dlq.size}, healthy ${health.healthy}, main stream length ${health.stream.length}`)
})

// --- composition ---------------------------------------------------------------------------

// A prefix of its own per run, so the demo never mixes with earlier runs or real data.
const settings = {
  prefix: `hyvve-demo-${process.pid}`,
  claimTimeout: "5 seconds",
  retryPoll: "100 millis",
  block: "1 second"
} as const

const BusLive = EventBus.layer({ redis: RedisStream.options(process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379", "hyvve-demo"), bus: settings }).pipe(
  Layer.tap(() => Console.log(`bus: Redis at ${process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379"} (prefix ${settings.prefix})`)),
  Layer.catch(() =>
    Layer.effectDiscard(Console.log("bus: no Redis reachable, using the in-memory backend")).pipe(
      Layer.provideMerge(EventBus.layerMemory(settings))
    )
  )
)

// Removes this run's keys from Redis when the app stops.
const Cleanup = Layer.effectDiscard(
  Effect.addFinalizer(() =>
    RedisStream.RedisStream.use((redis) =>
      redis.deleteKeys(
        ["main", "dlq", "redeliver:notifications", "redeliver:analytics", "redeliver:crm-sync", "redeliver:audit-export"]
          .map((k) => `${settings.prefix}:events:${k}`)
          .flatMap((k) => [k, `${k}:retry:crm-sync`, `${k}:failures:crm-sync`, `${k}:retry:audit-export`, `${k}:failures:audit-export`])
      )
    ).pipe(Effect.ignore)
  )
)

const AppLive = Layer.mergeAll(ApprovalsService.layer, Handlers).pipe(
  Layer.provideMerge(Layer.mergeAll(Observed.layer, AuditExporterFixed.layer)),
  Layer.provideMerge(Cleanup),
  Layer.provideMerge(BusLive)
)

// The bus logs retries and dead-letters as structured lines; the demo narrates them itself, so
// only errors are logged here (run with a lower level to see the bus's own lines).
scenario.pipe(
  Effect.provide(AppLive),
  Effect.provideService(References.MinimumLogLevel, "Error"),
  NodeRuntime.runMain
)
