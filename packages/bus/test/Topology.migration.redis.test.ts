/**
 * Migration from `single` to a partitioned topology on a real Redis, as the README describes it:
 * the old layout holds a backlog, entries pending on a consumer that died and scheduled retries;
 * the new nodes (`topology: partitioned:4`, `previousTopology: single`) publish to the partitions
 * and drain the old stream too. Nothing is lost, nothing is handled twice.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, Groups, Keys, Publisher, Retry, Topology } from "@hyvve/bus"
import type { Envelope } from "@hyvve/schema"
import { Effect } from "effect"
import { ctx, order, OrderPlaced } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"

const group = "billing"

describe("Topology migration (redis)", () => {
  it.live("single → partitioned:4: backlog, pending entries and scheduled retries are all handled exactly once", () =>
    Effect.gen(function*() {
      const h = yield* Harness.make(Harness.redisBackend(), { realTime: true }, "migration")
      const main = Keys.main(h.prefix)
      const succeeded = new Map<string, number>()
      const failed = new Set<string>()
      // Every fifth event fails its first attempt (a retry is scheduled 1.5 s later).
      const handler = (event: Envelope.Envelope<typeof OrderPlaced>) =>
        Effect.suspend(() => {
          if (event.data.seq % 5 === 0 && !failed.has(event.id)) {
            failed.add(event.id)
            return Effect.fail("first attempt fails")
          }
          succeeded.set(event.id, (succeeded.get(event.id) ?? 0) + 1)
          return Effect.void
        })
      // Several retries: an entry the dead consumer took has used an attempt already.
      const options = { group, retry: Retry.delays(["1500 millis", "1500 millis", "1500 millis"]) }
      const publish = (node: Harness.Node, from: number, count: number) =>
        Effect.forEach(
          Array.from({ length: count }, (_, i) => from + i),
          (seq) => node.run(Publisher.publish(OrderPlaced, order(seq), ctx(`tenant-${seq % 8}`))),
          { concurrency: 4 }
        )

      // --- under `single` --------------------------------------------------------------------
      const old = yield* h.node()
      yield* old.run(Consumer.handle(OrderPlaced, handler, options))
      const handledOld = yield* publish(old, 0, 40)
      yield* h.waitUntil("the first 40 attempted", () => handledOld.every((id) => succeeded.has(id) || failed.has(id)))
      yield* h.waitUntil("the successes acked", Effect.map(old.pending(group), (n) => n === 8))
      // The retry schedule is written in its own step after the acks: wait for it in Redis.
      const scheduledOld = Effect.flatMap(
        h.redis.range({ key: main, start: "-", end: "+" }),
        (entries) =>
          Effect.map(h.redis.scores(`${main}:retry:${group}`, entries.map((e) => e.id)), (s) => s.filter((d) => d !== undefined).length)
      )
      yield* h.waitUntil("their failures scheduled", Effect.map(scheduledOld, (n) => n === 8))
      yield* old.close
      // A backlog nobody read yet, five of it taken by a consumer that then died.
      const publisher = yield* h.node()
      const backlog = yield* publish(publisher, 40, 30)
      const taken = yield* h.redis.readGroup({ keys: [main], group, consumer: "crashed", count: 5, block: "10 millis" })
      assert.strictEqual(taken.length, 5)
      assert.strictEqual(yield* h.pendingCount(group, main), 8 + 5, "retries scheduled and entries held by a dead consumer")
      // The retry schedule holds entry ids (scored by due time).
      const oldEntries = (yield* h.redis.range({ key: main, start: "-", end: "+" })).map((e) => e.id)
      const scheduled = yield* h.redis.scores(`${main}:retry:${group}`, oldEntries)
      assert.strictEqual(scheduled.filter((s) => s !== undefined).length, 8)

      // --- switch: publish to the partitions, drain the old stream ------------------------------
      const migrating = { topology: "partitioned:4", previousTopology: "single" } as const
      // A publisher on the new topology before any consumer is: its events wait for the group.
      const early = yield* h.node(migrating)
      const first = yield* publish(early, 100, 10)
      const fresh = yield* h.node(migrating)
      yield* fresh.run(Consumer.handle(OrderPlaced, handler, options))
      const later = yield* publish(fresh, 110, 30)
      const all = [...handledOld, ...backlog, ...first, ...later]

      yield* h.waitUntil("every event handled", () => all.every((id) => succeeded.has(id)), "20 seconds")
      yield* h.advance("800 millis")
      const twice = all.filter((id) => succeeded.get(id) !== 1)
      assert.deepStrictEqual(twice, [], "no event handled twice")
      assert.strictEqual(succeeded.size, all.length)

      // The old stream is drained and got nothing new; the new events are in the partitions.
      assert.strictEqual(yield* h.redis.length(main), 70)
      assert.strictEqual(yield* h.pendingCount(group, main), 0)
      const layout = Topology.of(fresh.settings)
      let inPartitions = 0
      for (const stream of layout.streams) {
        inPartitions += yield* h.redis.length(stream.key)
        assert.strictEqual(yield* h.pendingCount(group, stream.key), 0, `${stream.name}: nothing pending`)
      }
      assert.strictEqual(inPartitions, 40)
      const left = yield* h.redis.scores(`${main}:retry:${group}`, oldEntries)
      assert.isTrue(left.every((s) => s === undefined), "no retry left scheduled on the old stream")
      // Operators see the group over both layouts while migrating.
      const groups = yield* fresh.run(Groups.list())
      const billing = groups.find((g) => g.name === group)
      assert.strictEqual(billing?.pending, 0)
      assert.strictEqual(billing?.lag, 0)
    }), 60_000)
})
