/**
 * Replay on a Redis Cluster with the bus's hash tags: the server-side copy (one Lua step over the
 * stream, the target's redeliver stream and the recorded progress) touches keys of one slot only,
 * so it runs on the cluster, and the target group gets every matching event once, with the marker.
 * Under `family` the streams land on different slots: the job copies each one in its own slot,
 * and reads a PostgreSQL archive whose events of three streams share entry ids, each once.
 */
import { assert, it } from "@effect/vitest"
import { BusConfig, Consumer, EventBus, type EventStore, IoRedisClusterStream, Publisher, Replay } from "@hyvve/bus"
import type { Envelope } from "@hyvve/schema"
import { Catalog, EventType } from "@hyvve/schema"
import { Effect, Layer, Schema } from "effect"
import { ctx, OrderPlaced, orders } from "./fixtures/events.ts"
import * as ArchiveTies from "./fixtures/ArchiveTies.ts"
import * as PgStore from "./fixtures/PgStore.ts"
import * as Wait from "./fixtures/Wait.ts"
import { describeCluster } from "./utils/Cluster.ts"
import { uniquePrefix } from "./utils/TestEnv.ts"

const Alpha = EventType.make("alpha.happened", Schema.Struct({ seq: Schema.Int }))
const Beta = EventType.make("beta.happened", Schema.Struct({ seq: Schema.Int }))
const catalog = Catalog.make([Alpha, Beta])
const Gamma = EventType.make("gamma.happened", Schema.Struct({ seq: Schema.Int }))
// The archive scenarios: three families, three streams.
const ties = [Alpha.type, Beta.type, Gamma.type] as const
const tiesCatalog = Catalog.make([Alpha, Beta, Gamma])

describeCluster("Replay (cluster, hash tags)", (nodes) => {
  const bus = (options: BusConfig.Options = {}, store?: Layer.Layer<EventStore.EventStore>) =>
    EventBus.layerServices(store === undefined ? {} : { store }).pipe(
      Layer.provideMerge(IoRedisClusterStream.layer({ nodes, connectionName: "hyvve-test-replay" })),
      Layer.provideMerge(BusConfig.layer({
        prefix: uniquePrefix("replay-cluster"),
        hashTags: true,
        claimTimeout: "300 millis",
        retryPoll: "50 millis",
        block: "100 millis",
        shutdownTimeout: "1 second",
        ...options
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

  it.live("family: replays two families, each stream copied in its own slot, each event once, per-stream order", () =>
    Effect.gen(function*() {
      const seen: Array<{ readonly id: string; readonly type: string; readonly replayed: boolean }> = []
      yield* Consumer.handle(
        "*.happened",
        (e) => Effect.sync(() => void seen.push({ id: e.id, type: e.type, replayed: e.replay !== undefined })),
        { group: "audit", catalog }
      )
      const seqs = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ seq: from + i }))
      const publish = <T extends EventType.Any>(type: T, payloads: ReadonlyArray<EventType.Payload<T>>, tenant: string) =>
        Effect.forEach(payloads, (payload) => Publisher.publish(type, payload, ctx(tenant)))
      const alpha = yield* publish(Alpha, seqs(0, 20), "t1")
      yield* publish(Alpha, seqs(20, 5), "t2")
      const beta = yield* publish(Beta, seqs(0, 15), "t1")
      yield* Wait.until("the live events handled", () => seen.length === 40)

      const job = yield* Replay.run({ target: Replay.group("audit"), tenantId: "t1", batchSize: 6, catalog })
      assert.deepStrictEqual([job.status, job.scanned, job.replayed], ["completed", 40, 35])
      assert.deepStrictEqual(job.streams?.map((s) => s.done), [true, true])
      yield* Wait.until("the replays handled", () => seen.filter((s) => s.replayed).length === 35)
      const replayed = seen.filter((s) => s.replayed)
      assert.strictEqual(new Set(replayed.map((s) => s.id)).size, 35)
      assert.deepStrictEqual(replayed.filter((s) => s.type === Alpha.type).map((s) => s.id), alpha)
      assert.deepStrictEqual(replayed.filter((s) => s.type === Beta.type).map((s) => s.id), beta)
    }).pipe(Effect.provide(bus({ topology: "family", catalog }))), 60_000)

  it.live("family with a PostgreSQL archive: events of three streams that share entry ids are each replayed once", () =>
    ArchiveTies.scenario(ties, tiesCatalog).pipe(
      Effect.provide(bus({ topology: "family", catalog: tiesCatalog }, PgStore.layer("replay_cluster_ties")))
    ), 60_000)
})
