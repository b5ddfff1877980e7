/**
 * Consumes typed events. Every subscription has its own consumer group (a stable name, given or
 * derived from the app group and the event or pattern), so one handler's failure never re-runs
 * another's. By default the group reads the stream itself. With an `application` setting
 * (`HYVVE_APP`) a subscription is **routed**: the application's processes read the stream once
 * and forward each event only to the inboxes of the subscriptions that take it, and the group
 * reads its inbox (`internal/router.ts`), so an event costs the same however many subscriptions
 * skip it. `isolated: true` and `startFrom: "all"` keep a group of its own on the stream.
 *
 * - `subscribe(event | pattern)` is a `Stream` of `Delivery` values the caller settles.
 * - `handle(event | pattern, handler)` forks a supervised worker pool into the current scope: ack
 *   on success, the retry policy on failure, dead-letter when exhausted, a concurrency bound
 *   (in order at concurrency 1), a per-handler timeout and optional idempotency.
 *
 * A name or pattern resolves against the bus's catalog (`BusConfig.catalog`, or the `catalog`
 * option) and matches event types under their aliases too. One that matches nothing does not
 * compile when it is a literal (`Source`), and fails with `NoMatchingEvents` when the
 * subscription starts when it is known only at runtime.
 *
 * A subscription reads the streams of the bus's topology (`Topology`) that can hold its event
 * types: the one stream (`single`), its types' families (`family`), every partition
 * (`partitioned`), and during a migration the previous topology's streams too. It runs one engine
 * per stream, so `concurrency` is per stream: at concurrency 1 the events of one stream (one
 * family, one partition key) are handled in stream order. `subscribe` merges the streams.
 *
 * This module is the public API. The engine of a subscription (reader, retry poller, sweeper,
 * heartbeat) is `internal/subscription.ts`; every outcome of a delivery is decided and written by
 * `internal/settlement.ts`; the handler's workers and graceful shutdown are
 * `internal/workerPool.ts`; backoff and circuit are `internal/supervision.ts`.
 *
 * @since 0.1.0
 */
import type { Catalog, Envelope } from "@hyvve/schema"
import { EventPattern, EventType } from "@hyvve/schema"
import type { EventError } from "@hyvve/schema"
import { type Cause, Context, Duration, Effect, Layer, Queue, RcMap, Schedule, Schema, Scope, Stream } from "effect"
import * as BusConfig from "./BusConfig.ts"
import type { Delivery, DeliveryInfo } from "./Delivery.ts"
import * as DeliveryLog from "./DeliveryLog.ts"
import * as RedisStream from "./RedisStream.ts"
import * as Retry from "./Retry.ts"
import * as Topology from "./Topology.ts"
import * as Registry from "./internal/registry.ts"
import * as Router from "./internal/router.ts"
import * as StreamRegistry from "./internal/streamRegistry.ts"
import * as Subscription from "./internal/subscription.ts"
import * as WorkerPool from "./internal/workerPool.ts"

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
  /**
   * Where a new group starts: `"new"` events only (default) or `"all"` retained events. `"all"`
   * reads the stream in a group of its own (it is never routed).
   */
  readonly startFrom?: "new" | "all" | undefined
  /**
   * Read the stream in a group of its own even when the bus has an `application` (a replay
   * target, or a subscription whose lag must not depend on the application's router). Defaults
   * to false.
   */
  readonly isolated?: boolean | undefined
  /** The retry delays. Defaults to `Retry.defaultSchedule` (1 min, 5 min, 30 min, then DLQ). */
  readonly retry?: Schedule.Schedule<unknown, Retry.Failure> | Schedule.Schedule<unknown, unknown> | undefined
  /** Which failures are retried. Defaults to `Retry.isRetryable`. */
  readonly retryable?: ((failure: Retry.Failure) => boolean) | undefined
  /**
   * At most this many attempts in all (the first delivery included), whatever `retry` allows:
   * `maxAttempts: 3` retries twice at most.
   */
  readonly maxAttempts?: number | undefined
  /** This process's consumer name in the group. Defaults to the bus's `consumer` setting. */
  readonly consumer?: string | undefined
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
  /**
   * Events re-delivered by a replay job (they carry `event.replay`): `"deliver"` them (default)
   * or `"skip"` them (acked unhandled).
   */
  readonly replays?: "deliver" | "skip" | undefined
}

