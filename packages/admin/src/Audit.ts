/**
 * The audit trail of mutating admin calls (DLQ retry, delete, purge; replay start, cancel,
 * resume): who (principal, role, tenant), what (action, target, filters), how many it touched,
 * the outcome and when.
 *
 * - `layer` writes to the event store's audit table when a store is configured and keeps records
 *   in memory otherwise: what an application wants (`AdminServer` mains use it).
 * - `layerStore` always writes to the store; `layerMemory` keeps the last records in memory and
 *   logs each one.
 * - `audited` wraps a mutating call so its outcome is recorded whichever way it ends.
 *
 * Replay jobs also write their own rows (the job's filters and counts, by `Replay`); the admin's
 * row records the call (the principal's role and tenant, and whether it succeeded).
 *
 * @since 0.1.0
 */
import { EventStore } from "@hyvve/bus"
import { Clock, Context, Effect, Exit, Layer, Ref, Schema } from "effect"
import type { PrincipalInfo } from "./AdminApi.ts"

/**
 * One audited call.
 *
 * @category models
 * @since 0.1.0
 */
export interface Record {
  readonly at: string
  readonly principal: string
  readonly role: string
  readonly tenantId: string | undefined
  /** e.g. `dlq.retry`, `dlq.purge`, `replay.start`. */
  readonly action: string
  /** The DLQ id or the replay job id; for a purge, its filter as JSON. */
  readonly target: string
  readonly outcome: "ok" | "failed"
  readonly detail: string | undefined
  /** The filters the call applied (purge, replay start), as given. */
  readonly filters?: unknown
  /** How many entries or events it touched, when it says. */
  readonly count?: number | undefined
}

/**
 * Records mutating calls.
 *
 * @category services
 * @since 0.1.0
 */
export class Audit extends Context.Service<Audit, {
  readonly record: (record: Omit<Record, "at">) => Effect.Effect<void>
  /** The most recent records, newest last (what the implementation keeps). */
  readonly recent: (limit: number) => Effect.Effect<ReadonlyArray<Record>, EventStore.EventStoreError>
}>()("@hyvve/admin/Audit") {}

const now = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

const logRecord = (record: Record) =>
  Effect.logInfo("admin audit").pipe(
    Effect.annotateLogs({
      action: record.action,
      target: record.target,
      principal: record.principal,
      outcome: record.outcome
    })
  )

/**
 * Keeps the last `capacity` records in memory and logs each at Info (annotated with its fields).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory = (capacity = 1000): Layer.Layer<Audit> =>
  Layer.effect(
    Audit,
    Effect.gen(function*() {
      const records = yield* Ref.make<ReadonlyArray<Record>>([])
      return Audit.of({
        record: (input) =>
          Effect.gen(function*() {
            const record: Record = { ...input, at: yield* now }
            yield* Ref.update(records, (all) => [...all.slice(Math.max(0, all.length + 1 - capacity)), record])
            yield* logRecord(record)
          }),
        recent: (limit) => Effect.map(Ref.get(records), (all) => all.slice(-limit))
      })
    })
  )

// What the admin writes into the store row's `details`; rows written by others (a replay job's own)
// decode with what they have.
const StoreDetails = Schema.Struct({
  role: Schema.optionalKey(Schema.String),
  tenantId: Schema.optionalKey(Schema.String),
  outcome: Schema.optionalKey(Schema.Literals(["ok", "failed"])),
  detail: Schema.optionalKey(Schema.String),
  filters: Schema.optionalKey(Schema.Unknown),
  count: Schema.optionalKey(Schema.Finite)
})
const decodeDetails = Schema.decodeUnknownOption(StoreDetails)

const fromStore = (entry: EventStore.AuditEntry): Record => {
  const details = decodeDetails(entry.details)
  const d = details._tag === "Some" ? details.value : {}
  return {
    at: new Date(entry.at).toISOString(),
    principal: entry.actor,
    role: d.role ?? "",
    tenantId: d.tenantId,
    action: entry.action,
    target: entry.subject,
    outcome: d.outcome ?? "ok",
    detail: d.detail,
    ...(d.filters === undefined ? {} : { filters: d.filters }),
    ...(d.count === undefined ? {} : { count: d.count })
  }
}

/**
 * Writes each record to the event store's audit table (actor, action, subject, details). A record
 * the store refuses is logged at Error with its fields (the call it records has happened).
 *
 * @category layers
 * @since 0.2.0
 */
export const layerStore: Layer.Layer<Audit, never, EventStore.EventStore> = Layer.effect(
  Audit,
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    return Audit.of({
      record: (input) =>
        Effect.gen(function*() {
          const at = yield* Clock.currentTimeMillis
          const details = {
            role: input.role,
            ...(input.tenantId === undefined ? {} : { tenantId: input.tenantId }),
            outcome: input.outcome,
            ...(input.detail === undefined ? {} : { detail: input.detail }),
            ...(input.filters === undefined ? {} : { filters: input.filters }),
            ...(input.count === undefined ? {} : { count: input.count })
          }
          yield* store.audit({ at, actor: input.principal, action: input.action, subject: input.target, details }).pipe(
            Effect.catch((error) =>
              Effect.logError("admin audit: the store did not take the record").pipe(
                Effect.annotateLogs({ action: input.action, target: input.target, principal: input.principal, error: error.message })
              )
            )
          )
        }),
      recent: (limit) => Effect.map(store.auditLog({ limit }), (entries) => entries.map(fromStore).reverse())
    })
  })
)

/**
 * The store's audit table when the `EventStore` in context is a real one, memory otherwise.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer: Layer.Layer<Audit, never, EventStore.EventStore> = Layer.unwrap(
  Effect.map(EventStore.EventStore, (store) => (store.backend === "none" ? layerMemory() : layerStore))
)

/**
 * Runs a mutating call and records it in `audit` with its outcome, whichever way it ends:
 * `describe` turns a success into the record's detail and count.
 *
 * @category combinators
 * @since 0.2.0
 */
export const audited = <A, E, R>(
  audit: Audit["Service"],
  call: {
    readonly principal: PrincipalInfo
    readonly action: string
    readonly target: string
    readonly filters?: unknown
  },
  effect: Effect.Effect<A, E, R>,
  describe: (a: A) => { readonly detail: string; readonly count?: number | undefined }
): Effect.Effect<A, E, R> =>
  effect.pipe(
      Effect.onExit((exit) => {
        const described = Exit.isSuccess(exit) ? describe(exit.value) : undefined
        return audit.record({
          principal: call.principal.id,
          role: call.principal.role,
          tenantId: call.principal.tenantId,
          action: call.action,
          target: call.target,
          outcome: Exit.isSuccess(exit) ? "ok" : "failed",
          detail: described?.detail ?? "failed",
          ...(call.filters === undefined ? {} : { filters: call.filters }),
          ...(described?.count === undefined ? {} : { count: described.count })
        })
      })
    )
