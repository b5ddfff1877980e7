/**
 * @title The approvals flow, end to end
 *
 * An ApprovalsService publishes approval.requested / .approved / .rejected. A notification
 * handler listens on `approval.*`, analytics on `**`, a flaky CRM sync recovers through retries,
 * and a broken audit exporter dead-letters its event, which an operator re-drives once fixed.
 * Then analytics replays the approvals (a replay as an Effect program), and the demo prints where
 * its monitoring page is (the admin server runs beside the bus, with a token of this run).
 * `--serve` keeps it running with live traffic until Ctrl-C (SIGINT or SIGTERM shut it down).
 * Runs against REDIS_URL, or the in-memory backend (with a one-line notice) when none answers.
 */
import { randomBytes } from "node:crypto"
import { Consumer, Dlq, EventBus, Health, Keys, Publisher, RedisStream, Replay, Retry } from "@hyvve/bus"
import { AdminServer, Audit, Auth } from "@hyvve/admin"
import { ApprovalApproved, ApprovalRejected, ApprovalRequested } from "@hyvve/schema/catalog/Approval"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Context, Effect, Layer, Redacted, Ref, References, Schedule } from "effect"

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

  // Analytics was rebuilt: its group gets the approvals again (only its group; they keep their ids).
  yield* Console.log("5. replay: the approvals again, to analytics only (Replay.run, an Effect program)")
  const job = yield* Replay.run({ target: Replay.group("analytics"), types: [ApprovalApproved], actor: "demo" })
  yield* waitFor("the replayed approvals", Ref.get(tally), (t) => t.analytics === final.analytics + job.replayed)
  yield* Console.log(`  ${job.status}: scanned ${job.scanned}, matched ${job.matched}, replayed ${job.replayed}, failed ${job.failed}; analytics now ${(yield* Ref.get(tally)).analytics}`)
})

// --- live traffic (--serve) ------------------------------------------------------------------

// An approval every second, some rejected, until the demo is stopped.
const traffic = Effect.gen(function*() {
  const approvals = yield* ApprovalsService
  let n = 100
  yield* Effect.gen(function*() {
    const id = `apr_${n++}`
    yield* approvals.request(id, `Live request ${n}`)
    yield* approvals.decide(id, n % 4 === 0 ? "rejected" : "approved", n % 4 === 0 ? "needs work" : undefined)
  }).pipe(Effect.repeat(Schedule.spaced("1 second")))
})

// --- composition ---------------------------------------------------------------------------

const serve = process.argv.includes("--serve")

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
          .concat([`${Keys.replay(settings.prefix)}:jobs`, `${Keys.replay(settings.prefix)}:jobs:index`])
      )
    ).pipe(
      Effect.andThen(serve ? Console.log("stopped: the server is closed and this run's keys are deleted") : Effect.void),
      Effect.ignore
    )
  )
)

// The admin server and its page, with one admin token for this run (or HYVVE_ADMIN_TOKEN), on
// HYVVE_ADMIN_PORT (8080; any free port when that one is taken).
class Dashboard extends Context.Service<Dashboard, { readonly url: string; readonly token: string }>()("examples/Dashboard") {}

const DashboardLive = Layer.unwrap(
  Effect.gen(function*() {
    const token = yield* Config.String("HYVVE_ADMIN_TOKEN").pipe(Config.withDefault(randomBytes(12).toString("hex")))
    const port = yield* Config.Int("HYVVE_ADMIN_PORT").pipe(Config.withDefault(8080))
    const server = (port: number) =>
      AdminServer.layer({ port }).pipe(Layer.provide(Auth.layerTokens([{ token: Redacted.make(token), role: "admin", id: "demo" }])))
    return Layer.effect(Dashboard, Effect.map(AdminServer.url, (url) => Dashboard.of({ url, token }))).pipe(
      Layer.provide(server(port).pipe(Layer.catch(() => server(0)))),
      Layer.provide(Audit.layerMemory())
    )
  })
)

const AppLive = Layer.mergeAll(ApprovalsService.layer, Handlers, DashboardLive).pipe(
  Layer.provideMerge(Layer.mergeAll(Observed.layer, AuditExporterFixed.layer)),
  Layer.provideMerge(Cleanup),
  Layer.provideMerge(BusLive)
)

const main = Effect.gen(function*() {
  yield* scenario
  const dashboard = yield* Dashboard
  yield* Console.log(`6. dashboard: ${dashboard.url}/admin#token=${dashboard.token}`)
  yield* Console.log(`  token ${dashboard.token} (role admin) for the page, the API (${dashboard.url}/docs) and the CLI:`)
  yield* Console.log(`  HYVVE_ADMIN_URL=${dashboard.url} HYVVE_ADMIN_TOKEN=${dashboard.token} npm run hyvve -- stats`)
  if (!serve) {
    yield* Console.log("  (the demo stops now; `npm run demo -- --serve` keeps it running with live traffic)")
    return
  }
  yield* Console.log("serving with live traffic (an approval a second) until Ctrl-C")
  yield* traffic
})

// The bus logs retries and dead-letters as structured lines; the demo narrates them itself, so
// only errors are logged here (run with a lower level to see the bus's own lines).
main.pipe(
  Effect.provide(AppLive),
  Effect.provideService(References.MinimumLogLevel, "Error"),
  NodeRuntime.runMain
)