/**
 * What a subscription reports to health checks.
 *
 * @category models
 * @since 0.1.0
 */
export interface SubscriptionStatus {
  readonly group: string
  /** The stream this part of the subscription reads (one status per stream it reads). */
  readonly stream: string
  readonly consumer: string
  readonly source: string
  readonly circuit: "closed" | "open"
  readonly consecutiveErrors: number
  readonly lastError: string | undefined
  /** Deliveries handed out and not settled yet. */
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
export const HandlerTimeout = WorkerPool.HandlerTimeout

/**
 * @category errors
 * @since 0.1.0
 */
export type HandlerTimeout = WorkerPool.HandlerTimeout

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
 * Creates the consumer over `RedisStream`; the application routers it starts (with an
 * `application` setting) live at most as long as the scope.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<
  Consumer["Service"],
  never,
  RedisStream.RedisStream | BusConfig.BusConfig | Scope.Scope
> = Effect.gen(
  function*() {
    const redis = yield* RedisStream.RedisStream
    const settings = yield* BusConfig.BusConfig
    // The delivery log of the layer's context, unless the subscribing code provides its own.
    const layerLog = yield* DeliveryLog.DeliveryLog
    const statuses = new Map<number, () => SubscriptionStatus>()
    let nextSubscription = 0

    const track = (status: () => SubscriptionStatus) =>
      Effect.gen(function*() {
        const id = nextSubscription++
        statuses.set(id, status)
        yield* Effect.addFinalizer(() => Effect.sync(() => statuses.delete(id)))
      })

    // One router per stream in this process, running while a routed subscription of it runs. No
    // idle time to live: the scope that releases the last reference stops the router itself, so a
    // shutdown waits for its last forward step.
    const { application } = settings
    // Keyed by stream key (an RcMap compares keys by value); the stream's keys are noted first.
    const streamsByKey = new Map<string, Topology.StreamKeys>()
    const routers = application === undefined ? undefined : yield* RcMap.make({
      lookup: (key: string) =>
        Effect.suspend(() => {
          const stream = streamsByKey.get(key)
          return stream === undefined ?
            Effect.die(new Error(`no stream noted for the router of ${key}`)) :
            Effect.tap(Router.make(stream, { redis, settings, application }), (router) => track(router.status))
        })
    })

    // One engine per stream the subscription's types can be in (see `Topology`), the previous
    // topology's streams included while a migration drains them. Each stream's engine (and what
    // `withEngine` adds, e.g. its worker pool) lives in a scope of its own, and those scopes close
    // in parallel: shutdown takes one `shutdownTimeout`, not one per stream. With an application,
    // a subscription reads its inbox, fed by the stream's router, instead of the stream (not when
    // isolated, reading from the start, or draining a previous topology's stream).
    // Start-up is a few round trips sent together: a process starting fifty subscriptions while
    // one drains a backlog waits for each behind the drain's traffic.
    const watchesRegistry = (source: string) => Topology.of(settings).open && source.startsWith("*")

    const start = <R>(
      resolved: Resolved,
      isolated: boolean,
      withEngine: (engine: Subscription.Engine) => Effect.Effect<void, never, R | Scope.Scope>
    ) =>
      Effect.gen(function*() {
        const log = (yield* DeliveryLog.DeliveryLog) ?? layerLog
        const streams = Topology.streamsToRead(settings, resolved.types)
        const all = yield* Scope.fork(yield* Effect.scope, "parallel")
        const startOne = (migrating: boolean, stream: Topology.StreamKeys, direct: boolean) =>
          Effect.gen(function*() {
            // While migrating, publishers may write the new streams before this group exists there:
            // it starts at their beginning, so nothing published under the new topology is missed.
            // The same for a stream that appeared while the subscription ran (see `watch` below).
            const startFrom = migrating ? "all" : resolved.spec.startFrom
            const spec: Subscription.Spec = { ...resolved.spec, startFrom, stream }
            let engine: Subscription.Engine
            if (routers === undefined || isolated || startFrom !== "new" || direct) {
              engine = yield* Subscription.make(spec, { redis, settings, log })
            } else {
              streamsByKey.set(stream.key, stream)
              const router = yield* RcMap.get(routers, stream.key)
              // The inbox group exists before the route does, so nothing forwarded is missed.
              engine = yield* Subscription.make({ ...spec, inbox: router.inbox(spec.group) }, { redis, settings, log })
              yield* router.register({ group: spec.group, source: spec.source, names: spec.names })
            }
            yield* track(engine.status)
            yield* withEngine(engine)
            return engine
          })
        const startIn = (migrating: boolean, stream: Topology.StreamKeys, direct = false) =>
          Effect.flatMap(Scope.fork(all, "sequential"), (one) => Scope.provide(startOne(migrating, stream, direct), one))
        // Under `family`, a pattern whose first segment is a wildcard (`**`, `*.approved`) can
        // match families this catalog does not list: it also reads the streams the registry
        // names, those there at start as the others, those recorded later from their beginning
        // (a publisher records a stream before its first append to it). Always with a group on the
        // stream, never through the router: one found while running is read so from its start,
        // and after a restart the same group goes on where it was (pending entries included).
        const watching = watchesRegistry(resolved.spec.source)
        const extra = watching ?
          Effect.map(
            StreamRegistry.recorded(redis, settings).pipe(Effect.orElseSucceed(() => [])),
            (found) => {
              const keys = new Set(streams.map(({ stream }) => stream.key))
              return found.filter((stream) => !keys.has(stream.key)).map((stream) => ({ stream, migrating: false }))
            }
          ) :
          Effect.succeed([])
        const [engines, , more] = yield* Effect.all([
          Effect.forEach(streams, ({ migrating, stream }) => startIn(migrating, stream), { concurrency: "unbounded" }),
          Registry.register(redis, settings.prefix, resolved.spec.group, resolved.spec.source),
          Effect.flatMap(extra, (found) =>
            Effect.as(
              Effect.forEach(found, ({ migrating, stream }) => startIn(migrating, stream, true), { concurrency: "unbounded" }),
              found
            ))
        ], { concurrency: "unbounded" })
        if (watching) {
          const started = new Set([...streams, ...more].map(({ stream }) => stream.key))
          const watch = Effect.gen(function*() {
            yield* Effect.sleep(settings.claimTimeout)
            const found = yield* StreamRegistry.recorded(redis, settings).pipe(Effect.orElseSucceed(() => []))
            for (const stream of found) {
              if (started.has(stream.key)) continue
              started.add(stream.key)
              yield* Effect.logInfo("reading a stream recorded since the subscription started").pipe(
                Effect.annotateLogs({ group: resolved.spec.group, stream: stream.key })
              )
              yield* startIn(true, stream, true)
            }
          })
          yield* Effect.forkIn(Effect.forever(watch), all)
        }
        return engines
      })

    const subscribeScoped = <S extends EventType.Any | string, C extends EventType.Any = DefaultEvents>(
      source: Source<S, C>,
      options?: SubscribeOptions<C>
    ): Effect.Effect<Stream.Stream<Delivery<EventsOf<S, C>>>, SubscribeError, Scope.Scope> =>
      Effect.gen(function*() {
        const resolved = yield* resolve(source, options, settings, false)
        if (watchesRegistry(resolved.spec.source)) {
          // Engines keep coming while streams are recorded: each joins the merge as it starts.
          const started = yield* Queue.unbounded<Subscription.Engine, Cause.Done>()
          yield* Effect.addFinalizer(() => Queue.end(started))
          yield* start(resolved, options?.isolated ?? false, (engine) => Queue.offer(started, engine))
          const merged = Stream.fromQueue(started).pipe(
            Stream.flatMap((engine) => Stream.fromQueue(engine.queue), { concurrency: "unbounded" })
          )
          // As below: the engines decoded for `S`.
          return merged as unknown as Stream.Stream<Delivery<EventsOf<S, C>>>
        }
        const engines = yield* start(resolved, options?.isolated ?? false, () => Effect.void)
        const deliveries = engines.length === 1 ?
          Stream.fromQueue(engines[0]!.queue) :
          Stream.mergeAll(engines.map((engine) => Stream.fromQueue(engine.queue)), { concurrency: "unbounded" })
        // The engines decoded every envelope with the event type `spec.lookup` found for `S`, so
        // each delivery is of `EventsOf<S, C>`; TypeScript cannot follow that runtime lookup.
        return deliveries as unknown as Stream.Stream<Delivery<EventsOf<S, C>>>
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
        const resolved = yield* resolve(source, options, settings, options?.idempotent ?? false)
        const spec = options?.replays === "skip" ? { ...resolved.spec, skipReplays: true } : resolved.spec
        // A pool per stream: `concurrency` bounds each, so order holds per stream at 1.
        yield* start({ spec, types: resolved.types }, options?.isolated ?? false, (engine) =>
          WorkerPool.run(engine, {
            group: spec.group,
            // `EventsOf<S, C>` is what the engine decodes for this spec (see `subscribeScoped`).
            handler: handler as (event: Envelope.Envelope<EventType.Any>, info: DeliveryInfo) => Effect.Effect<void, Err, R>,
            concurrency: Math.max(1, options?.concurrency ?? 1),
            timeout: options?.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout),
            idempotent: spec.idempotent,
            settings
          }))
      }).pipe(Effect.annotateLogs({ package: "@hyvve/bus", module: "Consumer" }))

    return Consumer.of({
      subscribe,
      subscribeScoped,
      handle,
      status: Effect.sync(() => Array.from(statuses.values(), (status) => status()))
    })
  }
)

