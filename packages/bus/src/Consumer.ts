/**
 * Consumes typed events. Every subscription is its own consumer group (a stable name, given or
 * derived from the app group and the event or pattern), so one handler's failure never re-runs
 * another's.
 *
 * - `subscribe(event | pattern)` is a `Stream` of `Delivery` values the caller settles.
 * - `handle(event | pattern, handler)` forks a supervised worker into the current scope: ack on
 *   success, the retry policy on failure, dead-letter when exhausted, a concurrency bound
 *   (in order at concurrency 1), a per-handler timeout and optional idempotency.
 *
 * A name or pattern resolves against the bus's catalog (`BusConfig.catalog`, or the `catalog`
 * option) and matches event types under their aliases too. One that matches nothing does not
 * compile when it is a literal (`Source`), and fails with `NoMatchingEvents` when the
 * subscription starts when it is known only at runtime.
 *
 * Inside, each subscription runs three producers into one bounded queue: the reader (new entries
 * of the main stream and of the group's re-delivery stream), the retry poller (due retries) and
 * the sweeper (entries left pending by dead consumers). Entries of other types are acked unread
 * by their `type` field; undecodable ones are dead-lettered with the parse error. Entries this
 * consumer holds are re-claimed to itself on a heartbeat so nobody takes them while a handler
 * runs. Redis errors back off on a capped, jittered exponential schedule; after
 * `BusConfig.circuitThreshold` consecutive errors (counted over all of a subscription's loops)
 * the subscription reports its circuit open until Redis answers again. Closing the scope stops the producers, drains in-flight handlers (bounded by
 * `shutdownTimeout`), flushes their acks, then lets the connection close.
 *
 * @since 0.1.0
 */
import { type Catalog, Envelope, EventPattern, EventType } from "@hyvve/schema"
import type { EventError } from "@hyvve/schema"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberSet,
  Layer,
  Option,
  Queue,
  Schedule,
  Schema,
  type Scope,
  Stream,
  Tracer
} from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as Correlation from "./Correlation.ts"
import type { Delivery, DeliveryInfo } from "./Delivery.ts"
import * as Dlq from "./Dlq.ts"
import * as Keys from "./Keys.ts"
import * as Metrics from "./Metrics.ts"
import * as RedisStream from "./RedisStream.ts"
import * as Retry from "./Retry.ts"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * Registers the application's own event types with the types of `subscribe` and `handle`, so
 * names and patterns over them type-check without a `catalog` option on every call. Declare it
 * once per application, and give the bus the same catalog at runtime (`bus: { catalog }`):
 *
 * ```ts
 * declare module "@hyvve/bus/Consumer" {
 *   interface Register {
 *     readonly events: (typeof BillingEvents)[number]
 *   }
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by applications (declaration merging)
export interface Register {}

/**
 * The event types names and patterns resolve against by default, in the types: the platform
 * catalog and the events declared in `Register`.
 *
 * @category models
 * @since 0.1.0
 */
export type DefaultEvents = Catalog.Event | (Register extends { readonly events: infer E extends EventType.Any } ? E : never)

/**
 * The event types a subscription to `S` (an event type, or a name or pattern over the catalog
 * `C`) receives. An alias matches as the event type's own name does.
 *
 * @category models
 * @since 0.1.0
 */
export type EventsOf<S, C extends EventType.Any = DefaultEvents> = S extends EventType.Any ? S
  : S extends string ? EventPattern.Filter<C, S>
  : never

/**
 * What `subscribe` and `handle` accept for `S`: an event type, or a name or pattern that matches
 * at least one event type of `C`. A literal that matches none does not compile (the expected
 * type says why); a wide `string` is checked when the subscription starts (`NoMatchingEvents`).
 *
 * @category models
 * @since 0.1.0
 */
export type Source<S, C extends EventType.Any = DefaultEvents> = S extends EventType.Any ? S
  : S extends string ?
    [EventPattern.Filter<C, S>] extends [never] ? `no event type in the catalog is named or matches "${S}"` : S
  : never

/**
 * Options of a subscription.
 *
 * @category models
 * @since 0.1.0
 */
export interface SubscribeOptions<C extends EventType.Any = DefaultEvents> {
  /**
   * The consumer group. Defaults to `<app group>:<event type or pattern>`.
   *
   * **Gotchas**: renaming a group creates a new group, which starts at `startFrom`; two
   * subscriptions to the same event in one app must name their groups, or they compete.
   */
  readonly group?: string | undefined
  /** Where a new group starts: `"new"` events only (default) or `"all"` retained events. */
  readonly startFrom?: "new" | "all" | undefined
  /** The retry delays. Defaults to `Retry.defaultSchedule` (1 min, 5 min, 30 min, then DLQ). */
  readonly retry?: Schedule.Schedule<unknown, Retry.Failure> | Schedule.Schedule<unknown, unknown> | undefined
  /** Which failures are retried. Defaults to `Retry.isRetryable`. */
  readonly retryable?: ((failure: Retry.Failure) => boolean) | undefined
  /**
   * The events a name or pattern is resolved against, instead of the bus's catalog
   * (`BusConfig.catalog`: the platform catalog and the application's).
   */
  readonly catalog?: Catalog.Catalog<C> | undefined
}

/**
 * Options of a handler.
 *
 * @category models
 * @since 0.1.0
 */
export interface HandleOptions<C extends EventType.Any = DefaultEvents, E = unknown>
  extends Omit<SubscribeOptions<C>, "retry" | "retryable">
{
  /**
   * The retry delays, a `Schedule` given the failure as input: it sees the handler's error type
   * `E` (and `HandlerTimeout`). Defaults to `Retry.defaultSchedule` (1 min, 5 min, 30 min, then
   * DLQ).
   */
  readonly retry?: Schedule.Schedule<unknown, Retry.Failure<E | HandlerTimeout>> | Schedule.Schedule<unknown, unknown> | undefined
  /**
   * Which failures are retried; `failure.tag` narrows `failure.error` to the handler's tagged
   * error. Defaults to `Retry.isRetryable`.
   */
  readonly retryable?: ((failure: Retry.Failure<E | HandlerTimeout>) => boolean) | undefined
  /** Handlers running at once. Defaults to 1: events are then handled in stream order. */
  readonly concurrency?: number | undefined
  /** A run longer than this fails with `HandlerTimeout` (and is retried). Defaults to none. */
  readonly timeout?: Duration.Input | undefined
  /** Skip events this group already completed (a marker per event id, kept for the retention). */
  readonly idempotent?: boolean | undefined
}

/**
 * What a subscription reports to health checks.
 *
 * @category models
 * @since 0.1.0
 */
export interface SubscriptionStatus {
  readonly group: string
  readonly source: string
  readonly circuit: "closed" | "open"
  readonly consecutiveErrors: number
  readonly lastError: string | undefined
  readonly inFlight: number
}

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

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

/**
 * A name or pattern known only at runtime matches no event type of the catalog it resolves
 * against (the bus's, or the `catalog` option): the subscription would never receive anything.
 *
 * @category errors
 * @since 0.1.0
 */
export class NoMatchingEvents extends Schema.TaggedError<NoMatchingEvents>("@hyvve/bus/Consumer/NoMatchingEvents")(
  "NoMatchingEvents",
  { source: Schema.String }
) {
  override get message(): string {
    return `no event type in the catalog is named or matches "${this.source}": add its event types to the bus's catalog (bus option \`catalog\`) or pass \`catalog\``
  }
}

