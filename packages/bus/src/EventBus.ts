/**
 * Composes the bus: Publisher, Consumer, Dlq, Health and Replay over one `RedisStream` and one
 * `BusConfig`, with the history (an `EventStore` and its writers, `History`) when one is given.
 * `layer` takes everything in code; `layerFromEnv` (`EventBusLive` is `layerFromEnv()`) reads
 * `REDIS_URL`, the `HYVVE_*` settings and the store from `DATABASE_URL` (none without it),
 * options given in code winning over the environment as in Effect's own `layerFromEnv`;
 * `layerMemory` is the same bus over the in-memory backend, for unit tests (`TestClock` drives
 * its backoff, retries and claims, see `Testing`), with `EventStore.layerMemory` as its store when
 * asked; `layerServices` is the bus without a backend or settings, for compositions of your own
 * (several bus nodes over one `RedisStream`, a `RedisStream` wrapped for fault injection).
 *
 * The bus options include the application's event `catalog` (merged with the platform catalog;
 * patterns resolve against it) and the `eventId` generator, both fixed when the layer is built.
 *
 * @since 0.1.0
 */
import type { Config } from "effect"
import { Effect, Layer } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as Consumer from "./Consumer.ts"
import * as Dlq from "./Dlq.ts"
import * as EventStore from "./EventStore.ts"
import * as Health from "./Health.ts"
import * as History from "./History.ts"
import * as IoRedisStream from "./IoRedisStream.ts"
import * as Publisher from "./Publisher.ts"
import * as RedisStream from "./RedisStream.ts"
import * as Replay from "./Replay.ts"

/**
 * Everything the bus provides.
 *
 * @category models
 * @since 0.1.0
 */
export type Services =
  | Publisher.Publisher
  | Consumer.Consumer
  | Dlq.Dlq
  | Health.Health
  | RedisStream.RedisStream
  | BusConfig.BusConfig
  | EventStore.EventStore
  | History.History
  | Replay.Replay

/**
 * The history of a bus: its store (none by default) and the options of its writers.
 *
 * @category models
 * @since 0.2.0
 */
export interface HistoryOptions<E = never> {
  /** `EventStore.layerPg(...)`, `EventStore.layerMemory`, ... Defaults to `EventStore.layerNone`. */
  readonly store?: Layer.Layer<EventStore.EventStore, E> | undefined
  readonly history?: History.Options | undefined
}

/**
 * The bus services without a backend: Publisher, Consumer, Dlq, Health, Replay and the history
 * over the `RedisStream` and `BusConfig` you provide. Each build is one bus node (its own
 * consumer loops, retry poller and claim sweeps); nodes built over the same `RedisStream` share
 * its data, like processes sharing a Redis server. The history writers provide the
 * `DeliveryLog` the consumers report to, so they are built first.
 *
 * ```ts
 * const node = EventBus.layerServices().pipe(
 *   Layer.provide(BusConfig.layer({ consumer: "worker-1" })),
 *   Layer.provide(sharedStream) // e.g. Layer.succeedContext(context) of one RedisStream.layerMemory build
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerServices = <E = never>(
  options: HistoryOptions<E> = {}
): Layer.Layer<Exclude<Services, RedisStream.RedisStream | BusConfig.BusConfig>, E, RedisStream.RedisStream | BusConfig.BusConfig> =>
  Layer.mergeAll(Publisher.layer, Dlq.layer, Replay.layer, Health.layer.pipe(Layer.provideMerge(Consumer.layer))).pipe(
    Layer.provideMerge(History.layer(options.history)),
    Layer.provideMerge(options.store ?? EventStore.layerNone)
  )

/**
 * Provides the bus over a Redis node (`IoRedisStream.layer`), with explicit options. The
 * ioredis client is available too (`IoRedisStream.use`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <E = never>(options: HistoryOptions<E> & {
  readonly redis: RedisStream.RedisStreamOptions
  readonly bus?: BusConfig.Options | undefined
}): Layer.Layer<Services | IoRedisStream.IoRedisClient, RedisStream.RedisStreamError | E> =>
  layerServices(options).pipe(
    Layer.provideMerge(IoRedisStream.layer(options.redis)),
    Layer.provideMerge(BusConfig.layer(options.bus))
  )

/**
 * Provides the bus configured from the environment: `REDIS_URL` and the `HYVVE_*` settings (see
 * `BusConfig.layerFromEnv`), with `options` given in code laid over them: an option in code
 * always wins, the environment decides what the code leaves out. Fails with a
 * `BusConfig.ConfigError` naming the variable for a missing or bad value. The event store comes
 * from `DATABASE_URL` (none without it: the bus runs without history and says so once).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromEnv = (
  options: BusConfig.Options = {}
): Layer.Layer<
  Services | IoRedisStream.IoRedisClient,
  RedisStream.RedisStreamError | BusConfig.ConfigError | Config.ConfigError
> =>
  layerServices({ store: EventStore.layerConfig() }).pipe(
    Layer.provideMerge(Layer.unwrap(Effect.map(BusConfig.redisUrl, (url) => IoRedisStream.layer({ url })))),
    Layer.provideMerge(BusConfig.layerFromEnv(options))
  )

/**
 * The bus from the environment, as an application composes it: `layerFromEnv()`.
 *
 * @category layers
 * @since 0.1.0
 */
export const EventBusLive: Layer.Layer<
  Services | IoRedisStream.IoRedisClient,
  RedisStream.RedisStreamError | BusConfig.ConfigError | Config.ConfigError
> = layerFromEnv()

/**
 * Provides the bus over the in-memory backend: same semantics, no Redis. Each build is a fresh,
 * empty bus. For tests, `Testing` has the helpers that let its fibers run and its time pass.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory = (options: BusConfig.Options = {}, history: HistoryOptions = {}): Layer.Layer<Services> =>
  layerServices(history).pipe(Layer.provideMerge(RedisStream.layerMemory), Layer.provideMerge(BusConfig.layer(options)))
