/**
 * What only a Redis Cluster can prove about the cluster backend (on the shared test cluster,
 * REDIS_CLUSTER_NODES): atomic steps across slots are refused before anything is written, waiting
 * readers on several nodes hold no connection other commands need, a reader waiting on two slots
 * of one master has a notifier blocked per slot, and a slot migrated under a waiting reader is
 * followed. The failover test lives in `RedisStream.failover.test.ts` (a
 * private cluster). Semantics shared with the other backends are the contract suite's.
 */
import { assert, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import type { Cluster, Redis } from "ioredis"
import * as IoRedisClusterStream from "../src/IoRedisClusterStream.ts"
import { of as slotOf } from "../src/internal/slot.ts"
import * as RedisStream from "../src/RedisStream.ts"
import { until } from "./fixtures/Wait.ts"
import { describeCluster } from "./utils/Cluster.ts"
import { uniquePrefix } from "./utils/TestEnv.ts"

type Nodes = ReadonlyArray<{ readonly host: string; readonly port: number }>

/** The backend and its `Cluster` client, built in the test's scope. */
const build = Effect.fnUntraced(function*(nodes: Nodes, name: string) {
  const context = yield* Layer.build(IoRedisClusterStream.layer({ nodes, connectionName: name }))
  return {
    rs: Context.get(context, RedisStream.RedisStream),
    cluster: Context.get(context, IoRedisClusterStream.IoRedisClusterClient).client
  }
})

const nodeKey = (node: Redis): string => `${node.options.host}:${node.options.port}`

/** One key per master, `{<prefix>:<i>}:s`, each on a slot another master serves. */
const keysOnEveryMaster = (cluster: Cluster, prefix: string) => {
  const masters = new Map<string, string>()
  const wanted = cluster.nodes("master").length
  for (let i = 0; masters.size < wanted && i < 10_000; i++) {
    const key = `{${prefix}:${i}}:s`
    const owner = cluster.slots[slotOf(key)]?.[0]
    if (owner !== undefined && !masters.has(owner)) masters.set(owner, key)
  }
  return masters
}

/** The names of the clients of `node` named `prefix…` that are blocked in `command`. */
const blockedClients = (node: Redis, prefix: string, command: string) =>
  Effect.map(
    Effect.promise(() => node.call("CLIENT", ["LIST"])),
    (list) =>
      String(list).split("\n").filter((line) => line.includes(`name=${prefix}`) && line.includes(`cmd=${command}`))
        .map((line) => /name=(\S+)/.exec(line)?.[1] ?? "")
  )

describeCluster("RedisStream (cluster only)", (nodes) => {
  it.live("the slot of a key is the one the cluster computes, hash tags included", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cluster } = yield* build(nodes, uniquePrefix("slots"))
      for (const key of ["plain", "{tag}:a", "x{}y", "{{nested}}", "héllo wörld", "a{b}c{d}"]) {
        assert.strictEqual(slotOf(key), yield* Effect.promise(() => cluster.call("CLUSTER", ["KEYSLOT", key])), key)
      }
    })))

  it.live("an atomic step over several slots fails with CrossSlot, naming the keys, and writes nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const prefix = uniquePrefix("crossslot")
      const { rs } = yield* build(nodes, prefix)
      const here = `{${prefix}:a}:s`
      const there = `{${prefix}:b}:s`
      assert.notStrictEqual(slotOf(here), slotOf(there))
      const error = yield* Effect.flip(rs.transaction([
        { _tag: "XAdd", key: here, fields: { n: "1" } },
        { _tag: "XAdd", key: there, fields: { n: "2" } }
      ]))
      assert.strictEqual(error.kind, "CrossSlot")
      assert.include(error.detail, here)
      assert.include(error.detail, there)
      assert.isFalse(error.isRetryable)
      const takeDue = yield* Effect.flip(
        rs.takeDue({ scheduleKey: `{${prefix}:c}:z`, recordsKey: `{${prefix}:c}:h`, key: here, group: "g", consumer: "c", now: 1, count: 1 })
      )
      assert.strictEqual(takeDue.kind, "CrossSlot")
      assert.deepStrictEqual([yield* rs.length(here), yield* rs.length(there)], [0, 0])
      // The same step with one tag goes through.
      const together = `{${prefix}:a}:t`
      assert.strictEqual((yield* rs.transaction([
        { _tag: "XAdd", key: here, fields: { n: "1" } },
        { _tag: "XAdd", key: together, fields: { n: "2" } }
      ])).length, 2)
      assert.strictEqual(yield* rs.deleteKeys([here, together, there]), 2)
    })))

  it.live("readers waiting on every master hold a connection per slot and no command waits for them", () =>
    Effect.scoped(Effect.gen(function*() {
      const name = uniquePrefix("blocked")
      const { cluster, rs } = yield* build(nodes, name)
      const byMaster = keysOnEveryMaster(cluster, name)
      const keys = Array.from(byMaster.values())
      assert.strictEqual(keys.length, cluster.nodes("master").length)
      yield* Effect.forEach(keys, (key) => rs.createGroup(key, "g"))
      yield* Effect.addFinalizer(() => Effect.ignore(rs.deleteKeys(keys)))
      // A reader per key, and one reader over all of them (its wait spans every master).
      const single = yield* Effect.forEach(keys, (key) =>
        Effect.forkChild(rs.readGroup({ keys: [key], group: "g", consumer: `c-${key}`, count: 10, block: "60 seconds" })))
      const spanning = yield* Effect.forkChild(
        rs.readGroup({ keys, group: "g", consumer: "all", count: 10, block: "60 seconds" })
      )
      // Every master has the backend's notifier for its key's slot blocked in XREAD.
      for (const node of cluster.nodes("master")) {
        const key = byMaster.get(nodeKey(node))!
        yield* until(
          `the notifier of slot ${slotOf(key)} blocks on ${nodeKey(node)}`,
          Effect.map(blockedClients(node, `${name}:notify:`, "xread"), (names) =>
            names.length === 1 && names[0] === `${name}:notify:${slotOf(key)}`)
        )
      }
      // Commands to every node complete while the readers still wait out their 60 s.
      const busy = Array.from({ length: 30 }, (_, i) => `{${name}:busy:${i}}:s`)
      yield* Effect.addFinalizer(() => Effect.ignore(rs.deleteKeys(busy)))
      yield* Effect.forEach(Array.from({ length: 300 }), (_, i) => rs.append(busy[i % busy.length]!, { i: String(i) }), {
        concurrency: 20
      })
      yield* Effect.forEach(keys, (key) => rs.groups(key))
      yield* Effect.repeat(rs.ping, { times: 20 })
      assert.strictEqual(
        (yield* Effect.forEach(busy, rs.length)).reduce((sum, n) => sum + n, 0),
        300
      )
      for (const reader of [...single, spanning]) assert.isUndefined(reader.pollUnsafe())

      // An append on one master wakes that key's reader or the spanning one (one group: one of
      // them takes the entry), and nobody else.
      const [, second] = keys
      const id = yield* rs.append(second!, { n: "1" })
      const woken = yield* Effect.raceFirst(Fiber.join(single[1]!), Fiber.join(spanning))
      assert.deepStrictEqual(woken.map((entry) => [entry.key, entry.id]), [[second, id]])
      assert.isUndefined(single[0]!.pollUnsafe())
      assert.isUndefined(single[2]!.pollUnsafe())
    })))

  // Why notifiers are per slot and not per node: Redis refuses a blocking XREAD over two slots
  // even when one master serves both, so each waited slot needs a blocked connection of its own.
  it.live("a reader waiting on two slots of one master: a notifier blocked per slot, and an append to either wakes it", () =>
    Effect.scoped(Effect.gen(function*() {
      const name = uniquePrefix("twoslots")
      const { cluster, rs } = yield* build(nodes, name)
      const first = `{${name}:0}:s`
      const owner = cluster.slots[slotOf(first)]?.[0]
      let second: string | undefined
      for (let i = 1; second === undefined && i < 10_000; i++) {
        const key = `{${name}:${i}}:s`
        if (slotOf(key) !== slotOf(first) && cluster.slots[slotOf(key)]?.[0] === owner) second = key
      }
      assert.isDefined(second)
      const keys = [first, second!]
      const node = cluster.nodes("master").find((n) => nodeKey(n) === owner)!
      yield* Effect.forEach(keys, (key) => rs.createGroup(key, "g"))
      yield* Effect.addFinalizer(() => Effect.ignore(rs.deleteKeys(keys)))

      for (const [i, key] of keys.entries()) {
        const reader = yield* Effect.forkChild(rs.readGroup({ keys, group: "g", consumer: "c", count: 10, block: "60 seconds" }))
        yield* until(
          "both slots' notifiers block on their one master",
          Effect.map(blockedClients(node, `${name}:notify:`, "xread"), (names) =>
            names.length === 2 && keys.every((k) => names.includes(`${name}:notify:${slotOf(k)}`)))
        )
        const id = yield* rs.append(key, { n: String(i) })
        assert.deepStrictEqual((yield* Fiber.join(reader)).map((entry) => [entry.key, entry.id]), [[key, id]])
      }
    })))

  it.live("a slot migrated under a waiting reader: appends follow MOVED and the reader wakes", () =>
    Effect.scoped(Effect.gen(function*() {
      const name = uniquePrefix("moved")
      const { cluster, rs } = yield* build(nodes, name)
      const masters = cluster.nodes("master")
      const key = `{${name}}:s`
      const slot = slotOf(key)
      const source = masters.find((node) => nodeKey(node) === cluster.slots[slot]?.[0])!
      const target = masters.find((node) => node !== source)!
      yield* rs.createGroup(key, "g")
      const before = yield* rs.append(key, { n: "0" })
      yield* Effect.addFinalizer(() => Effect.ignore(rs.deleteKeys([key])))

      const reader = yield* Effect.forkChild(
        rs.readGroup({ keys: [key], group: "g", consumer: "c", count: 10, block: "60 seconds" })
      )
      assert.deepStrictEqual((yield* Fiber.join(reader)).map((entry) => entry.id), [before])
      const waiting = yield* Effect.forkChild(
        rs.readGroup({ keys: [key], group: "g", consumer: "c", count: 10, block: "60 seconds" })
      )
      yield* until(
        "the notifier blocks on the source node",
        Effect.map(blockedClients(source, `${name}:notify:${slot}`, "xread"), (names) => names.length === 1)
      )

      // Move the slot (and the stream) to the target, and back when the test ends.
      yield* migrate(masters, slot, source, target)
      yield* Effect.addFinalizer(() => Effect.orDie(migrate(masters, slot, target, source)))

      const after = yield* rs.append(key, { n: "1" })
      // Checked on the target itself: the client's slot map may briefly point back at the source
      // when its periodic refresh asks a node that gossip has not told yet (seen under load).
      assert.strictEqual(yield* Effect.promise(() => target.xlen(key)), 2, "the append followed MOVED to the target")
      assert.deepStrictEqual((yield* Fiber.join(waiting)).map((entry) => entry.id), [after])
      assert.deepStrictEqual((yield* rs.pendingSummary(key, "g")).count, 2)
    })))
})

