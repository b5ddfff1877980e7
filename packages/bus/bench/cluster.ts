/**
 * The `cluster` section of `npm run bench` (REDIS_CLUSTER_NODES): what a blocked reader costs the
 * other commands of a Redis Cluster client. Sequential XADDs to a key on one master, timed one by
 * one, in four settings:
 * - a plain ioredis `Cluster`, nobody blocked (the baseline);
 * - the same client while a `XREAD BLOCK` on a key of the same master runs on it (re-issued as
 *   soon as it returns): ioredis holds one connection per node, so each XADD waits behind it;
 * - `IoRedisClusterStream` with no reader waiting;
 * - the same with readers waiting on every master (their notifiers block on connections of their
 *   own, per slot).
 *
 * It also checks why a notifier is per slot and not per node: a blocking `XREAD` over two keys of
 * different slots served by the same master is refused (`CROSSSLOT`).
 */
import { Context, Effect, Fiber, Layer } from "effect"
import { Cluster } from "ioredis"
import { IoRedisClusterStream, RedisStream } from "../src/index.ts"
import { of as slotOf } from "../src/internal/slot.ts"
import { type Latency, latency } from "./lib.ts"

export interface ClusterLatencies {
  readonly plain: Latency
  readonly plainBlocked: Latency
  readonly backend: Latency
  readonly backendWaiting: Latency
  readonly blockMs: number
  /** The reply to `XREAD BLOCK` over two slots of one master: the error text, or "accepted". */
  readonly twoSlotsOneMaster: string
}

/** A key of a slot served by each master, `{<prefix>:<i>}`. */
const keysByMaster = (cluster: Cluster, prefix: string): Map<string, string> => {
  const out = new Map<string, string>()
  for (let i = 0; out.size < cluster.nodes("master").length && i < 100_000; i++) {
    const key = `{${prefix}:${i}}:s`
    const master = cluster.slots[slotOf(key)]?.[0]
    if (master !== undefined && !out.has(master)) out.set(master, key)
  }
  return out
}

const timeEach = async (n: number, run: () => Promise<unknown>): Promise<Latency> => {
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const start = performance.now()
    await run()
    out[i] = performance.now() - start
  }
  return latency(out)
}

export const measure = async (
  nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>,
  prefix: string,
  samples: number
): Promise<ClusterLatencies> => {
  const blockMs = 100
  const cluster = new Cluster(nodes.map((node) => ({ ...node })), { redisOptions: { protocol: 2 } })
  await new Promise((resolve) => cluster.once("ready", resolve))
  const keys = Array.from(keysByMaster(cluster, prefix).values())
  const [target, ...others] = keys
  // Waited on, beside the target on its slot: the target's master has a notifier blocked too.
  const beside = target!.replace(/:s$/, ":w")
  try {
    await cluster.xadd(target!, "*", "n", "0")
    const plain = await timeEach(samples, () => cluster.xadd(target!, "*", "n", "1"))
    let blocking = true
    const blocker = (async () => {
      while (blocking) await cluster.call("XREAD", ["BLOCK", blockMs, "STREAMS", target!, "$"])
    })()
    // A few samples suffice: each one waits out most of a BLOCK.
    await new Promise((resolve) => setTimeout(resolve, 20))
    const plainBlocked = await timeEach(Math.min(samples, 20), () => cluster.xadd(target!, "*", "n", "2"))
    blocking = false
    await blocker

    const program = Effect.gen(function*() {
      const context = yield* Layer.build(IoRedisClusterStream.layer({ nodes, connectionName: `${prefix}:bench` }))
      const rs = Context.get(context, RedisStream.RedisStream)
      const append = () => Effect.runPromise(rs.append(target!, { n: "3" }))
      const backend = yield* Effect.promise(() => timeEach(samples, append))
      yield* Effect.forEach([beside, ...others], (key) => rs.createGroup(key, "g"))
      const readers = yield* Effect.forEach([beside, ...others], (key) =>
        Effect.forkChild(rs.readGroup({ keys: [key], group: "g", consumer: "c", count: 10, block: "60 seconds" })))
      yield* Effect.sleep("200 millis")
      const backendWaiting = yield* Effect.promise(() => timeEach(samples, append))
      yield* Effect.forEach(readers, Fiber.interrupt)
      return { backend, backendWaiting }
    })
    const backend = await Effect.runPromise(Effect.scoped(program))
    // A key of another slot on the target's master: `{<prefix>:<i>}` until one lands there.
    const master = cluster.slots[slotOf(target!)]?.[0]
    let other: string | undefined
    for (let i = 0; other === undefined && i < 100_000; i++) {
      const key = `{${prefix}:x${i}}:s`
      if (slotOf(key) !== slotOf(target!) && cluster.slots[slotOf(key)]?.[0] === master) other = key
    }
    const node = cluster.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === master)
    const twoSlotsOneMaster = node === undefined || other === undefined ? "not tried" : await node
      .call("XREAD", ["BLOCK", 1, "STREAMS", target!, other, "$", "$"])
      .then(() => "accepted", (error: unknown) => String(error instanceof Error ? error.message : error).split(" ")[0]!)
    return { plain, plainBlocked, ...backend, blockMs, twoSlotsOneMaster }
  } finally {
    for (const key of [...keys, beside]) await cluster.del(key)
    cluster.disconnect()
  }
}
