/**
 * Publishes typed events to the stream the topology routes each to (`Topology`: the one main
 * stream by default, the event's family, or the partition of its tenant / `partitionKey`).
 * `publish` validates the payload with the event type's Schema, fills the envelope (id from the
 * bus's generator, `BusConfig.eventId`; timestamp, source, correlation and causation inherited
 * from the event being handled, W3C `traceparent` of the current span), encodes JSON once and
 * appends with time-based trimming.
 *
 * `publishBatch` is atomic **per stream**: the events of one stream are appended in one step (all
 * or none, in batch order), since no atomic step may span two streams' hash tags. With one stream
 * (the `single` topology, or a batch whose events all route to one stream) the whole batch is all
 * or none, as in 0.1. A batch over several streams is written one stream's part after another, in
 * the order each stream first appears in the batch; if a part fails, the parts before it have
 * landed and none after it is tried, and the failure is `BatchPartlyPublished` naming the ids that
 * landed and those that did not (publishing those again with their ids is safe for idempotent
 * handlers). When the first part fails nothing landed and the error is the plain
 * `RedisStreamError`.
 *
 * Wire format: every entry has `event` (the envelope JSON, as the NestJS publisher wrote it) as
 * its first field, so the NestJS consumer's `JSON.parse(fields[1])` reads it, then `type` and
 * `tenant`, so our consumers skip entries of other types without parsing JSON.
 *
 * @since 0.1.0
 */
import type { EventError } from "@hyvve/schema"
import { EventId, EventType } from "@hyvve/schema"
import { Clock, Context, Duration, Effect, Exit, Layer, Schema } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as Correlation from "./Correlation.ts"
import * as Metrics from "./Metrics.ts"
import * as RedisStream from "./RedisStream.ts"
import * as StreamRegistry from "./internal/streamRegistry.ts"
import * as Topology from "./Topology.ts"
import { indexField } from "./internal/indexField.ts"

/**
 * Who and what an event is published for. `correlationId` and `causationId` default to the
 * handled event's (see `Correlation`), else a new correlation id; `source` defaults to the
 * configured source.
 *
 * @category models
 * @since 0.1.0
 */
export interface PublishContext {
  /**
   * The event's id, when the publisher has one: e.g. derived from the command that caused it, so
   * that publishing again after a failure yields the same event and idempotent handlers
   * (`handle(..., { idempotent: true })`) run it once. Defaults to a new id from the bus's
   * generator. Publishing different events under one id is a bug of the caller.
   */
  readonly id?: EventId.EventId | undefined
  readonly tenantId: string
  readonly userId: string
  readonly correlationId?: string | undefined
  readonly causationId?: string | undefined
  readonly source?: string | undefined
  readonly traceparent?: string | undefined
  /**
   * What a `partitioned:N:aggregate` topology hashes to pick the event's stream (an aggregate id:
   * events of one aggregate stay in order). Defaults to the tenant id. Not written on the event.
   */
  readonly partitionKey?: string | undefined
}

/**
 * One event of a batch: written with `item`, or as an object literal, its payload is checked
 * against its event type (see `Items`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Item<E extends EventType.Any = EventType.Any> {
  readonly event: E
  readonly payload: EventType.Payload<E>
  readonly context: PublishContext
}

/**
 * Builds one event of a batch.
 *
 * @category constructors
 * @since 0.1.0
 */
export const item = <E extends EventType.Any>(
  event: E,
  payload: EventType.Payload<E>,
  context: PublishContext
): Item<E> => ({ event, payload, context })

/**
 * The items of a batch, each typed by its own event type: `publishBatch` infers one event type
 * per item from its `event`, so an object literal's `payload` is checked as `item(...)` checks it.
 *
 * @category models
 * @since 0.1.0
 */
export type Items<Es extends ReadonlyArray<EventType.Any>> = { readonly [K in keyof Es]: Item<Es[K]> }

/**
 * Why a publish failed: the payload did not match its Schema, or Redis refused the append.
 *
 * @category errors
 * @since 0.1.0
 */
export type PublishError = EventError.InvalidPayload | RedisStream.RedisStreamError

/**
 * A batch over several streams failed after some of its per-stream parts landed (see the module
 * doc): `published` landed, `unpublished` did not (their part failed, or came after it).
 *
 * @category errors
 * @since 0.3.0
 */
export class BatchPartlyPublished extends Schema.TaggedError<BatchPartlyPublished>("@hyvve/bus/Publisher/BatchPartlyPublished")(
  "BatchPartlyPublished",
  {
    published: Schema.Array(Schema.String),
    unpublished: Schema.Array(Schema.String),
    /** The stream whose part failed. */
    stream: Schema.String,
    cause: RedisStream.RedisStreamError
  }
) {
  override get message(): string {
    return `a batch over several streams failed on ${this.stream} after ${this.published.length} of ${
      this.published.length + this.unpublished.length
    } events landed: ${this.cause.message}`
  }
}

