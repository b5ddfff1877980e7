/**
 * A typed delivery of one event to one consumer group: the decoded envelope, the attempt number,
 * and the ways to settle it (ack, fail into the retry policy, dead-letter).
 *
 * @since 0.1.0
 */
import type { Envelope, EventType } from "@hyvve/schema"
import type { Effect } from "effect"

/**
 * Where a delivery came from: its group, stream, entry id and attempt number (1 on the first
 * delivery; retries and re-claims after a crash count up).
 *
 * @category models
 * @since 0.1.0
 */
export interface DeliveryInfo {
  readonly group: string
  readonly stream: string
  readonly entryId: string
  readonly attempt: number
}

/**
 * One event delivered to a group, not yet settled. Settle it exactly once: `ack` after handling
 * it, `fail` to hand it to the retry policy, `deadLetter` to give up now. An unsettled delivery
 * stays pending and is delivered again (to this or another consumer) after the claim timeout,
 * once its consumer is gone.
 *
 * @category models
 * @since 0.1.0
 */
export interface Delivery<E extends EventType.Any> extends DeliveryInfo {
  readonly event: Envelope.Envelope<E>
  /** Acknowledges the delivery; acks are sent in batches, within milliseconds. */
  readonly ack: Effect.Effect<void>
  /**
   * Records a failure: schedules the next retry for this group, or dead-letters the event when
   * the policy is exhausted or the error is not retryable.
   */
  readonly fail: (error: unknown) => Effect.Effect<void>
  /** Moves the event to the DLQ at once, with `error` as the reason. */
  readonly deadLetter: (error: unknown) => Effect.Effect<void>
}