/**
 * Why a subscription could not start: the pattern is invalid or matches no event type, or Redis
 * refused to create the group.
 *
 * @category errors
 * @since 0.1.0
 */
export type SubscribeError = EventError.InvalidPattern | NoMatchingEvents | RedisStream.RedisStreamError

// ---------------------------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------------------------

/**
 * Subscribes to events as Streams and runs supervised handlers.
 *
 * @category services
 * @since 0.1.0
 */
export class Consumer extends Context.Service<
  Consumer,
  {
    /**
     * A Stream of deliveries the caller settles (see `Delivery`).
     *
     * **Gotchas**: the group is created when the stream starts running, so with `startFrom: "new"`
     * events published before that are not part of it; use `subscribeScoped` to create the group
     * first.
     */
    readonly subscribe: <S extends EventType.Any | string, C extends EventType.Any = DefaultEvents>(
      source: Source<S, C>,
      options?: SubscribeOptions<C>
    ) => Stream.Stream<Delivery<EventsOf<S, C>>, SubscribeError>
    /**
     * Creates the group and starts reading now, in the current scope, and returns the Stream of
     * deliveries: events published after this returns are in it.
     */
    readonly subscribeScoped: <S extends EventType.Any | string, C extends EventType.Any = DefaultEvents>(
      source: Source<S, C>,
      options?: SubscribeOptions<C>
    ) => Effect.Effect<Stream.Stream<Delivery<EventsOf<S, C>>>, SubscribeError, Scope.Scope>
    /**
     * Starts a worker in the current scope that runs `handler` for every event and settles each
     * delivery. Returns once the group exists and the worker runs.
     */
    readonly handle: <S extends EventType.Any | string, Err, R, C extends EventType.Any = DefaultEvents>(
      source: Source<S, C>,
      handler: (event: Envelope.Envelope<EventsOf<S, C>>, info: DeliveryInfo) => Effect.Effect<void, Err, R>,
      options?: HandleOptions<C, Err>
    ) => Effect.Effect<void, SubscribeError, R | Scope.Scope>
    /** The status of every running subscription of this process. */
    readonly status: Effect.Effect<ReadonlyArray<SubscriptionStatus>>
  }
>()("@hyvve/bus/Consumer") {}

