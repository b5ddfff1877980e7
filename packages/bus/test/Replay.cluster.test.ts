/**
 * Replay on a Redis Cluster with the bus's hash tags: the server-side copy (one Lua step over the
 * stream, the target's redeliver stream and the recorded progress) touches keys of one slot only,
 * so it runs on the cluster, and the target group gets every matching event once, with the marker.
 */
import { assert, it } from "@effect/vitest"
import { BusConfig, Consumer, EventBus, IoRedisClusterStream, Publisher, Replay } from "@hyvve/bus"
import type { Envelope } from "@hyvve/schema"
import { Effect, Layer } from "effect"
import { OrderPlaced, orders } from "./fixtures/events.ts"
import * as Wait from "./fixtures/Wait.ts"
import { describeCluster } from "./utils/Cluster.ts"
import { uniquePrefix } from "./utils/TestEnv.ts"

describeCluster("Replay (cluster, hash tags)", (nodes) => {
  const bus = () =>
    EventBus.layerServices().pipe(
      Layer.provideMerge(IoRedisClusterStream.layer({ nodes, connectionName: "hyvve-test-replay" })),
      Layer.provideMerge(BusConfig.layer({
        prefix: uniquePrefix("replay-cluster"),
        hashTags: true,
        claimTimeout: "300 millis",
        retryPoll: "50 millis",
        block: "100 millis",
        shutdownTimeout: "1 second"
      }))
    )

  it.live("replays one tenant's events into one group, copied inside the server", () =>
    Effect.gen(function*() {
      const seen: Array<Envelope.Envelope<typeof OrderPlaced>> = []
      yield* Consumer.handle(OrderPlaced, (event) => Effect.sync(() => void seen.push(event)), { group: "billing" })
      const a = yield* Publisher.publishBatch(orders(0, 30, "tenant-a"))
      yield* Publisher.publishBatch(orders(30, 30, "tenant-b"))
      yield* Wait.until("the live events handled", () => seen.length === 60)

      const job = yield* Replay.run({ target: Replay.group("billing"), tenantId: "tenant-a", batchSize: 7 })
      assert.strictEqual(job.status, "completed")
      assert.strictEqual(job.scanned, 60)
      assert.strictEqual(job.replayed, 30)
      yield* Wait.until("the replayed events handled", () => seen.length === 90)
      const replayed = seen.slice(60)
      assert.deepStrictEqual(replayed.map((e) => e.id), a)
      for (const [i, e] of replayed.entries()) assert.deepStrictEqual(e.replay, { jobId: job.id, originalEventId: a[i]! })
    }).pipe(Effect.provide(bus())), 60_000)
})
