/**
 * The seam through which every outcome of a delivery leaves the settlement, for a history of
 * deliveries (the event store records them per event and group).
 *
 * The settlement reports each outcome once it has landed in Redis, a read batch or an ack batch
 * at a time: `PROCESSING` when a delivery is handed out, then `COMPLETED` (acked), `FAILED` (a
 * retry is scheduled) or `DLQ` (dead-lettered). `record` is called on the consumer's hot path: it
 * must only hand the batch over (to a queue), never wait. Without a log (the default) nothing is
 * built or recorded.
 *
 * @since 0.2.0
 */
import { Context } from "effect"
import type * as Retry from "./Retry.ts"

/**
 * Where a delivery stands.
 *
 * @category models
 * @since 0.2.0
 */
export type Status = "PROCESSING" | "COMPLETED" | "FAILED" | "DLQ"

/**
 * One outcome of one delivery.
 *
 * @category models
 * @since 0.2.0
 */
export interface Outcome {
  readonly status: Status
  readonly group: string
  readonly stream: string
  readonly entryId: string
  /** Absent for an entry that could not be decoded. */
  readonly eventId: string | undefined
  readonly type: string | undefined
  readonly tenantId: string | undefined
  /** The delivery count of the entry in its group (1 on the first delivery). */
  readonly attempt: number
  /** Why it failed (`FAILED`, `DLQ`). */
  readonly error: Retry.FailureInfo | undefined
  /** When the outcome landed (ms since the epoch). */
  readonly at: number
}

/**
 * Receives outcome batches.
 *
 * @category models
 * @since 0.2.0
 */
export interface Log {
  readonly record: (outcomes: ReadonlyArray<Outcome>) => void
}

/**
 * The delivery log in context; `undefined` (the default) records nothing.
 *
 * @category services
 * @since 0.2.0
 */
export const DeliveryLog: Context.Reference<Log | undefined> = Context.Reference<Log | undefined>(
  "@hyvve/bus/DeliveryLog",
  { defaultValue: () => undefined }
)
