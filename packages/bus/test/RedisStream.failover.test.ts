/**
 * A Redis Cluster master SIGKILLed under load, on a PRIVATE cluster (3 masters, a replica each,
 * 1 s node timeout; never the shared one): producers append to six streams on all three masters
 * with `waitReplicas: 1`, consumers read all six in one group and ack, and one master dies. Its
 * replica takes over, the dead node comes back as the new master's replica, and the same layer goes
 * on: appends to the failed-over slots succeed again, and when everything is drained (including the consumers' own pending entries, as the bus does
 * on restart) every append that was acknowledged has been read. Duplicates are counted and
 * bounded by what the failure could leave in doubt.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import * as IoRedisClusterStream from "../src/IoRedisClusterStream.ts"
import { of as slotOf } from "../src/internal/slot.ts"
import * as RedisStream from "../src/RedisStream.ts"
import * as PrivateCluster from "./fixtures/PrivateCluster.ts"
import { until } from "./fixtures/Wait.ts"

const producers = 3
const consumers = 2
const readCount = 20

describe("RedisStream (cluster failover)", () => {
  it.live(
    "a master SIGKILLed under load: its replica takes over, no acknowledged append is lost, duplicates are bounded",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const cluster = yield* PrivateCluster.make({ nodeTimeoutMs: 1000 })
        const context = yield* Layer.build(IoRedisClusterStream.layer({
          nodes: cluster.nodes,
          connectionName: "failover",
          waitReplicas: 1,
          waitTimeout: "500 millis"
        }))
        const rs = Context.get(context, RedisStream.RedisStream)

        // Two streams per master.
        const streams: Array<string> = []
        const perMaster = new Map<number, number>()
        for (let i = 0; streams.length < 6; i++) {
          const key = `{failover:${i}}:s`
          const master = yield* cluster.masterOf(slotOf(key))
          if ((perMaster.get(master) ?? 0) >= 2) continue
          perMaster.set(master, (perMaster.get(master) ?? 0) + 1)
          streams.push(key)
        }
        yield* Effect.forEach(streams, (key) => rs.createGroup(key, "g", "0"))
        const victim = yield* cluster.masterOf(slotOf(streams[0]!))
        const onVictim = new Set<string>()
        for (const key of streams) if ((yield* cluster.masterOf(slotOf(key))) === victim) onVictim.add(key)

        // What happened, as the test's clients saw it.
        const acked = new Map<string, string>() // payload → stream
        const reads = new Map<string, number>() // payload → times read
        let unknownAppends = 0 // appends that failed: written or not, the producer sent them again
        let failedAckEntries = 0 // entries whose ack failed: they stay pending, read again at the end
        let ackedAfterFailover = 0
        let failedOver = false
        let producing = true

        const produce = (p: number) =>
          Effect.gen(function*() {
            for (let n = 0; producing; n++) {
              const payload = `${p}-${n}`
              const stream = streams[(p + n) % streams.length]!
              // Like the bus's publisher: the same event again until one append is acknowledged.
              while (true) {
                const result = yield* Effect.result(rs.append(stream, { p: payload }))
                if (result._tag === "Success") break
                unknownAppends++
                yield* Effect.sleep("50 millis")
              }
              acked.set(payload, stream)
              if (failedOver && onVictim.has(stream)) ackedAfterFailover++
            }
          })

        const record = (entries: ReadonlyArray<RedisStream.Entry>) => {
          for (const entry of entries) {
            const payload = entry.fields["p"]!
            reads.set(payload, (reads.get(payload) ?? 0) + 1)
          }
        }

        const consume = (consumer: string) =>
          Effect.gen(function*() {
            while (true) {
              const read = yield* Effect.result(
                rs.readGroup({ keys: streams, group: "g", consumer, count: readCount, block: "200 millis" })
              )
              if (read._tag === "Failure") {
                yield* Effect.sleep("50 millis")
                continue
              }
              record(read.success)
              const byStream = new Map<string, Array<string>>()
              for (const entry of read.success) byStream.set(entry.key, [...(byStream.get(entry.key) ?? []), entry.id])
              for (const [stream, ids] of byStream) {
                const ack = yield* Effect.result(rs.ack(stream, "g", ids))
                if (ack._tag === "Failure") failedAckEntries += ids.length
              }
            }
          })

        const producerFibers = yield* Effect.forEach(Array.from({ length: producers }, (_, p) => p), (p) =>
          Effect.forkChild(produce(p)))
        const consuming = yield* Effect.forEach(Array.from({ length: consumers }, (_, c) => `c${c}`), (c) =>
          Effect.forkChild(consume(c)))

        yield* until("300 appends acknowledged before the kill", () => acked.size >= 300, "30 seconds")
        yield* cluster.kill(victim)
        yield* until(
          "a replica serves the victim's slots",
          Effect.map(Effect.option(cluster.masterOf(slotOf(streams[0]!))), (master) =>
            master._tag === "Some" && master.value !== victim),
          "30 seconds"
        )
        failedOver = true
        // The promoted replica has no replica of its own: with waitReplicas 1, appends to its slots
        // are refused (Unavailable, the producers retry) until the dead node comes back and
        // rejoins as its replica, as an operator (or an orchestrator) would bring it back.
        yield* cluster.restart(victim)
        // The same layer appends to the failed-over slots again, without being rebuilt.
        yield* until("100 appends to the failed-over slots acknowledged", () => ackedAfterFailover >= 100, "30 seconds")
        producing = false
        yield* Effect.forEach(producerFibers, Fiber.join)

        // Drain: every stream delivered to its end, then the consumers' own pending entries (what a
        // delivery whose reply or ack was lost in the failover left behind), as the bus does.
        yield* until(
          "the group has every entry delivered",
          Effect.map(
            Effect.forEach(streams, (key) => Effect.map(rs.groups(key), (groups) => groups[0]?.lag === 0)),
            (done) => done.every(Boolean)
          ),
          "30 seconds"
        )
        yield* Effect.forEach(consuming, Fiber.interrupt)
        for (const consumer of ["c0", "c1"]) {
          for (const key of streams) {
            record(yield* rs.readOwnPending({ key, group: "g", consumer, count: 10_000 }))
          }
        }

        const lost = Array.from(acked.keys()).filter((payload) => !reads.has(payload))
        let duplicates = 0
        for (const times of reads.values()) duplicates += times - 1
        // In doubt: appends sent again after a failure, entries whose ack failed, and, on the failed
        // master, deliveries and acks in flight when it died (not yet on its replica).
        const bound = unknownAppends + failedAckEntries + 2 * consumers * readCount * onVictim.size
        yield* Effect.logInfo("failover").pipe(Effect.annotateLogs({
          acknowledged: acked.size,
          read: reads.size,
          lost: lost.length,
          duplicates,
          unknownAppends,
          failedAckEntries,
          bound
        }))
        assert.deepStrictEqual(lost, [], `acknowledged appends never read (${lost.length} of ${acked.size})`)
        assert.isAtMost(duplicates, bound)
        assert.isAbove(acked.size, 400)
      })),
    { timeout: 120_000 }
  )
})
