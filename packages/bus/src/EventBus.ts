/**
 * Composes the bus: Publisher, Consumer, Dlq, Health and Replay over one `RedisStream` and one
 * `BusConfig`, with the history (an `EventStore` and its writers, `History`) when one is given.
 * `layerConfig` (exported as `EventBusLive`) reads everything from the environment (the store
 * from `DATABASE_URL`, none without it); `layerMemory` is the same bus over the in-memory
 * backend, for unit tests (`TestClock` drives its backoff, retries and claims), with
 * `EventStore.layerMemory` as its store when asked.
 *
 * @since 0.1.0
 */
import type { Config } from "effect"
import { Layer } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as Consumer from "./Consumer.ts"
import * as Dlq from "./Dlq.ts"
import * as EventStore from "./EventStore.ts"
import * as Health from "./Health.ts"
import * as History from "./History.ts"
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
 * The bus's services over a `RedisStream` and a `BusConfig` provided from outside (several nodes
 * sharing one stream, in tests). The writers provide the `DeliveryLog` the consumers report to,
 * so they are built first.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerServices = <E = never>(
  options: HistoryOptions<E> = {}
): Layer.Layer<Exclude<Services, RedisStream.RedisStream | BusConfig.BusConfig>, E, RedisStream.RedisStream | BusConfig.BusConfig> =>
  Layer.mergeAll(Publisher.layer, Dlq.layer, Replay.layer, Health.layer.pipe(Layer.provideMerge(Consumer.layer))).pipe(
    Layer.provideMerge(History.layer(options.history)),
    Layer.provideMerge(options.store ?? EventStore.layerNone)
  )

const services = layerServices

/**
 * Provides the bus over a Redis node, with explicit options.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: HistoryOptions & {
  readonly redis: RedisStream.RedisStreamOptions
  readonly bus?: BusConfig.Options | undefined
}): Layer.Layer<Services, RedisStream.RedisStreamError> =>
  services(options).pipe(Layer.provideMerge(RedisStream.layer(options.redis)), Layer.provideMerge(BusConfig.layer(options.bus)))

/**
 * Provides the bus configured from the environment: `REDIS_URL`, the `HYVVE_*` settings of
 * `BusConfig.config`, and the event store from `DATABASE_URL` (none without it: the bus runs
 * without history and says so once); `overrides` are defaults that the environment can change.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  overrides: BusConfig.Options = {}
): Layer.Layer<Services, RedisStream.RedisStreamError | Config.ConfigError> =>
  services({ store: EventStore.layerConfig() }).pipe(Layer.provideMerge(RedisStream.layerConfig()), Layer.provideMerge(BusConfig.layerConfig(overrides)))

/**
 * The bus from the environment, as an application composes it.
 *
 * @category layers
 * @since 0.1.0
 */
export const EventBusLive: Layer.Layer<Services, RedisStream.RedisStreamError | Config.ConfigError> = layerConfig()

/**
 * Provides the bus over the in-memory backend: same semantics, no Redis. Each build is a fresh,
 * empty bus.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory = (options: BusConfig.Options = {}, history: HistoryOptions = {}): Layer.Layer<Services> =>
  services(history).pipe(Layer.provideMerge(RedisStream.layerMemory), Layer.provideMerge(BusConfig.layer(options)))