/**
 * Creates the consumer over `RedisStream`, `Retry` and `Dlq`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<
  Consumer["Service"],
  never,
  RedisStream.RedisStream | BusConfig.BusConfig | Retry.Retry | Dlq.Dlq
> = Effect.gen(function*() {
  const redis = yield* RedisStream.RedisStream
  const settings = yield* BusConfig.BusConfig
  const retry = yield* Retry.Retry
  const dlq = yield* Dlq.Dlq
  const statuses = new Map<number, () => SubscriptionStatus>()
  let nextSubscription = 0

  const start = (spec: Spec) =>
    Effect.gen(function*() {
      const engine = yield* makeEngine(spec, { redis, settings, retry, dlq })
      const id = nextSubscription++
      statuses.set(id, engine.status)
      yield* Effect.addFinalizer(() => Effect.sync(() => statuses.delete(id)))
      return engine
    })

  const subscribeScoped = <S extends EventType.Any | string, C extends EventType.Any = DefaultEvents>(
    source: Source<S, C>,
    options?: SubscribeOptions<C>
  ): Effect.Effect<Stream.Stream<Delivery<EventsOf<S, C>>>, SubscribeError, Scope.Scope> =>
    Effect.gen(function*() {
      const spec = yield* resolve(source, options, settings)
      const engine = yield* start(spec)
      // The engine decoded every envelope with the event type `spec.lookup` found for `S`, so
      // each delivery is of `EventsOf<S, C>`; TypeScript cannot follow that runtime lookup.
      return Stream.fromQueue(engine.queue) as unknown as Stream.Stream<Delivery<EventsOf<S, C>>>
    })

  const subscribe = <S extends EventType.Any | string, C extends EventType.Any = DefaultEvents>(
    source: Source<S, C>,
    options?: SubscribeOptions<C>
  ): Stream.Stream<Delivery<EventsOf<S, C>>, SubscribeError> => Stream.unwrap(subscribeScoped(source, options))

  const handle = <S extends EventType.Any | string, Err, R, C extends EventType.Any = DefaultEvents>(
    source: Source<S, C>,
    handler: (event: Envelope.Envelope<EventsOf<S, C>>, info: DeliveryInfo) => Effect.Effect<void, Err, R>,
    options?: HandleOptions<C, Err>
  ) =>
    Effect.gen(function*() {
      const spec = yield* resolve(source, options, settings)
      const engine = yield* start(spec)
      const run = yield* runHandler(engine, spec, {
        handler: handler as (event: Envelope.Envelope<EventType.Any>, info: DeliveryInfo) => Effect.Effect<void, Err, R>,
        concurrency: Math.max(1, options?.concurrency ?? 1),
        timeout: options?.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout),
        idempotent: options?.idempotent ?? false
      }, { redis, settings })
      return run
    }).pipe(Effect.annotateLogs({ package: "@hyvve/bus", module: "Consumer" }))

  return Consumer.of({
    subscribe,
    subscribeScoped,
    handle,
    status: Effect.sync(() => Array.from(statuses.values(), (status) => status()))
  })
})

/**
 * Provides the consumer; needs `RedisStream`, `BusConfig`, `Retry` and `Dlq`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Consumer, never, RedisStream.RedisStream | BusConfig.BusConfig | Retry.Retry | Dlq.Dlq> =
  Layer.effect(Consumer, make)

/**
 * Subscribes through the `Consumer` in context: `Consumer.subscribe(ApprovalApproved)`.
 *
 * @category accessors
 * @since 0.1.0
 */
export const subscribe = <S extends EventType.Any | string, C extends EventType.Any = DefaultEvents>(
  source: Source<S, C>,
  options?: SubscribeOptions<C>
): Stream.Stream<Delivery<EventsOf<S, C>>, SubscribeError, Consumer> =>
  Stream.unwrap(Consumer.useSync((consumer) => consumer.subscribe(source, options)))

/**
 * Creates the group now and returns the Stream of deliveries, through the `Consumer` in context.
 *
 * @category accessors
 * @since 0.1.0
 */
export const subscribeScoped = <S extends EventType.Any | string, C extends EventType.Any = DefaultEvents>(
  source: Source<S, C>,
  options?: SubscribeOptions<C>
): Effect.Effect<Stream.Stream<Delivery<EventsOf<S, C>>>, SubscribeError, Scope.Scope | Consumer> =>
  Consumer.use((consumer) => consumer.subscribeScoped(source, options))

/**
 * Starts a handler through the `Consumer` in context (see `Consumer.handle`).
 *
 * @category accessors
 * @since 0.1.0
 */
export const handle = <S extends EventType.Any | string, Err, R, C extends EventType.Any = DefaultEvents>(
  source: Source<S, C>,
  handler: (event: Envelope.Envelope<EventsOf<S, C>>, info: DeliveryInfo) => Effect.Effect<void, Err, R>,
  options?: HandleOptions<C, Err>
): Effect.Effect<void, SubscribeError, R | Scope.Scope | Consumer> =>
  Consumer.use((consumer) => consumer.handle(source, handler, options))

/**
 * A handler as a layer: the worker runs as long as the layer. Compose it into the app layer.
 *
 * @category layers
 * @since 0.1.0
 */
export const handler = <S extends EventType.Any | string, Err, R, C extends EventType.Any = DefaultEvents>(
  source: Source<S, C>,
  handler: (event: Envelope.Envelope<EventsOf<S, C>>, info: DeliveryInfo) => Effect.Effect<void, Err, R>,
  options?: HandleOptions<C, Err>
): Layer.Layer<never, SubscribeError, Exclude<R, Scope.Scope> | Consumer> =>
  Layer.effectDiscard(handle(source, handler, options))

