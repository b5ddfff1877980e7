/**
 * The Redis backend of `RedisStream`: a single Redis node through
 * [ioredis](https://github.com/redis/ioredis), two connections per layer however many fibers
 * read (see `internal/redisStream.ts` for the connection design).
 *
 * `ioredis` is an optional peer dependency of `@hyvve/bus`: it and the backend's Lua scripts are
 * loaded when one of these layers is built, never when the package is imported, so an application
 * (or a test) that only uses `EventBus.layerMemory` does not need it installed.
 *
 * `IoRedisClient` hands out the backend's command connection for what the bus does not cover
 * (like Effect's `NodeRedis`):
 *
 * ```ts
 * const memory = IoRedisStream.use((client) => client.info("memory"))
 * ```
 *
 * @since 0.1.0
 */
import type { Scope } from "effect"
import { Config, Context, Effect, Layer } from "effect"
import type { Redis } from "ioredis"
import * as BusConfig from "./BusConfig.ts"
import type { RedisStreamError, RedisStreamOptions } from "./RedisStream.ts"
import { RedisStream } from "./RedisStream.ts"

/**
 * The ioredis connection the `RedisStream` backend sends its non-blocking commands on.
 *
 * It is shared with the bus, so keep to commands that answer at once: a blocking command (`BLPOP`,
 * `XREAD BLOCK`, `WAIT`) holds up the bus (whose calls fail after the backend's `commandTimeout`
 * meanwhile), and `SUBSCRIBE` or `MONITOR` would take the connection away from it;
 * `client.duplicate()` gives a connection of your own for those (close it yourself). Commands fail
 * at once, without queueing, while Redis is unreachable. `use` fails after the `commandTimeout`
 * when `f`'s promise has not settled by then; the client itself sets no timeout on its commands.
 *
 * @category services
 * @since 0.1.0
 */
export class IoRedisClient extends Context.Service<
  IoRedisClient,
  {
    readonly client: Redis
    /** Runs `f` with the client; a rejection becomes a `RedisStreamError` (command `"use"`). */
    readonly use: <A>(f: (client: Redis) => Promise<A>) => Effect.Effect<A, RedisStreamError>
  }
>()("@hyvve/bus/IoRedisClient") {}

/**
 * Runs `f` with the ioredis client of the layer in context.
 *
 * @category accessors
 * @since 0.1.0
 */
export const use = <A>(f: (client: Redis) => Promise<A>): Effect.Effect<A, RedisStreamError, IoRedisClient> =>
  IoRedisClient.use((service) => service.use(f))

const make = (
  options: RedisStreamOptions
): Effect.Effect<Context.Context<RedisStream | IoRedisClient>, RedisStreamError, Scope.Scope> =>
  Effect.tryPromise({
    try: () => import("./internal/redisStream.ts"),
    catch: (cause) =>
      new Error("@hyvve/bus: the Redis backend needs the `ioredis` package (npm install ioredis)", { cause })
  }).pipe(
    Effect.orDie,
    Effect.flatMap((internal) =>
      Effect.map(internal.make(options), ({ client, replyTimeoutMs, service }) =>
        Context.make(RedisStream, service).pipe(
          Context.add(IoRedisClient, {
            client,
            use: (f) => internal.attempt("use", () => internal.replyWithin(f(client), replyTimeoutMs))
          })
        ))
    )
  )

/**
 * Provides `RedisStream` (and `IoRedisClient`) over a single Redis node. Opens its connections
 * when built, failing with kind `Unavailable` when Redis does not answer, and closes them when
 * the layer's scope closes.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: RedisStreamOptions): Layer.Layer<RedisStream | IoRedisClient, RedisStreamError> =>
  Layer.effectContext(make(options))

/**
 * Provides `RedisStream` (and `IoRedisClient`) with its options read from config: by default
 * the URL from `REDIS_URL` (checked: a missing or non-redis URL is a `BusConfig.ConfigError`
 * naming it).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  options?: Config.Wrap<RedisStreamOptions>
): Layer.Layer<RedisStream | IoRedisClient, RedisStreamError | Config.ConfigError | BusConfig.ConfigError> => {
  const read: Effect.Effect<RedisStreamOptions, Config.ConfigError | BusConfig.ConfigError> = options === undefined ?
    Effect.map(BusConfig.redisUrl, (url) => ({ url })) :
    Config.unwrap(options)
  return Layer.effectContext(Effect.flatMap(read, make))
}
