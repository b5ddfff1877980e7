/**
 * Composes the bus: Publisher, Consumer, Retry, Dlq and Health over one `RedisStream` and one
 * `BusConfig`. `layerConfig` (exported as `EventBusLive`) reads everything from the environment;
 * `layerMemory` is the same bus over the in-memory backend, for unit tests (`TestClock` drives
 * its backoff, retries and claims, see `Testing`); `layerServices` is the bus without a backend
 * or settings, for compositions of your own (several bus nodes over one `RedisStream`, a
 * `RedisStream` wrapped for fault injection).
 *
 * @since 0.1.0
 */
import type { Config } from "effect"
import { Layer } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as Consumer from "./Consumer.ts"
import * as Dlq from "./Dlq.ts"
import * as Health from "./Health.ts"
import * as IoRedisStream from "./IoRedisStream.ts"
import * as Publisher from "./Publisher.ts"
import * as RedisStream from "./RedisStream.ts"
import * as Retry from "./Retry.ts"

/**
 * Everything the bus provides.
 *
 * @category models
 * @since 0.1.0
 */
export type Services =
  | Publisher.Publisher
  | Consumer.Consumer
  | Retry.Retry
  | Dlq.Dlq
  | Health.Health
  | RedisStream.RedisStream
  | BusConfig.BusConfig

/**
 * The bus services without a backend: Publisher, Consumer, Retry, Dlq and Health over the
 * `RedisStream` and `BusConfig` you provide. Each build is one bus node (its own consumer loops,
 * retry poller and claim sweeps); nodes built over the same `RedisStream` share its data, like
 * processes sharing a Redis server.
 *
 * ```ts
 * const node = EventBus.layerServices.pipe(
 *   Layer.provide(BusConfig.layer({ consumer: "worker-1" })),
 *   Layer.provide(sharedStream) // e.g. Layer.succeedContext(context) of one RedisStream.layerMemory build
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerServices: Layer.Layer<
  Exclude<Services, RedisStream.RedisStream | BusConfig.BusConfig>,
  never,
  RedisStream.RedisStream | BusConfig.BusConfig
> = Layer.mergeAll(Publisher.layer, Health.layer.pipe(Layer.provideMerge(Consumer.layer))).pipe(
  Layer.provideMerge(Dlq.layer),
  Layer.provideMerge(Retry.layer)
)

/**
 * Provides the bus over a Redis node (`IoRedisStream.layer`), with explicit options. The
 * ioredis client is available too (`IoRedisStream.use`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: {
  readonly redis: RedisStream.RedisStreamOptions
  readonly bus?: BusConfig.Options | undefined
}): Layer.Layer<Services | IoRedisStream.IoRedisClient, RedisStream.RedisStreamError> =>
  layerServices.pipe(
    Layer.provideMerge(IoRedisStream.layer(options.redis)),
    Layer.provideMerge(BusConfig.layer(options.bus))
  )

/**
 * Provides the bus configured from the environment: `REDIS_URL` and the `HYVVE_*` settings of
 * `BusConfig.config`; `overrides` are defaults that the environment can change.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  overrides: BusConfig.Options = {}
): Layer.Layer<Services | IoRedisStream.IoRedisClient, RedisStream.RedisStreamError | Config.ConfigError> =>
  layerServices.pipe(
    Layer.provideMerge(IoRedisStream.layerConfig()),
    Layer.provideMerge(BusConfig.layerConfig(overrides))
  )

/**
 * The bus from the environment, as an application composes it.
 *
 * @category layers
 * @since 0.1.0
 */
export const EventBusLive: Layer.Layer<
  Services | IoRedisStream.IoRedisClient,
  RedisStream.RedisStreamError | Config.ConfigError
> = layerConfig()

/**
 * Provides the bus over the in-memory backend: same semantics, no Redis. Each build is a fresh,
 * empty bus. For tests, `Testing` has the helpers that let its fibers run and its time pass.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory = (options: BusConfig.Options = {}): Layer.Layer<Services> =>
  layerServices.pipe(Layer.provideMerge(RedisStream.layerMemory), Layer.provideMerge(BusConfig.layer(options)))