// ---------------------------------------------------------------------------------------------
// internal
// ---------------------------------------------------------------------------------------------

interface Spec {
  readonly source: string
  readonly group: string
  readonly startFrom: "new" | "all"
  readonly policy: Retry.Policy
  /** Cheap test on the entry's `type` field. */
  readonly matches: (type: string) => boolean
  /** The event type to decode `type` with (undefined: not decodable by this subscription). */
  readonly lookup: (type: string) => EventType.Any | undefined
}

const resolve = <C extends EventType.Any, E>(
  source: EventType.Any | string,
  options: ResolveOptions<C, E> | undefined,
  settings: BusConfig.BusSettings
): Effect.Effect<Spec, EventError.InvalidPattern | NoMatchingEvents> =>
  Effect.gen(function*() {
    // The engine hands the policy only failures of this subscription's own handler, whose error
    // type is `E`: widening the input type to `Failure<unknown>` loses nothing it will be given.
    const policy = Retry.policy<E>(options?.retry ?? Retry.defaultSchedule, { retryable: options?.retryable }) as Retry.Policy
    const base = { startFrom: options?.startFrom ?? "new", policy } as const
    if (typeof source !== "string") {
      // The event type under its own name or any alias.
      const names = new Set<string>(EventType.names(source))
      return {
        ...base,
        source: source.type,
        group: options?.group ?? `${settings.group}:${source.type}`,
        matches: (type) => names.has(type),
        lookup: (type) => (names.has(type) ? source : undefined)
      }
    }
    const pattern = yield* EventPattern.make(source)
    const catalog: Catalog.Catalog<EventType.Any> = options?.catalog ?? settings.catalog
    // Every name (aliases included) of the event types the pattern matches under any of theirs.
    const accepted = new Map<string, EventType.Any>()
    for (const eventType of catalog.match(pattern)) {
      for (const name of EventType.names(eventType)) accepted.set(name, eventType)
    }
    if (accepted.size === 0) return yield* new NoMatchingEvents({ source })
    return {
      ...base,
      source,
      group: options?.group ?? `${settings.group}:${source}`,
      // A name the pattern matches but the catalog does not know is taken, to be dead-lettered
      // as `UnknownEventType` rather than skipped unseen.
      matches: (type) => accepted.has(type) || EventPattern.matches(pattern, type),
      lookup: (type) => accepted.get(type)
    }
  })

// What `resolve` reads of `SubscribeOptions` and `HandleOptions` (whose policy sees `E`).
type ResolveOptions<C extends EventType.Any, E> = Omit<SubscribeOptions<C>, "retry" | "retryable"> & {
  readonly retry?: Schedule.Schedule<unknown, Retry.Failure<E>> | Schedule.Schedule<unknown, unknown> | undefined
  readonly retryable?: ((failure: Retry.Failure<E>) => boolean) | undefined
}

interface Deps {
  readonly redis: RedisStream.RedisStream["Service"]
  readonly settings: BusConfig.BusSettings
  readonly retry: Retry.Retry["Service"]
  readonly dlq: Dlq.Dlq["Service"]
}

// What the engine hands out: a public Delivery plus a way to fail it with a Failure as is.
interface EngineDelivery extends Delivery<EventType.Any> {
  readonly failWith: (failure: Retry.Failure) => Effect.Effect<void, RedisStream.RedisStreamError>
}

type Decoded =
  | { readonly _tag: "Skip" }
  | { readonly _tag: "Poison"; readonly tag: string; readonly message: string }
  | { readonly _tag: "Event"; readonly event: Envelope.Envelope<EventType.Any> }

const skip: Decoded = { _tag: "Skip" }

const poisonOf = (exit: Exit.Failure<unknown, EventError.DecodeError>): Decoded => {
  const error = Cause.findErrorOption(exit.cause)
  return Option.isSome(error) ?
    { _tag: "Poison", tag: error.value._tag, message: error.value.message } :
    { _tag: "Poison", tag: "Defect", message: Cause.pretty(exit.cause) }
}

// How a delivery settles, shared by every delivery of one subscription.
interface Settle {
  readonly group: string
  readonly ack: (entry: RedisStream.GroupEntry, type: string) => Effect.Effect<void>
  readonly fail: (
    entry: RedisStream.GroupEntry,
    failure: Retry.Failure,
    event: Envelope.Envelope<EventType.Any>
  ) => Effect.Effect<void, RedisStream.RedisStreamError>
  readonly deadLetter: (
    entry: RedisStream.GroupEntry,
    failure: Retry.Failure,
    event: Envelope.Envelope<EventType.Any>
  ) => Effect.Effect<void, RedisStream.RedisStreamError>
}