/** Moves `slot` with its keys from `source` to `target` (CLUSTER SETSLOT, MIGRATE). */
const migrate = (masters: ReadonlyArray<Redis>, slot: number, source: Redis, target: Redis) =>
  Effect.tryPromise(async () => {
    const id = async (node: Redis) => String(await node.call("CLUSTER", ["MYID"]))
    const [sourceId, targetId] = [await id(source), await id(target)]
    await target.call("CLUSTER", ["SETSLOT", slot, "IMPORTING", sourceId])
    await source.call("CLUSTER", ["SETSLOT", slot, "MIGRATING", targetId])
    while (true) {
      const keys = await source.call("CLUSTER", ["GETKEYSINSLOT", slot, 100])
      if (!Array.isArray(keys) || keys.length === 0) break
      await source.call("MIGRATE", [
        String(target.options.host),
        Number(target.options.port),
        "",
        0,
        5000,
        "KEYS",
        ...keys.map(String)
      ])
    }
    // The target first, then the source, then the others (what redis-cli --cluster does).
    await target.call("CLUSTER", ["SETSLOT", slot, "NODE", targetId])
    await source.call("CLUSTER", ["SETSLOT", slot, "NODE", targetId])
    for (const node of masters) {
      if (node !== source && node !== target) await node.call("CLUSTER", ["SETSLOT", slot, "NODE", targetId])
    }
  })
