/**
 * The Redis Cluster backend of `RedisStream`: the engine of `redisStream.ts` over an ioredis
 * `Cluster` for commands and per-slot notifiers for waiting readers.
 *
 * **Commands** go through the `Cluster` client, which routes each one by its key's slot and
 * follows `MOVED` / `ASK` itself. It is set up to never resend a command that may have run: a
 * command in flight when a node's connection closes fails at once with kind `Unavailable`
 * (`retryDelayOnFailover: 0`), as on a single node. Redirections, `TRYAGAIN` and `CLUSTERDOWN`
 * are retried by the client, because Redis did not run the command then.
 *
 * **Waiting readers** never block the `Cluster` client: it holds one connection per node, so a
 * blocking read there would hold up every other command for that node until it returns. Each
 * slot that readers wait on gets a notifier of its own (a blocking `XREAD` may only name keys of
 * one slot) on a dedicated connection to the master serving the slot. A notifier takes its
 * connection at the start of each round: after a failover or a slot migration its `XREAD` fails,
 * the slot map is refreshed, and the next round reconnects to the slot's new master. Readers keep
 * the single-node design: wait on the keys' generations, then a non-blocking `XREADGROUP` per slot.
 *
 * **Why per slot, not per node.** A blocking command may only name keys of one slot: Redis refuses
 * an `XREAD` over keys of two slots with `CROSSSLOT` even when one master serves both (the cluster
 * bench checks it), and a connection runs one blocking command at a time. A notifier per node
 * would therefore wait on one slot at a time, missing the others' appends until its timeout, or
 * need keyspace notifications (off by default, often not allowed on managed Redis). One dedicated
 * connection per waited slot is the fewest that wakes every waiting reader at once. It costs
 * connections, not commands: a process holds one per slot its readers wait on (a topology's
 * streams: 1 for `single`, N for `partitioned:N`), each idle in its `XREAD` until a key moves.
 *
 * **Multi-key steps** need their keys in one slot. Reads over several keys (`readGroup`,
 * `markersExist`, `deleteKeys`) are split per slot; atomic steps (`transaction`, `takeDue`) over
 * keys of several slots fail with kind `CrossSlot` before anything is sent. The Lua scripts touch
 * only the keys they are given (`KEYS`), so a script over one slot is valid on a cluster.
 *
 * **Durability.** Redis replicates asynchronously: an append a master acknowledged is lost when
 * the master dies before a replica has it and that replica is promoted. With `waitReplicas`, each
 * write that adds entries (`append`, a `transaction` with an `XAdd`) is pipelined with
 * `WAIT replicas timeout` on the same connection and succeeds only when that many replicas have
 * it; otherwise it fails with kind `Unavailable` (written on the master, maybe lost: the outcome
 * is unknown, as with a reply lost in flight).
 */
import { Duration, Effect, FiberSet, Redacted } from "effect"
import type { Scope } from "effect"
import { Cluster, Redis } from "ioredis"
import type { Options } from "../IoRedisClusterStream.ts"
import type * as RedisStream from "../RedisStream.ts"
import { RedisStreamError } from "../RedisStream.ts"
import * as Slot from "./slot.ts"
import {
  attempt,
  connectionOptions,
  defaultCommandTimeout,
  disconnect,
  makeNotifier,
  makeService,
  type Notifier,
  runNotifier,
  wallClock
} from "./redisStream.ts"

type Service = RedisStream.RedisStream["Service"]

/** How long building the layer waits for the cluster to answer with its slot map. */
const readyTimeout = Duration.seconds(10)

/**
 * Builds the service over a `Cluster` client and per-slot notifier connections, all closed with
 * the enclosing scope. Fails with kind `Unavailable` when no node answers at build time.
 */
