/**
 * The Redis Cluster backend of `RedisStream`, over an ioredis
 * [`Cluster`](https://github.com/redis/ioredis#cluster) (see `internal/redisClusterStream.ts` for
 * the connection design).
 *
 * - Commands go through one `Cluster` client, which routes them by slot and follows `MOVED` /
 *   `ASK`. A command in flight when a node goes away fails with kind `Unavailable` and is never
 *   resent behind the caller's back (it may have run).
 * - Waiting readers never block that client: each slot readers wait on has a notifier with its own
 *   connection to the slot's master, moved to the new master after a failover or a migration
 *   without rebuilding the layer. Connections: the client's one per node, plus one per waited slot
 *   (a stream of the topology). Per slot, not per node, because Redis refuses a blocking `XREAD`
 *   over keys of two slots even on one master (`CROSSSLOT`).
 * - A read over keys of several slots runs one `XREADGROUP` per slot. An atomic step
 *   (`transaction`, `takeDue`) over several slots fails with kind `CrossSlot`, naming the keys by
 *   slot, before anything is sent: keys used together need one `{hash tag}`.
 * - `waitReplicas: n` makes every write that adds entries (`append`, a `transaction` with an
 *   `XAdd`) wait until `n` replicas have it (`WAIT n waitTimeout`, on the connection that wrote it).
 *   A success then survives the failover of its master to one of those replicas; fewer replicas in
 *   time is kind `Unavailable` (the entry is on the master and may or may not survive). Acks and
 *   other settlement writes do not wait: a failover may undo a few of them, and those entries are
 *   delivered again (at least once). Without it (the default) a failover may lose the appends its
 *   master acknowledged in its last moments (Redis replicates asynchronously).
 *
 * `ioredis` is an optional peer dependency, loaded when a layer of this module is built.
 *
 * ```ts
 * const RedisLive = IoRedisClusterStream.layer({
 *   nodes: [{ host: "10.0.0.1", port: 7000 }, { host: "10.0.0.2", port: 7000 }],
 *   waitReplicas: 1
 * })
 * ```
 *
 * @since 0.2.0
 */
import type { Duration, Redacted, Scope } from "effect"
import { Config, Context, Effect, Layer } from "effect"
import type { Cluster } from "ioredis"
import * as BusConfig from "./BusConfig.ts"
import type { RedisStreamError } from "./RedisStream.ts"
import { RedisStream } from "./RedisStream.ts"

/**
 * Options of the cluster backend.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface Options {
  /** Some nodes of the cluster (any role): the client discovers the others. */
  readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** Prefix of the connection names shown by `CLIENT LIST`. Defaults to `"hyvve"`. */
  readonly connectionName?: string | undefined
  /**
   * A call without a reply for this long fails with kind `Unavailable` (one command, or one batch
   * sent together). Defaults to 10 seconds.
   */
  readonly commandTimeout?: Duration.Input | undefined
  /**
   * Writes that add entries succeed only once this many replicas have them (`WAIT`). Defaults to
   * 0: no waiting, and a failover may lose the last appends its master acknowledged.
   */
  readonly waitReplicas?: number | undefined
  /** How long such a write waits for its replicas before failing with `Unavailable`. Defaults to 1 second. */
  readonly waitTimeout?: Duration.Input | undefined
}

/**
 * The ioredis `Cluster` client the backend sends its non-blocking commands on. Keep to commands
 * that answer at once: a blocking command holds up every command for its node.
 *
 * @category services
 * @since 0.2.0
 */
export class IoRedisClusterClient extends Context.Service<
  IoRedisClusterClient,
  {
    readonly client: Cluster
    /** Runs `f` with the client; a rejection becomes a `RedisStreamError` (command `"use"`). */
    readonly use: <A>(f: (client: Cluster) => Promise<A>) => Effect.Effect<A, RedisStreamError>
  }
>()("@hyvve/bus/IoRedisClusterClient") {}

/**
 * Runs `f` with the `Cluster` client of the layer in context.
 *
 * @category accessors
 * @since 0.2.0
 */
export const use = <A>(f: (client: Cluster) => Promise<A>): Effect.Effect<A, RedisStreamError, IoRedisClusterClient> =>
  IoRedisClusterClient.use((service) => service.use(f))

const make = (
  options: Options
): Effect.Effect<Context.Context<RedisStream | IoRedisClusterClient>, RedisStreamError, Scope.Scope> =>
  Effect.tryPromise({
    try: () => Promise.all([import("./internal/redisClusterStream.ts"), import("./internal/redisStream.ts")]),
    catch: (cause) =>
      new Error("@hyvve/bus: the Redis Cluster backend needs the `ioredis` package (npm install ioredis)", { cause })
  }).pipe(
    Effect.orDie,
    Effect.flatMap(([internal, engine]) =>
      Effect.map(internal.make(options), ({ client, replyTimeoutMs, service }) =>
        Context.make(RedisStream, service).pipe(
          Context.add(IoRedisClusterClient, {
            client,
            use: (f) => engine.attempt("use", () => engine.replyWithin(f(client), replyTimeoutMs))
          })
        ))
    )
  )

/**
 * Provides `RedisStream` (and `IoRedisClusterClient`) over a Redis Cluster. Connects when built,
 * failing with kind `Unavailable` when the cluster does not become ready, and closes every
 * connection when the layer's scope closes.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer = (options: Options): Layer.Layer<RedisStream | IoRedisClusterClient, RedisStreamError> =>
  Layer.effectContext(make(options))

/**
 * Provides `RedisStream` (and `IoRedisClusterClient`) with its options read from config: by
 * default the nodes from `REDIS_CLUSTER_NODES` (`host:port,host:port`, checked: a missing or
 * malformed value is a `BusConfig.ConfigError` naming it).
 *
 * @category layers
 * @since 0.2.0
 */
export const layerConfig = (
  options?: Config.Wrap<Options>
): Layer.Layer<RedisStream | IoRedisClusterClient, RedisStreamError | Config.ConfigError | BusConfig.ConfigError> => {
  const read: Effect.Effect<Options, Config.ConfigError | BusConfig.ConfigError> = options === undefined ?
    Effect.map(BusConfig.redisClusterNodes, (nodes) => ({ nodes })) :
    Config.unwrap(options)
  return Layer.effectContext(Effect.flatMap(read, make))
}