/**
 * Provides the consumer; needs `RedisStream` and `BusConfig`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Consumer, never, RedisStream.RedisStream | BusConfig.BusConfig> = Layer.effect(
  Consumer,
  make
)

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

const resolve = <C extends EventType.Any, E>(
  source: EventType.Any | string,
  options: ResolveOptions<C, E> | undefined,
  settings: BusConfig.BusSettings,
  idempotent: boolean
): Effect.Effect<Resolved, EventError.InvalidPattern | NoMatchingEvents> =>
  Effect.gen(function*() {
    const retry: Schedule.Schedule<unknown, Retry.Failure<E>> = options?.retry ?? Retry.defaultSchedule
    const schedule = options?.maxAttempts === undefined ?
      retry :
      Schedule.upTo(retry, { times: Math.max(0, Math.floor(options.maxAttempts) - 1) })
    // The engine hands the policy only failures of this subscription's own handler, whose error
    // type is `E`: widening the input type to `Failure<unknown>` loses nothing it will be given.
    const policy = Retry.policy<E>(schedule, { retryable: options?.retryable }) as Retry.Policy
    const base = {
      startFrom: options?.startFrom ?? "new",
      policy,
      idempotent,
      consumer: options?.consumer ?? settings.consumer
    } as const
    if (typeof source !== "string") {
      // The event type under its own name or any alias.
      const names = new Set<string>(EventType.names(source))
      return {
        spec: {
          ...base,
          source: source.type,
          group: options?.group ?? `${settings.group}:${source.type}`,
          names: Array.from(names),
          matches: (type) => names.has(type),
          lookup: (type) => (names.has(type) ? source : undefined)
        },
        types: [source.type]
      }
    }
    const pattern = yield* EventPattern.make(source)
    const catalog: Catalog.Catalog<EventType.Any> = options?.catalog ?? settings.catalog
    // Every name (aliases included) of the event types the pattern matches under any of theirs.
    const accepted = new Map<string, EventType.Any>()
    // Events are published under their type name, so those name the streams to read.
    const types: Array<string> = []
    for (const eventType of catalog.match(pattern)) {
      types.push(eventType.type)
      for (const name of EventType.names(eventType)) accepted.set(name, eventType)
    }
    if (accepted.size === 0) return yield* new NoMatchingEvents({ source })
    return {
      spec: {
        ...base,
        source,
        group: options?.group ?? `${settings.group}:${source}`,
        names: Array.from(accepted.keys()),
        // A name the pattern matches but the catalog does not know is taken, to be dead-lettered
        // as `UnknownEventType` rather than skipped unseen.
        matches: (type) => accepted.has(type) || EventPattern.matches(pattern, type),
        lookup: (type) => accepted.get(type)
      },
      types
    }
  })

// A subscription as resolved: the engine's spec without its stream, and the event type names
// that decide which streams it reads.
interface Resolved {
  readonly spec: Omit<Subscription.Spec, "stream">
  readonly types: ReadonlyArray<string>
}

// What `resolve` reads of `SubscribeOptions` and `HandleOptions` (whose policy sees `E`).
type ResolveOptions<C extends EventType.Any, E> = Omit<SubscribeOptions<C>, "retry" | "retryable"> & {
  readonly retry?: Schedule.Schedule<unknown, Retry.Failure<E>> | Schedule.Schedule<unknown, unknown> | undefined
  readonly retryable?: ((failure: Retry.Failure<E>) => boolean) | undefined
}
