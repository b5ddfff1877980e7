/**
 * Composes the bus: Publisher, Consumer, Dlq and Health over one `RedisStream` and one
 * `BusConfig`. `layer` takes everything in code; `layerFromEnv` (`EventBusLive` is
 * `layerFromEnv()`) reads `REDIS_URL` and the `HYVVE_*` settings, options given in code winning
 * over the environment as in Effect's own `layerFromEnv`; `layerMemory` is the same bus over the
 * in-memory backend, for unit tests (`TestClock` drives its backoff, retries and claims, see
 * `Testing`); `layerServices` is the bus without a backend or settings, for compositions of your
 * own (several bus nodes over one `RedisStream`, a `RedisStream` wrapped for fault injection).
 *
 * The bus options include the application's event `catalog` (merged with the platform catalog;
 * patterns resolve against it) and the `eventId` generator, both fixed when the layer is built.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as Consumer from "./Consumer.ts"
import * as Dlq from "./Dlq.ts"
import * as Health from "./Health.ts"
import * as IoRedisStream from "./IoRedisStream.ts"
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

/**
 * The bus services without a backend: Publisher, Consumer, Dlq and Health over the
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
> = Layer.mergeAll(Publisher.layer, Dlq.layer, Health.layer.pipe(Layer.provideMerge(Consumer.layer)))

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
 * Provides the bus configured from the environment: `REDIS_URL` and the `HYVVE_*` settings (see
 * `BusConfig.layerFromEnv`), with `options` given in code laid over them: an option in code
 * always wins, the environment decides what the code leaves out. Fails with a
 * `BusConfig.ConfigError` naming the variable for a missing or bad value.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromEnv = (
  options: BusConfig.Options = {}
): Layer.Layer<Services | IoRedisStream.IoRedisClient, RedisStream.RedisStreamError | BusConfig.ConfigError> =>
  layerServices.pipe(
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
  RedisStream.RedisStreamError | BusConfig.ConfigError
> = layerFromEnv()

/**
 * Provides the bus over the in-memory backend: same semantics, no Redis. Each build is a fresh,
 * empty bus. For tests, `Testing` has the helpers that let its fibers run and its time pass.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory = (options: BusConfig.Options = {}): Layer.Layer<Services> =>
  layerServices.pipe(Layer.provideMerge(RedisStream.layerMemory), Layer.provideMerge(BusConfig.layer(options)))
