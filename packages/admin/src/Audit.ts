/**
 * The audit trail of mutating admin calls (retry, delete, purge): who, what, on which target,
 * with which outcome. `layerMemory` keeps records in memory and logs each one (the default);
 * the event store provides a durable implementation (its audit table) through the same service.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Ref } from "effect"

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
  /** e.g. `dlq.retry`, `dlq.delete`, `dlq.purge`. */
  readonly action: string
  /** The DLQ id, or the filter of a purge as JSON. */
  readonly target: string
  readonly outcome: "ok" | "failed"
  readonly detail: string | undefined
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
  readonly recent: (limit: number) => Effect.Effect<ReadonlyArray<Record>>
}>()("@hyvve/admin/Audit") {}

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
            const at = new Date(yield* Clock.currentTimeMillis).toISOString()
            const record: Record = { ...input, at }
            yield* Ref.update(records, (all) => [...all.slice(Math.max(0, all.length + 1 - capacity)), record])
            yield* Effect.logInfo("admin audit").pipe(
              Effect.annotateLogs({
                action: record.action,
                target: record.target,
                principal: record.principal,
                outcome: record.outcome
              })
            )
          }),
        recent: (limit) => Effect.map(Ref.get(records), (all) => all.slice(-limit))
      })
    })
  )