/**
 * Why a batch failed: a payload did not match (nothing appended), Redis refused the first
 * stream's part (nothing appended), or a later part (`BatchPartlyPublished`).
 *
 * @category errors
 * @since 0.3.0
 */
export type PublishBatchError = PublishError | BatchPartlyPublished

/**
 * Publishes typed events.
 *
 * @category services
 * @since 0.1.0
 */
export class Publisher extends Context.Service<
  Publisher,
  {
    /** Validates, appends and returns the new event's id. */
    readonly publish: <E extends EventType.Any>(
      event: E,
      payload: EventType.Payload<E>,
      context: PublishContext
    ) => Effect.Effect<EventId.EventId, PublishError>
    /**
     * Appends the events of each stream in one step, all or none (with one stream: the whole
     * batch); ids come back in order. See the module doc for batches over several streams.
     */
    readonly publishBatch: <const Es extends ReadonlyArray<EventType.Any>>(
      items: Items<Es>
    ) => Effect.Effect<ReadonlyArray<EventId.EventId>, PublishBatchError>
  }
>()("@hyvve/bus/Publisher") {}

/**
 * Creates the publisher over the `RedisStream` contract.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<Publisher["Service"], never, RedisStream.RedisStream | BusConfig.BusConfig> = Effect
  .gen(function*() {
    const redis = yield* RedisStream.RedisStream
    const settings = yield* BusConfig.BusConfig
    const layout = Topology.of(settings)
    // `single` (and one partition) route every event to one stream: no routing per event.
    const onlyStream = layout.topology._tag !== "Family" && layout.streams.length === 1 ? layout.streams[0]!.key : undefined
    const streamOf = (event: EventType.Any, context: PublishContext) =>
      onlyStream ?? layout.route({ type: event.type, tenantId: context.tenantId, partitionKey: context.partitionKey }).key
    const retentionMs = Duration.toMillis(settings.retention)
    // `family`: a stream is recorded in the stream registry before this process first writes it.
    const record = StreamRegistry.recorder(redis, settings)
    const recordFor = (pairs: ReadonlyArray<readonly [EventType.Any, PublishContext]>) =>
      record === undefined ?
        Effect.void :
        record(pairs.map(([event, context]) =>
          layout.route({ type: event.type, tenantId: context.tenantId, partitionKey: context.partitionKey })
        ))

    // What every event of one publish call shares: read once per call, not per event.
    interface Shared {
      readonly now: number
      readonly timestamp: string
      readonly traceparent: string | undefined
      readonly handled: Correlation.HandledEvent | undefined
      readonly ids: EventId.IdGenerator
    }

    // The id generator is the bus's (`BusConfig.eventId`), fixed when the layer was built.
    const ids = settings.eventId
    const shared = (traceparent: string | undefined) =>
      Effect.map(
        Effect.all([Clock.currentTimeMillis, Correlation.CurrentEvent]),
        ([now, handled]): Shared => ({ now, timestamp: new Date(now).toISOString(), traceparent, handled, ids })
      )

    // Encodes one event into stream fields, synchronously (it runs for every event of a batch):
    // the payload is validated by encoding it with its Schema, and the envelope is serialised
    // once.
    const encode = (
      event: EventType.Any,
      payload: unknown,
      context: PublishContext,
      at: Shared
    ): Exit.Exit<{ readonly id: EventId.EventId; readonly fields: RedisStream.Fields; readonly correlationId: string }, EventError.InvalidPayload> =>
      Exit.map(EventType.encodePayload(event, payload), (data) => {
        const id = context.id ?? EventId.EventId.make(at.ids.next())
        const correlationId = context.correlationId ?? at.handled?.correlationId ?? id
        const causationId = context.causationId ?? at.handled?.id
        const traceparent = context.traceparent ?? at.traceparent
        const envelope = {
          id,
          type: event.type,
          source: context.source ?? settings.source,
          timestamp: at.timestamp,
          correlationId,
          tenantId: context.tenantId,
          userId: context.userId,
          version: event.version,
          data,
          ...(causationId === undefined ? {} : { causationId }),
          ...(traceparent === undefined ? {} : { traceparent })
        }
        // `event` first: the NestJS consumer reads `JSON.parse(fields[1])` (see the README's migration section).
        return { id, correlationId, fields: { event: JSON.stringify(envelope), type: event.type, tenant: indexField(context.tenantId) } }
      })

    const trimFor = (now: number): RedisStream.Trim => ({ minId: `${Math.max(0, now - retentionMs)}-0` })

    const publish = <E extends EventType.Any>(event: E, payload: EventType.Payload<E>, context: PublishContext) =>
      Effect.gen(function*() {
        const at = yield* shared(yield* currentTraceparent)
        const { correlationId, fields, id } = yield* encode(event, payload, context, at)
        if (record !== undefined) yield* recordFor([[event, context]])
        const entryId = yield* redis.append(streamOf(event, context), fields, trimFor(at.now))
        yield* Metrics.published(event.type)
        yield* Effect.logDebug("published").pipe(
          Effect.annotateLogs({ eventId: id, type: event.type, correlationId, tenantId: context.tenantId, entryId })
        )
        return id
      }).pipe(
        Effect.withSpan("Publisher.publish", {
          kind: "producer",
          attributes: {
            "messaging.system": "redis",
            "messaging.destination.name": streamOf(event, context),
            "hyvve.event.type": event.type
          }
        }, noStackTrace)
      )

    const publishBatch = <const Es extends ReadonlyArray<EventType.Any>>(batch: Items<Es>) => {
      // Each item was checked against its own event type by `Items`; from here they are encoded alike.
      const items: ReadonlyArray<Item> = batch
      return Effect.gen(function*() {
        if (items.length === 0) return []
        const at = yield* shared(yield* currentTraceparent)
        const trim = trimFor(at.now)
        const ids: Array<EventId.EventId> = []
        // One part per stream, in the order streams first appear; events in batch order within.
        const parts = new Map<string, { readonly ids: Array<EventId.EventId>; readonly commands: Array<RedisStream.Command> }>()
        const byType = new Map<string, number>()
        for (const one of items) {
          const encoded = yield* encode(one.event, one.payload, one.context, at)
          ids.push(encoded.id)
          const key = streamOf(one.event, one.context)
          let part = parts.get(key)
          if (part === undefined) {
            part = { ids: [], commands: [] }
            parts.set(key, part)
          }
          part.ids.push(encoded.id)
          part.commands.push({ _tag: "XAdd", key, fields: encoded.fields, trim })
          byType.set(one.event.type, (byType.get(one.event.type) ?? 0) + 1)
        }
        if (record !== undefined) yield* recordFor(items.map((one) => [one.event, one.context] as const))
        const landed = new Set<string>()
        for (const [key, part] of parts) {
          const written = yield* Effect.result(redis.transaction(part.commands))
          if (written._tag === "Failure") {
            if (landed.size === 0) return yield* written.failure
            return yield* new BatchPartlyPublished({
              published: ids.filter((id) => landed.has(id)),
              unpublished: ids.filter((id) => !landed.has(id)),
              stream: key,
              cause: written.failure
            })
          }
          for (const id of part.ids) landed.add(id)
        }
        for (const [type, count] of byType) yield* Metrics.published(type, count)
        yield* Effect.logDebug("published batch").pipe(Effect.annotateLogs({ count: items.length, first: ids[0] }))
        return ids
      }).pipe(
        Effect.withSpan("Publisher.publishBatch", {
          kind: "producer",
          attributes: {
            "messaging.system": "redis",
            "messaging.destination.name": layout.streams.length === 1 ? layout.streams[0]!.key : Topology.format(settings.topology),
            "messaging.batch.message_count": items.length
          }
        }, noStackTrace)
      )
    }

    return Publisher.of({ publish, publishBatch })
  })

/**
 * Provides the publisher; needs `RedisStream` and `BusConfig`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Publisher, never, RedisStream.RedisStream | BusConfig.BusConfig> = Layer.effect(
  Publisher,
  make
)

/**
 * Publishes one event through the `Publisher` in context.
 *
 * @category accessors
 * @since 0.1.0
 */
export const publish = <E extends EventType.Any>(
  event: E,
  payload: EventType.Payload<E>,
  context: PublishContext
): Effect.Effect<EventId.EventId, PublishError, Publisher> =>
  Publisher.use((publisher) => publisher.publish(event, payload, context))

/**
 * Publishes a batch atomically through the `Publisher` in context.
 *
 * @category accessors
 * @since 0.1.0
 */
export const publishBatch = <const Es extends ReadonlyArray<EventType.Any>>(
  items: Items<Es>
): Effect.Effect<ReadonlyArray<EventId.EventId>, PublishBatchError, Publisher> =>
  Publisher.use((publisher) => publisher.publishBatch(items))

// --- internal ---

// A stack trace per span cost ~5 % of throughput; the span's name already says where it is.
const noStackTrace = { captureStackTrace: false } as const

// The W3C traceparent of the current span (the publish span), so consumers continue the trace.
const currentTraceparent: Effect.Effect<string | undefined> = Effect.map(
  Effect.option(Effect.currentSpan),
  (span) =>
    span._tag === "Some" ? `00-${span.value.traceId}-${span.value.spanId}-${span.value.sampled ? "01" : "00"}` : undefined
)
