/**
 * Runs a handler over a subscription's deliveries: `concurrency` long-lived workers take them from
 * the engine's queue (no fiber, semaphore or race per event; with one worker, events are handled
 * in stream order), run the handler with its timeout, correlation and trace, and settle each
 * delivery: ack on success, the retry policy on failure. Closing the scope shuts down gracefully:
 * the producers stop, running handlers finish (bounded by `shutdownTimeout`), queued deliveries
 * stay pending for whoever reads next, and the engine's finalizer sends the acks still queued.
 *
 * The per-event path is plain code around one Effect, the handler's: a worker takes a run of
 * deliveries at once (its share of the queue), enters each event's context in one step (the
 * handled event for `Correlation`, the log annotations `group`, `eventId`, `correlationId` and
 * `tenantId`, and the publisher's span from `traceparent` as parent, so spans and events the
 * handler publishes continue the trace), queues the ack synchronously and records run times once
 * per run. A `Consumer.handle` span per event is made only when a tracer that records spans is
 * installed (anything but Effect's default native tracer, with tracing enabled): the native
 * tracer exports nothing, and its spans cost about a sixth of the consume path.
 */
import type { Envelope, EventType } from "@hyvve/schema"
import { Cause, Context, Duration, Effect, Fiber, Option, Queue, References, Schema, type Scope, Tracer } from "effect"
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
    const { concurrency, group, settings } = options
    const local = options.idempotent ? engine.settlement.local : undefined
    // The workers' context is fixed when they fork, so whether spans are recorded is decided once.
    const spanPerEvent = (yield* References.TracerEnabled) && (yield* Tracer.Tracer) !== Tracer.nativeTracer

    // What happens after a failed run: the retry policy (or the DLQ) takes the delivery, in the
    // engine's next settle step, with the other failures of its batch.
    const onFailure = (delivery: Subscription.EngineDelivery, cause: Cause.Cause<unknown>): Effect.Effect<void> => {
      const failure = Retry.failureFromCause(cause)
      return Effect.logWarning("handler failed").pipe(
        Effect.annotateLogs({ type: delivery.event.type, attempt: delivery.attempt, error: failure.message }),
        Effect.andThen(Effect.sync(() => engine.failUnsafe(delivery, failure)))
      )
    }

    // The handler's effect for one delivery, with its timeout and, when spans are recorded, its span.
    const body = (delivery: Subscription.EngineDelivery): Effect.Effect<void, Err | HandlerTimeout, R> => {
      const event = delivery.event
      let effect: Effect.Effect<void, Err | HandlerTimeout, R> = options.handler(event, delivery)
      if (options.timeout !== undefined) {
        const timeout = options.timeout
        effect = Effect.timeoutOrElse(effect, {
          duration: timeout,
          orElse: () => Effect.fail(new HandlerTimeout({ millis: Duration.toMillis(timeout) }))
        })
      }
      if (!spanPerEvent) return effect
      const span = effect.pipe(
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
      )
      const parent = parentSpan(event.traceparent)
      return parent === undefined ? span : Effect.withParentSpan(span, parent)
    }

    // Each worker enters an event's context in one step: one context built from the worker's own
    // (which is fixed), with the handled event and the log annotations, and, without per-event
    // spans, the publisher's span as parent (kept while consecutive events share a traceparent).
    // `enter` is one function per worker, reading the event being handled: no closure per event.
    const eventContexts = (first: Envelope.Envelope<EventType.Any>) => {
      const state = { event: first }
      let base: Context.Context<R> | undefined
      let inherited: Readonly<Record<string, unknown>> = {}
      let traceparent: string | undefined
      let traced: Context.Context<R> | undefined
      const enter = (context: Context.Context<R>): Context.Context<R> => {
        const event = state.event
        if (context !== base) {
          base = context
          inherited = Context.get(context, References.CurrentLogAnnotations)
          traceparent = undefined
          traced = undefined
        }
        let withParent = context
        if (!spanPerEvent && event.traceparent !== undefined) {
          if (event.traceparent !== traceparent || traced === undefined) {
            traceparent = event.traceparent
            const parent = parentSpan(traceparent)
            traced = parent === undefined ? context : Context.add(context, Tracer.ParentSpan, parent)
          }
          withParent = traced
        }
        const annotations = {
          ...inherited,
          group,
          eventId: event.id,
          correlationId: event.correlationId,
          tenantId: event.tenantId
        }
        return Context.add(Context.add(withParent, Correlation.CurrentEvent, event), References.CurrentLogAnnotations, annotations)
      }
      return { state, enter }
    }

    // With one worker it takes up to a read batch at once (in order); with more, each takes its
    // share of what is queued, so a slow handler never sits on deliveries others could run.
    const take = concurrency === 1 ?
      Queue.takeBetween(engine.queue, 1, settings.batchSize) :
      Effect.suspend(() =>
        Queue.takeBetween(engine.queue, 1, Math.max(1, Math.floor(Queue.sizeUnsafe(engine.queue) / concurrency)))
      )

    let stopping = false
    const worker = Effect.gen(function*() {
      const clock = yield* Effect.clockWith(Effect.succeed)
      let contexts: ReturnType<typeof eventContexts> | undefined
      const durations: Array<number> = []
      while (!stopping) {
        // Ends with `Cause.Done` once shutdown ended the queue and nothing is left to wait for.
        const next = yield* Effect.result(take)
        if (next._tag === "Failure") return
        for (const delivery of next.success) {
          // Deliveries left when shutdown begins stay pending for whoever reads next.
          if (stopping) break
          const event = delivery.event
          contexts ??= eventContexts(event)
          contexts.state.event = event
          const enter = contexts.enter
          if (local !== undefined && !local.begin(event.id)) {
            // Another copy of this event ran (or runs) here: this copy is settled without running.
            yield* Effect.updateContext(Effect.logDebug("skipping a copy of an event this group handles here"), enter)
            engine.ackUnsafe(delivery)
            continue
          }
          const startedAt = clock.currentTimeMillisUnsafe()
          const exit = yield* Effect.exit(Effect.updateContext(body(delivery), enter))
          durations.push(clock.currentTimeMillisUnsafe() - startedAt)
          if (exit._tag === "Success") {
            local?.end(event.id, true)
            engine.ackUnsafe(delivery)
          } else {
            local?.end(event.id, false)
            // Interrupted at shutdown: not handled, so not settled; the entry stays pending.
            if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
            yield* Effect.updateContext(onFailure(delivery, exit.cause), enter)
          }
        }
        yield* Metrics.handlerDurations(group, durations)
        durations.length = 0
      }
    })
    const workers = yield* Effect.forEach(
      Array.from({ length: concurrency }),
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

// The publisher's span, from the event's W3C `traceparent`: the consume side continues its trace.
const parentSpan = (traceparent: string | undefined): Tracer.ExternalSpan | undefined => {
  if (traceparent === undefined) return undefined
  const [, traceId, spanId, flags] = traceparent.split("-")
  if (traceId === undefined || spanId === undefined) return undefined
  return Tracer.externalSpan({ traceId, spanId, sampled: flags === "01" })
}