// One object per delivered event, methods on the prototype: the per-event path allocates
// nothing else until the delivery settles.
class DeliveryImpl implements EngineDelivery {
  readonly settle: Settle
  readonly entry: RedisStream.GroupEntry
  readonly event: Envelope.Envelope<EventType.Any>
  constructor(settle: Settle, entry: RedisStream.GroupEntry, event: Envelope.Envelope<EventType.Any>) {
    this.settle = settle
    this.entry = entry
    this.event = event
  }
  get group() {
    return this.settle.group
  }
  get stream() {
    return this.entry.key
  }
  get entryId() {
    return this.entry.id
  }
  get attempt() {
    return this.entry.deliveries
  }
  get ack() {
    return this.settle.ack(this.entry, this.event.type)
  }
  fail(error: unknown) {
    return this.settle.fail(this.entry, Retry.failureFromError(error), this.event)
  }
  failWith(failure: Retry.Failure) {
    return this.settle.fail(this.entry, failure, this.event)
  }
  deadLetter(error: unknown) {
    return this.settle.deadLetter(this.entry, Retry.failureFromError(error), this.event)
  }
}

// Per-type counters kept as plain numbers on the hot path and published to the Metrics once
// per ack batch.
const makeCounts = (group: string) => {
  const byType = new Map<string, { delivered: number; acked: number; failed: number }>()
  return {
    count: (type: string, what: "delivered" | "acked" | "failed") => {
      let counts = byType.get(type)
      if (counts === undefined) {
        counts = { delivered: 0, acked: 0, failed: 0 }
        byType.set(type, counts)
      }
      counts[what]++
    },
    publish: Effect.suspend(() => {
      const updates: Array<Effect.Effect<void>> = []
      for (const [type, counts] of byType) {
        if (counts.delivered > 0) updates.push(Metrics.delivered(group, type, counts.delivered))
        if (counts.acked > 0) updates.push(Metrics.acked(group, type, counts.acked))
        if (counts.failed > 0) updates.push(Metrics.failed(group, type, counts.failed))
        counts.delivered = counts.acked = counts.failed = 0
      }
      return updates.length === 0 ? Effect.void : Effect.all(updates, { discard: true })
    })
  }
}

interface Engine {
  readonly queue: Queue.Queue<EngineDelivery, Cause.Done>
  readonly status: () => SubscriptionStatus
  /** Stops the producers: nothing new is read, retried or claimed. */
  readonly stop: Effect.Effect<void>
  /** Sends every ack still buffered. */
  readonly flush: Effect.Effect<void>
  readonly inFlight: () => number
}

interface PendingAck {
  readonly key: string
  readonly id: string
  readonly retried: boolean
}

// Redis errors back off from 100 ms to 30 s (×1.5 per error, jittered) for as long as Redis is
// away: a short outage is noticed and recovered from within a second or two, a long one costs
// one probe per loop every 30 s.
const backoff = Schedule.exponential("100 millis", 1.5).pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(30)))),
  Schedule.jittered
)