export const make: (
  options: Options
) => Effect.Effect<{ readonly service: Service; readonly client: Cluster; readonly replyTimeoutMs: number }, RedisStreamError, Scope.Scope> = Effect
  .fnUntraced(function*(options: Options) {
    const name = options.connectionName ?? "hyvve"
    const credentials = {
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: Redacted.value(options.password) })
    }
    // Calls are timed by the service and the notifiers (`replyWithin`), not per command by ioredis.
    const replyTimeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options.commandTimeout ?? defaultCommandTimeout))
    // Released last: the notifiers (forked below) stop before the connections close.
    const cluster = yield* connectCluster(options.nodes, {
      protocol: connectionOptions.protocol,
      maxRetriesPerRequest: connectionOptions.maxRetriesPerRequest,
      autoResendUnfulfilledCommands: connectionOptions.autoResendUnfulfilledCommands,
      connectTimeout: connectionOptions.connectTimeout,
      ...credentials,
      connectionName: `${name}:cmd`
    })
    const blocking = yield* Effect.acquireRelease(
      Effect.sync(() => new Set<Redis>()),
      (open) => Effect.forEach(open, disconnect, { concurrency: "unbounded", discard: true })
    )
    const fork = yield* FiberSet.makeRuntime<never, never, never>()
    const scope = yield* Effect.scope

    const refresh = (): Promise<void> =>
      new Promise((resolve) => {
        cluster.refreshSlotsCache(() => resolve())
      })

    /** Where the notifier of `slot` blocks: a connection of its own to the slot's master now. */
    const linkOf = (slot: number) => {
      let current: { readonly node: string; readonly conn: Redis } | undefined
      return {
        connections: Effect.suspend(() => {
          const node = cluster.slots[slot]?.[0]
          const control = node === undefined ? undefined : cluster.nodes("master").find((n) => nodeKey(n) === node)
          if (node === undefined || control === undefined) {
            return Effect.fail(
              new RedisStreamError({ command: "XREAD", kind: "Unavailable", detail: `no master serves slot ${slot} now` })
            )
          }
          if (current?.node === node) return Effect.succeed({ blocking: current.conn, control })
          const previous = current?.conn
          const [host, port] = splitNodeKey(node)
          const conn = new Redis({
            ...connectionOptions,
            ...credentials,
            host,
            port,
            connectionName: `${name}:notify:${slot}`
          }).on("error", () => {
            // Every error that matters reaches a command's promise.
          })
          blocking.add(conn)
          current = { node, conn }
          return Effect.gen(function*() {
            if (previous !== undefined) {
              blocking.delete(previous)
              yield* disconnect(previous)
            }
            yield* attempt("CONNECT", () => conn.connect())
            return { blocking: conn, control }
          })
        }),
        // The round failed (a node down, a slot moved): the next one asks the fresh slot map.
        failed: Effect.promise(refresh),
        replyTimeoutMs
      }
    }

    const notifiers = new Map<number, Notifier>()
    const notifierOf = (slot: number): Notifier => {
      let notifier = notifiers.get(slot)
      if (notifier === undefined) {
        notifier = makeNotifier(linkOf(slot), scope)
        notifiers.set(slot, notifier)
        fork(runNotifier(notifier))
      }
      return notifier
    }

    /** The notifiers of the slots of `keys`, behind the one interface the engine waits on. */
    const notifier: Notifier = {
      generations: (keys) => keys.map((key) => notifierOf(Slot.of(key)).generations([key])[0]!),
      wait: (keys, generations, ms) => {
        const bySlot = new Map<number, { keys: Array<string>; generations: typeof generations[number][] }>()
        for (let i = 0; i < keys.length; i++) {
          const slot = Slot.of(keys[i]!)
          const group = bySlot.get(slot) ?? { keys: [], generations: [] }
          group.keys.push(keys[i]!)
          group.generations.push(generations[i]!)
          bySlot.set(slot, group)
        }
        // The first slot whose keys move ends the wait; the others stop waiting (and unregister).
        return Effect.raceAll(
          Array.from(bySlot, ([slot, group]) => notifierOf(slot).wait(group.keys, group.generations, ms))
        )
      },
      moved: (keys) =>
        Effect.forEach(keys, (key) => notifiers.get(Slot.of(key))?.moved([key]) ?? Effect.void, {
          discard: true
        }),
      run: Effect.never
    }

    const waitReplicas = options.waitReplicas ?? 0
    const service = makeService({
      conn: cluster,
      notifier,
      bySlot: Slot.bySlot,
      waitReplicas: waitReplicas > 0
        ? {
          replicas: waitReplicas,
          timeoutMs: Math.max(1, Math.round(Duration.toMillis(Duration.fromInputUnsafe(options.waitTimeout ?? "1 second"))))
        }
        : undefined,
      redirected: refresh,
      replyTimeoutMs
    })
    return { service, client: cluster, replyTimeoutMs }
  })

