/**
 * Runs a handler over a subscription's deliveries: `concurrency` long-lived workers take them from
 * the engine's queue one at a time (no fiber, semaphore or race per event; with one worker, events
 * are handled in stream order), run the handler with its timeout and trace, and settle each
 * delivery: ack on success, the retry policy on failure. Closing the scope shuts down gracefully:
 * the producers stop, running handlers finish (bounded by `shutdownTimeout`), queued deliveries
 * stay pending for whoever reads next, and the engine's finalizer sends the acks still queued.
 */
import type { Envelope, EventType } from "@hyvve/schema"
import { Cause, Duration, Effect, Fiber, Option, Queue, Schema, type Scope, Tracer } from "effect"
import type * as BusConfig from "../BusConfig.ts"
import * as Correlation from "../Correlation.ts"
import type { DeliveryInfo } from "../Delivery.ts"
import * as Metrics from "../Metrics.ts"
import * as Retry from "../Retry.ts"
import type * as Subscription from "./subscription.ts"

/**
 * A handler ran longer than its `timeout`.
 *
 * @category errors
 * @since 0.1.0
 */
export class HandlerTimeout extends Schema.TaggedError<HandlerTimeout>("@hyvve/bus/Consumer/HandlerTimeout")(
  "HandlerTimeout",
  { millis: Schema.Finite }
) {
  override get message(): string {
    return `the handler did not finish within ${this.millis} ms`
  }
}

/** Starts the workers in the current scope. */
export const run = <Err, R>(
  engine: Subscription.Engine,
  options: {
    readonly group: string
    readonly handler: (event: Envelope.Envelope<EventType.Any>, info: DeliveryInfo) => Effect.Effect<void, Err, R>
    readonly concurrency: number
    readonly timeout: Duration.Duration | undefined
    readonly idempotent: boolean
    readonly settings: BusConfig.BusSettings
  }
): Effect.Effect<void, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const { group, settings } = options

    // What happens after a failed run: the retry policy (or the DLQ) takes the delivery.
    const onFailure = (delivery: Subscription.EngineDelivery, cause: Cause.Cause<unknown>): Effect.Effect<void> => {
      // Interrupted at shutdown: not handled, so not settled; the entry stays pending.
      if (Cause.hasInterruptsOnly(cause)) return Effect.interrupt
      const failure = Retry.failureFromCause(cause)
      return Effect.logWarning("handler failed").pipe(
        Effect.annotateLogs({ type: delivery.event.type, attempt: delivery.attempt, error: failure.message }),
        Effect.andThen(delivery.failWith(failure))
      )
    }

    // Runs the handler for one delivery and settles it. This is the per-event path, so it is one
    // chain of combinators (no generator), with the clock read synchronously.
    const runOne = (delivery: Subscription.EngineDelivery): Effect.Effect<void, never, R> => {
      const event = delivery.event
      let body: Effect.Effect<void, Err | HandlerTimeout, R> = options.handler(event, delivery)
      if (options.timeout !== undefined) {
        const timeout = options.timeout
        body = Effect.timeoutOrElse(body, {
          duration: timeout,
          orElse: () => Effect.fail(new HandlerTimeout({ millis: Duration.toMillis(timeout) }))
        })
      }
      const traced = withTrace(
        Correlation.withEvent(event)(body).pipe(
          Effect.withSpan("Consumer.handle", {
            kind: "consumer",
            attributes: {
              "messaging.system": "redis",
              "messaging.consumer.group.name": group,
              "messaging.message.id": event.id,
              "hyvve.event.type": event.type,
              "hyvve.attempt": delivery.attempt
            }
          }, noStackTrace)
        ),
        event.traceparent
      )
      const local = options.idempotent ? engine.settlement.local : undefined
      if (local !== undefined && !local.begin(event.id)) {
        // Another copy of this event ran (or runs) here: this copy is settled without running.
        return Effect.andThen(Effect.logDebug("skipping a copy of an event this group handles here"), delivery.ack)
      }
      return Effect.clockWith((clock) => {
        const startedAt = clock.currentTimeMillisUnsafe()
        return Effect.matchCauseEffect(traced, {
          onSuccess: () => {
            local?.end(event.id, true)
            return Effect.andThen(Metrics.handlerDuration(group, clock.currentTimeMillisUnsafe() - startedAt), delivery.ack)
          },
          onFailure: (cause) => {
            local?.end(event.id, false)
            return Effect.andThen(
              Metrics.handlerDuration(group, clock.currentTimeMillisUnsafe() - startedAt),
              onFailure(delivery, cause)
            )
          }
        })
      }).pipe(
        Effect.annotateLogs({
          group,
          eventId: event.id,
          correlationId: event.correlationId,
          tenantId: event.tenantId
        })
      )
    }

    let stopping = false
    const worker = Effect.gen(function*() {
      while (!stopping) {
        // Ends with `Cause.Done` once shutdown ended the queue and nothing is left to wait for.
        const next = yield* Effect.result(Queue.take(engine.queue))
        if (next._tag === "Failure" || stopping) return
        yield* runOne(next.success)
      }
    })
    const workers = yield* Effect.forEach(
      Array.from({ length: options.concurrency }),
      () => Effect.forkDetach(worker)
    )

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* engine.stop
        stopping = true
        yield* Queue.end(engine.queue)
        const drained = yield* Fiber.awaitAll(workers).pipe(Effect.timeoutOption(settings.shutdownTimeout))
        if (Option.isNone(drained)) {
          yield* Effect.logWarning("shutdown timeout: interrupting handlers still running; their events stay pending")
          yield* Fiber.interruptAll(workers)
        }
      }).pipe(Effect.annotateLogs({ package: "@hyvve/bus", module: "Consumer", group }))
    )
  })

// A stack trace per span cost ~5 % of throughput; the span's name already says where it is.
const noStackTrace = { captureStackTrace: false } as const

// Continues the publisher's trace: the consume span is a child of the span in `traceparent`.
const withTrace = <A, E, R>(effect: Effect.Effect<A, E, R>, traceparent: string | undefined) => {
  if (traceparent === undefined) return effect
  const [, traceId, spanId, flags] = traceparent.split("-")
  if (traceId === undefined || spanId === undefined) return effect
  return Effect.withParentSpan(effect, Tracer.externalSpan({ traceId, spanId, sampled: flags === "01" }))
}