const makeEngine = (spec: Spec, deps: Deps): Effect.Effect<Engine, RedisStream.RedisStreamError, Scope.Scope> =>
  Effect.gen(function*() {
    const { dlq, redis, retry, settings } = deps
    const { group } = spec
    const consumer = settings.consumer
    const main = Keys.main(settings.prefix)
    const redeliver = Keys.redeliver(settings.prefix, group)
    const keys = [main, redeliver] as const
    const claimTimeoutMs = Duration.toMillis(settings.claimTimeout)

    const ensureGroups = Effect.andThen(
      redis.createGroup(main, group, spec.startFrom === "all" ? "0" : "$"),
      redis.createGroup(redeliver, group, "0")
    )
    yield* ensureGroups

    const queue = yield* Queue.bounded<EngineDelivery, Cause.Done>(settings.batchSize * 2)
    const acks = yield* Queue.unbounded<PendingAck>()
    // Entries delivered to this consumer and not settled yet, per stream: the heartbeat keeps
    // them fresh so the sweep of another consumer does not take them.
    const held = new Map<string, Set<string>>(keys.map((key) => [key, new Set<string>()]))
    let circuit: "closed" | "open" = "closed"
    let consecutiveErrors = 0
    let lastError: string | undefined

    const release = (key: string, id: string) => held.get(key)?.delete(id)
    const counts = makeCounts(group)

    // --- settling ---------------------------------------------------------------------------

    const ackCommands = (batch: ReadonlyArray<PendingAck>): ReadonlyArray<RedisStream.Command> => {
      const byKey = new Map<string, Array<string>>()
      const retried = new Map<string, Array<string>>()
      for (const ack of batch) {
        const ids = byKey.get(ack.key) ?? []
        ids.push(ack.id)
        byKey.set(ack.key, ids)
        if (ack.retried) {
          const r = retried.get(ack.key) ?? []
          r.push(ack.id)
          retried.set(ack.key, r)
        }
      }
      const commands: Array<RedisStream.Command> = []
      for (const [key, ids] of byKey) commands.push({ _tag: "XAck", key, group, ids })
      for (const [key, ids] of retried) commands.push(...retry.clearCommands(key, group, ids))
      return commands
    }

    const sendAcks = (batch: ReadonlyArray<PendingAck>) => {
      const commands = ackCommands(batch)
      const only = commands[0]
      return commands.length === 1 && only !== undefined && only._tag === "XAck" ?
        Effect.asVoid(redis.ack(only.key, group, only.ids)) :
        Effect.asVoid(redis.transaction(commands))
    }

    // One XACK per batch: under load the queue holds many acks and they leave together.
    const flusher = Effect.gen(function*() {
      const batch = yield* Queue.takeBetween(acks, 1, 1000)
      yield* sendAcks(batch).pipe(
        Effect.tapError(recordError),
        Effect.retry(backoff)
      )
      for (const ack of batch) release(ack.key, ack.id)
      yield* counts.publish
      return true
    })

    const flush = Effect.gen(function*() {
      const rest = yield* Queue.clear(acks)
      if (rest.length > 0) {
        yield* sendAcks(rest).pipe(Effect.retry({ schedule: backoff, times: 5 }), Effect.ignore)
        for (const ack of rest) release(ack.key, ack.id)
      }
      yield* counts.publish
    })

    const moveToDlq = (
      entry: RedisStream.GroupEntry,
      eventId: string | undefined,
      error: Retry.FailureInfo,
      firstFailedAt: number | undefined
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        dlq.move({
          stream: entry.key,
          group,
          entry,
          eventId,
          attempts: entry.deliveries,
          error,
          firstFailedAt: firstFailedAt ?? now,
          lastFailedAt: now
        }))

    const deadLetter = (entry: RedisStream.GroupEntry, failure: Retry.Failure, eventId: string | undefined) =>
      Effect.gen(function*() {
        release(entry.key, entry.id)
        const record = yield* retry.record(entry.key, group, entry.id)
        yield* moveToDlq(entry, eventId, { tag: failure.tag, message: failure.message }, record?.firstFailedAt)
      })

    const fail = (entry: RedisStream.GroupEntry, failure: Retry.Failure, eventId: string) =>
      Effect.gen(function*() {
        release(entry.key, entry.id)
        const decision = yield* retry.onFailure({
          stream: entry.key,
          group,
          entryId: entry.id,
          attempt: entry.deliveries,
          failure,
          policy: spec.policy
        })
        if (decision._tag === "Exhausted") {
          return yield* moveToDlq(entry, eventId, decision.record.error, decision.record.firstFailedAt)
        }
        yield* Effect.logInfo("retry scheduled").pipe(
          Effect.annotateLogs({
            group,
            eventId,
            entryId: entry.id,
            attempt: entry.deliveries,
            delayMs: Duration.toMillis(decision.delay),
            error: failure.tag
          })
        )
      })

    // --- decoding ---------------------------------------------------------------------------

    const poison = (entry: RedisStream.GroupEntry, tag: string, message: string) =>
      deadLetter(entry, { tag, message, error: undefined }, undefined).pipe(
        Effect.catch((error) =>
          Effect.logError("could not dead-letter an undecodable entry; it stays pending").pipe(
            Effect.annotateLogs({ group, entryId: entry.id, error: error.message })
          )
        )
      )

    // Decodes one entry synchronously (this runs for every entry read, so no fiber and no Effect
    // per entry): entries of other types are skipped by their `type` field without parsing JSON.
    const decode = (entry: RedisStream.GroupEntry): Decoded => {
      const type = entry.fields["type"]
      if (type !== undefined && !spec.matches(type)) return skip
      const json = entry.fields["event"]
      if (json === undefined) return { _tag: "Poison", tag: "MalformedEnvelope", message: "the entry has no `event` field" }
      const raw = Envelope.decodeJson(json)
      if (Exit.isFailure(raw)) return poisonOf(raw)
      if (type === undefined && !spec.matches(raw.value.type)) return skip
      const eventType = spec.lookup(raw.value.type)
      if (eventType === undefined) {
        return { _tag: "Poison", tag: "UnknownEventType", message: `no event type "${raw.value.type}" in the catalog` }
      }
      const decoded = EventType.fromRaw(eventType, raw.value)
      return Exit.isFailure(decoded) ? poisonOf(decoded) : { _tag: "Event", event: decoded.value }
    }

    const settle: Settle = {
      group,
      // The entry stays held (kept fresh by the heartbeat, skipped by the sweep) until its XACK
      // lands: an ack still waiting on Redis must not make the entry look abandoned.
      ack: (entry, type) =>
        Effect.sync(() => {
          counts.count(type, "acked")
          Queue.offerUnsafe(acks, { key: entry.key, id: entry.id, retried: entry.deliveries > 1 })
        }),
      fail: (entry, failure, event) =>
        Effect.suspend(() => {
          counts.count(event.type, "failed")
          return fail(entry, failure, event.id)
        }),
      deadLetter: (entry, failure, event) => deadLetter(entry, failure, event.id)
    }

    const deliver = (entries: ReadonlyArray<RedisStream.GroupEntry>) =>
      Effect.suspend(() => {
        const out: Array<EngineDelivery> = []
        const poisoned: Array<readonly [RedisStream.GroupEntry, Extract<Decoded, { _tag: "Poison" }>]> = []
        for (const entry of entries) {
          const decoded = decode(entry)
          if (decoded._tag === "Event") {
            held.get(entry.key)?.add(entry.id)
            counts.count(decoded.event.type, "delivered")
            out.push(new DeliveryImpl(settle, entry, decoded.event))
          } else if (decoded._tag === "Skip") {
            // Not for this subscription: acknowledged unread.
            Queue.offerUnsafe(acks, { key: entry.key, id: entry.id, retried: false })
          } else {
            held.get(entry.key)?.add(entry.id)
            poisoned.push([entry, decoded])
          }
        }
        const offer = out.length > 0 ? Queue.offerAll(queue, out) : Effect.void
        if (poisoned.length === 0) return offer
        return Effect.andThen(
          Effect.forEach(poisoned, ([entry, p]) => poison(entry, p.tag, p.message), { discard: true }),
          offer
        )
      })

    // --- producers --------------------------------------------------------------------------

    const recordSuccess = Effect.sync(() => {
      if (circuit === "open") {
        circuit = "closed"
        return true
      }
      consecutiveErrors = 0
      return false
    }).pipe(
      Effect.flatMap((closed) => {
        consecutiveErrors = 0
        return closed ? Effect.logInfo("Redis answers again: circuit closed").pipe(Effect.annotateLogs({ group })) : Effect.void
      })
    )

    const recordError = (error: RedisStream.RedisStreamError) =>
      Effect.suspend(() => {
        consecutiveErrors++
        lastError = error.message
        if (consecutiveErrors === 1) {
          return Effect.logWarning("Redis error; backing off").pipe(Effect.annotateLogs({ group, error: error.message }))
        }
        if (consecutiveErrors >= settings.circuitThreshold && circuit === "closed") {
          circuit = "open"
          return Effect.logError("circuit open: Redis keeps failing; probing on backoff").pipe(
            Effect.annotateLogs({ group, consecutiveErrors, error: error.message })
          )
        }
        return Effect.void
      }).pipe(Effect.andThen(error.kind === "NoGroup" ? Effect.ignore(ensureGroups) : Effect.void))

    // Runs one producer step forever; Redis errors back off and count toward the circuit.
    // `step` succeeds with whether Redis answered: a step that sent nothing (an empty heartbeat)
    // proves nothing about Redis and must not close the circuit.
    const supervise = (name: string, step: Effect.Effect<boolean, RedisStream.RedisStreamError>) =>
      step.pipe(
        Effect.tap((answered) =>
          answered && (consecutiveErrors > 0 || circuit === "open") ? recordSuccess : Effect.void
        ),
        Effect.tapError(recordError),
        Effect.retry(backoff),
        Effect.forever,
        // The backoff never gives up: Redis errors cannot escape this loop.
        Effect.orDie,
        Effect.annotateLogs({ package: "@hyvve/bus", module: "Consumer", fiber: name, group })
      )

    const read = Effect.flatMap(
      redis.readGroup({ keys, group, consumer, count: settings.batchSize, block: settings.block }),
      (entries) => Effect.as(deliver(entries), true)
    )

    const takeDue = Effect.gen(function*() {
      for (const key of keys) {
        const due = yield* retry.takeDue({ stream: key, group, consumer, count: settings.batchSize })
        yield* deliver(due)
      }
      return true
    }).pipe(Effect.tap(() => Effect.sleep(settings.retryPoll)))

    // Claims entries pending longer than the claim timeout, except those this consumer holds
    // and those waiting for a scheduled retry. `owner` limits the scan to one consumer (used at
    // start-up to resume this consumer's own pending entries at once).
    const sweep = (owner: string | undefined, minIdleMs: number) =>
      Effect.gen(function*() {
        for (const key of keys) {
          let start = "-"
          while (true) {
            const rows = yield* redis.pending({
              key,
              group,
              count: settings.batchSize,
              start,
              consumer: owner,
              minIdle: minIdleMs
            })
            const mine = held.get(key)
            const candidates = rows.filter((row) => !mine?.has(row.id)).map((row) => row.id)
            const waiting = yield* retry.scheduled(key, group, candidates)
            const ids = candidates.filter((id) => !waiting.has(id))
            if (ids.length > 0) {
              const claimed = yield* redis.claim({ key, group, consumer, minIdle: minIdleMs, ids })
              if (claimed.length > 0) {
                yield* Effect.logInfo("claimed stale entries").pipe(Effect.annotateLogs({ count: claimed.length, key }))
              }
              yield* deliver(claimed)
            }
            if (rows.length < settings.batchSize) break
            start = RedisStream.nextEntryId(rows[rows.length - 1]!.id)
          }
        }
      })

    const heartbeat = Effect.gen(function*() {
      let sent = false
      for (const [key, ids] of held) {
        if (ids.size > 0) {
          yield* redis.claim({ key, group, consumer, minIdle: 0, ids: Array.from(ids), justId: true })
          sent = true
        }
      }
      return sent
    })

    const every = <A>(interval: Duration.Duration, step: Effect.Effect<A, RedisStream.RedisStreamError>) =>
      Effect.andThen(Effect.sleep(interval), step)

    const sweepInterval = Duration.millis(Math.max(50, claimTimeoutMs / 2))
    const heartbeatInterval = Duration.millis(Math.max(20, claimTimeoutMs / 3))

    // Registration order is shutdown order reversed: the final flush runs last, after the
    // heartbeat stops, which is after the producers stop.
    yield* Effect.addFinalizer(() => flush)
    yield* Effect.forkScoped(supervise("flusher", flusher))
    yield* Effect.forkScoped(supervise("heartbeat", every(heartbeatInterval, heartbeat)))
    const producers = yield* FiberSet.make<never, never>()
    // This consumer's own pending entries (a restart under the same name) are resumed before
    // new entries are read, so none is delivered twice in this process.
    yield* FiberSet.run(
      producers,
      Effect.andThen(
        sweep(consumer, 0).pipe(Effect.tapError(recordError), Effect.retry(backoff), Effect.orDie),
        supervise("reader", read)
      )
    )
    yield* FiberSet.run(producers, supervise("retries", takeDue))
    yield* FiberSet.run(producers, supervise("sweeper", every(sweepInterval, Effect.as(sweep(undefined, claimTimeoutMs), true))))

    const inFlight = () => {
      let n = 0
      for (const ids of held.values()) n += ids.size
      return n
    }

    return {
      queue,
      stop: FiberSet.clear(producers),
      flush,
      inFlight,
      status: () => ({ group, source: spec.source, circuit, consecutiveErrors, lastError, inFlight: inFlight() })
    } satisfies Engine
  })