/** Resolves once `node` is connected (or fails with the error that ended its connection). */
const ready = (node: Redis): Promise<void> =>
  node.status === "ready" ? Promise.resolve() : new Promise((resolve, reject) => {
    node.once("ready", () => resolve())
    node.once("end", () => reject(new Error(`the connection to ${nodeKey(node)} ended`)))
    if (node.status === "wait") node.connect().catch(() => undefined)
  })

const nodeKey = (node: Redis): string => `${node.options.host}:${node.options.port}`

const splitNodeKey = (key: string): readonly [string, number] => {
  const colon = key.lastIndexOf(":")
  return [key.slice(0, colon), Number(key.slice(colon + 1))]
}

const connectCluster = (
  nodes: Options["nodes"],
  redisOptions: NonNullable<NonNullable<ConstructorParameters<typeof Cluster>[1]>["redisOptions"]>
): Effect.Effect<Cluster, RedisStreamError, Scope.Scope> => {
  let lastError: unknown
  return Effect.acquireRelease(
    Effect.sync(() => {
      const cluster: Cluster = new Cluster(nodes.map((node) => ({ host: node.host, port: node.port })), {
        lazyConnect: true,
        redisOptions,
        // Fail fast while the cluster is unreachable instead of queueing commands for later.
        enableOfflineQueue: false,
        // "ready" only once CLUSTER INFO says the cluster serves every slot.
        enableReadyCheck: true,
        // Reads from replicas could miss the newest entries and pending-list changes.
        scaleReads: "master",
        // A command in flight on a connection that closes may have run: never resend it (a resent
        // XADD would duplicate). It fails with kind Unavailable and the caller decides.
        retryDelayOnFailover: 0,
        // Redis did not run these commands, so resending them is safe.
        retryDelayOnClusterDown: 100,
        retryDelayOnTryAgain: 100,
        retryDelayOnMoved: 0,
        maxRedirections: 16,
        slotsRefreshTimeout: 1000,
        // Notices a failover or a migration nobody's command ran into yet.
        slotsRefreshInterval: 2000,
        // Reconnect to the cluster for as long as the layer lives: 100 ms, 200 ms, … capped at 1 s.
        clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000)
      }).on("error", (error: unknown) => {
        lastError = error
      }).on("+node", (node: Redis) => {
        // Without the offline queue the client refuses a command for a node whose connection is
        // still being opened (a second command while the first one opens it): open each one as
        // soon as the client learns of the node (after start-up, which opens the masters' itself).
        if (cluster.status === "ready" && node.status === "wait") node.connect().catch(() => undefined)
      })
      return cluster
    }),
    (cluster) =>
      Effect.raceFirst(Effect.ignore(Effect.tryPromise(() => cluster.quit())), wallClock.sleep(Duration.seconds(1))).pipe(
        Effect.ensuring(Effect.sync(() => cluster.disconnect()))
      )
  ).pipe(
    Effect.tap((cluster) =>
      attempt("CONNECT", async () => {
        await cluster.connect().catch((error) => Promise.reject(lastError ?? error))
        await Promise.all(cluster.nodes("master").map(ready))
      }).pipe(
        Effect.timeoutOrElse({
          duration: readyTimeout,
          orElse: () =>
            Effect.fail(
              new RedisStreamError({
                command: "CONNECT",
                kind: "Unavailable",
                detail: `the cluster did not become ready within ${Duration.format(readyTimeout)}`
              })
            )
        })
      )
    )
  )
}
