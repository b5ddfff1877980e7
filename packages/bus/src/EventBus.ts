/**
 * Composes the bus: Publisher, Consumer, Dlq and Health over one `RedisStream` and one
 * `BusConfig`. `layerConfig` (exported as `EventBusLive`) reads everything from the environment;
 * `layerMemory` is the same bus over the in-memory backend, for unit tests (`TestClock` drives
 * its backoff, retries and claims).
 *
 * @since 0.1.0
 */
import type { Config } from "effect"
import { Layer } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as Consumer from "./Consumer.ts"
import * as Dlq from "./Dlq.ts"
import * as Health from "./Health.ts"
import * as Publisher from "./Publisher.ts"
import * as RedisStream from "./RedisStream.ts"

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

const services = Layer.mergeAll(Publisher.layer, Dlq.layer, Health.layer.pipe(Layer.provideMerge(Consumer.layer)))

/**
 * Provides the bus over a Redis node, with explicit options.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: {
  readonly redis: RedisStream.RedisStreamOptions
  readonly bus?: BusConfig.Options | undefined
}): Layer.Layer<Services, RedisStream.RedisStreamError> =>
  services.pipe(Layer.provideMerge(RedisStream.layer(options.redis)), Layer.provideMerge(BusConfig.layer(options.bus)))

/**
 * Provides the bus configured from the environment: `REDIS_URL` and the `HYVVE_*` settings of
 * `BusConfig.config`; `overrides` are defaults that the environment can change.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  overrides: BusConfig.Options = {}
): Layer.Layer<Services, RedisStream.RedisStreamError | Config.ConfigError> =>
  services.pipe(Layer.provideMerge(RedisStream.layerConfig()), Layer.provideMerge(BusConfig.layerConfig(overrides)))

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
export const layerMemory = (options: BusConfig.Options = {}): Layer.Layer<Services> =>
  services.pipe(Layer.provideMerge(RedisStream.layerMemory), Layer.provideMerge(BusConfig.layer(options)))