const runHandler = <Err, R>(
  engine: Engine,
  spec: Spec,
  options: {
    readonly handler: (event: Envelope.Envelope<EventType.Any>, info: DeliveryInfo) => Effect.Effect<void, Err, R>
    readonly concurrency: number
    readonly timeout: Duration.Duration | undefined
    readonly idempotent: boolean
  },
  deps: Pick<Deps, "redis" | "settings">
): Effect.Effect<void, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const { redis, settings } = deps
    const markerTtl = settings.retention

    // What happens after a failed run: the retry policy (or the DLQ) takes the delivery.
    const onFailure = (delivery: EngineDelivery, cause: Cause.Cause<unknown>): Effect.Effect<void, RedisStream.RedisStreamError> => {
      // Interrupted at shutdown: not handled, so not settled; the entry stays pending.
      if (Cause.hasInterruptsOnly(cause)) return Effect.interrupt
      const failure = Retry.failureFromCause(cause)
      return Effect.logWarning("handler failed").pipe(
        Effect.annotateLogs({ type: delivery.event.type, attempt: delivery.attempt, error: failure.message }),
        Effect.andThen(delivery.failWith(failure))
      )
    }

    const onSuccess = (delivery: EngineDelivery) =>
      options.idempotent ?
        Effect.andThen(redis.setMarker(Keys.done(settings.prefix, spec.group, delivery.event.id), markerTtl), delivery.ack) :
        delivery.ack

    // Runs the handler for one delivery and settles it. This is the per-event path, so it is one
    // chain of combinators (no generator), with the clock read synchronously.
    const runOne = (delivery: EngineDelivery): Effect.Effect<void, never, R> => {
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
              "messaging.consumer.group.name": spec.group,
              "messaging.message.id": event.id,
              "hyvve.event.type": event.type,
              "hyvve.attempt": delivery.attempt
            }
          }, noStackTrace)
        ),
        event.traceparent
      )
      const run = Effect.clockWith((clock) => {
        const startedAt = clock.currentTimeMillisUnsafe()
        return Effect.matchCauseEffect(traced, {
          onSuccess: () =>
            Effect.andThen(
              Metrics.handlerDuration(spec.group, clock.currentTimeMillisUnsafe() - startedAt),
              onSuccess(delivery)
            ),
          onFailure: (cause) =>
            Effect.andThen(
              Metrics.handlerDuration(spec.group, clock.currentTimeMillisUnsafe() - startedAt),
              onFailure(delivery, cause)
            )
        })
      })
      const checked = options.idempotent ?
        Effect.flatMap(redis.markersExist([Keys.done(settings.prefix, spec.group, event.id)]), ([done]) =>
          done === true ?
            Effect.andThen(Effect.logDebug("skipping an event this group already completed"), delivery.ack) :
            run) :
        run
      return checked.pipe(
        Effect.catch((error) =>
          Effect.logError("could not settle a delivery; it stays pending and will be redelivered").pipe(
            Effect.annotateLogs({ entryId: delivery.entryId, error: error.message })
          )
        ),
        Effect.annotateLogs({
          group: spec.group,
          eventId: event.id,
          correlationId: event.correlationId,
          tenantId: event.tenantId
        })
      )
    }

    // `concurrency` long-lived workers take deliveries from the engine's queue, one event at a
    // time each: no fiber, semaphore or race per event. With one worker, events are handled in
    // stream order.
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

    // Graceful shutdown: stop reading, let running handlers finish (bounded), leave queued
    // deliveries pending for whoever reads next, then the engine's own finalizers flush acks.
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
        yield* engine.flush
      }).pipe(Effect.annotateLogs({ package: "@hyvve/bus", module: "Consumer", group: spec.group }))
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

