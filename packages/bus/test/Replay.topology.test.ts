/**
 * Replay across the streams of a multi-stream topology, on the in-memory server rejecting
 * cross-slot steps (`enforceSlots`, as a Redis Cluster does): a job reads each stream its types
 * and tenant can be in, one after the other, delivers into that stream's redeliver streams of the
 * targets, keeps a cursor per stream (a cancelled job resumes each where it stopped), and routes
 * the archive's events to their stream. A topology migration in progress is refused.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, Consumer, EventBus, EventStore, Publisher, RedisStream, Replay, Topology } from "@hyvve/bus"
import { Catalog, EventType } from "@hyvve/schema"
import { Effect, Layer, Schema, Stream } from "effect"
import { ctx, OrderPlaced, orders, testCatalog } from "./fixtures/events.ts"
import * as ArchiveTies from "./fixtures/ArchiveTies.ts"
import * as Wait from "./fixtures/Wait.ts"

const Alpha = EventType.make("alpha.happened", Schema.Struct({ seq: Schema.Int }))
const Beta = EventType.make("beta.happened", Schema.Struct({ seq: Schema.Int }))
const Gamma = EventType.make("gamma.happened", Schema.Struct({ seq: Schema.Int }))
const catalog = Catalog.make([Alpha, Beta, Gamma, OrderPlaced])

const fast = { retryPoll: "20 millis", claimTimeout: "300 millis", block: "100 millis", shutdownTimeout: "1 second" } as const

/** The bus over one in-memory server that fails any step over two hash tags. */
const busWith = (options: BusConfig.Options, store?: Layer.Layer<EventStore.EventStore>) =>
  EventBus.layerServices(store === undefined ? {} : { store }).pipe(
    Layer.provideMerge(RedisStream.layerMemoryWith({ enforceSlots: true })),
    Layer.provideMerge(BusConfig.layer({ ...fast, catalog, ...options }))
  )

interface Seen {
  readonly id: string
  readonly type: string
  readonly tenantId: string
  readonly replayed: boolean
}

/** A group over every `*.happened` type, recording what it handles. */
const recordAll = (group: string) =>
  Effect.gen(function*() {
    const seen: Array<Seen> = []
    yield* Consumer.handle(
      "*.happened",
      (event) => Effect.sync(() => void seen.push({ id: event.id, type: event.type, tenantId: event.tenantId, replayed: event.replay !== undefined })),
      { group, catalog }
    )
    return seen
  })

const publishEach = <T extends EventType.Any>(type: T, payloads: ReadonlyArray<EventType.Payload<T>>, tenant: string) =>
  Effect.forEach(payloads, (payload) => Publisher.publish(type, payload, ctx(tenant)))

const seqs = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ seq: from + i }))

const replays = (seen: ReadonlyArray<Seen>) => seen.filter((s) => s.replayed)

const assertOnce = (ids: ReadonlyArray<string>) =>
  assert.strictEqual(new Set(ids).size, ids.length, "no event delivered twice")

describe("Replay across streams (memory, enforceSlots)", () => {
  for (const [name, store] of [["jobs in Redis", undefined], ["store", EventStore.layerMemory]] as const) {
    it.live(`family (${name}): two families into one group, types and tenant exact, each event once, per-stream order`, () =>
      Effect.gen(function*() {
        const audit = yield* recordAll("audit")
        const alphaOnly: Array<string> = []
        yield* Consumer.handle(Alpha, (e) => Effect.sync(() => void alphaOnly.push(e.id)), { group: "alpha-only" })
        const alphaT1 = yield* publishEach(Alpha, seqs(0, 5), "t1")
        yield* publishEach(Alpha, seqs(5, 3), "t2")
        const betaT1 = yield* publishEach(Beta, seqs(0, 4), "t1")
        yield* publishEach(Gamma, seqs(0, 3), "t1")
        yield* Wait.until("the live events handled", () => audit.length === 15 && alphaOnly.length === 8)

        const job = yield* Replay.run({ target: Replay.group("audit"), types: [Alpha.type, Beta.type], tenantId: "t1", batchSize: 2, catalog })
        assert.strictEqual(job.status, "completed")
        assert.deepStrictEqual([job.scanned, job.matched, job.replayed, job.failed], [12, 9, 9, 0])
        const layout = Topology.layout(Topology.family, { prefix: (yield* BusConfig.BusConfig).prefix, hashTags: true, catalog })
        assert.deepStrictEqual(
          job.streams?.map((s) => [s.key, s.done]),
          [[layout.route({ type: Alpha.type, tenantId: "" }).key, true], [layout.route({ type: Beta.type, tenantId: "" }).key, true]]
        )
        assert.strictEqual(Replay.progressOf(job, Date.now()).percent, 100)
        yield* Wait.until("the replays handled", () => replays(audit).length === 9)
        const replayed = replays(audit)
        assertOnce(replayed.map((s) => s.id))
        // No global order across streams; within each stream, publish order.
        assert.deepStrictEqual(replayed.filter((s) => s.type === Alpha.type).map((s) => s.id), alphaT1)
        assert.deepStrictEqual(replayed.filter((s) => s.type === Beta.type).map((s) => s.id), betaT1)
        yield* Effect.sleep("300 millis")
        assert.strictEqual(replays(audit).length, 9)
        assert.strictEqual(alphaOnly.length, 8, "another group never sees the replay")
      }).pipe(Effect.provide(busWith({ topology: "family" }, store))), 30_000)
  }

  it.live("partitioned:4 with a tenant filter reads only the tenant's partition, in order", () =>
    Effect.gen(function*() {
      const seen: Array<{ readonly id: string; readonly tenantId: string; readonly replayed: boolean }> = []
      yield* Consumer.handle(
        OrderPlaced,
        (e) => Effect.sync(() => void seen.push({ id: e.id, tenantId: e.tenantId, replayed: e.replay !== undefined })),
        { group: "billing" }
      )
      const tenants = Array.from({ length: 8 }, (_, i) => `tenant-${i}`)
      const published = new Map<string, ReadonlyArray<string>>()
      for (const tenant of tenants) published.set(tenant, yield* Publisher.publishBatch(orders(0, 4, tenant)))
      yield* Wait.until("the live events handled", () => seen.length === 32)

      const job = yield* Replay.run({ target: Replay.group("billing"), tenantId: "tenant-3", batchSize: 3 })
      const settings = yield* BusConfig.BusConfig
      const layout = Topology.of(settings)
      const home = layout.route({ type: OrderPlaced.type, tenantId: "tenant-3" })
      const sharing = tenants.filter((t) => layout.route({ type: OrderPlaced.type, tenantId: t }).key === home.key)
      assert.deepStrictEqual(job.streams?.map((s) => s.key), [home.key])
      assert.deepStrictEqual([job.status, job.scanned, job.replayed], ["completed", sharing.length * 4, 4])
      yield* Wait.until("the replays handled", () => seen.filter((s) => s.replayed).length === 4)
      yield* Effect.sleep("300 millis")
      const replayed = seen.filter((s) => s.replayed)
      assert.deepStrictEqual(replayed.map((s) => s.id), published.get("tenant-3"))
    }).pipe(Effect.provide(busWith({ topology: "partitioned:4", catalog: testCatalog }))), 30_000)

  it.live("a job cancelled mid-way resumes each stream where it stopped: no event twice, none missed", () =>
    Effect.gen(function*() {
      const audit = yield* recordAll("audit")
      const ids = [
        ...(yield* publishEach(Alpha, seqs(0, 30), "t1")),
        ...(yield* publishEach(Beta, seqs(0, 30), "t1"))
      ]
      yield* Wait.until("the live events handled", () => audit.length === 60)
      const jobId = yield* Replay.start({ target: Replay.group("audit"), types: [Alpha.type, Beta.type], batchSize: 5, rate: 50, catalog })
      const before = yield* Replay.progress(jobId, { interval: "20 millis" }).pipe(
        Stream.takeUntil((p) => p.replayed >= 10),
        Stream.runCollect
      )
      const cancelled = yield* Replay.cancel(jobId)
      assert.strictEqual(cancelled.status, "cancelled")
      assert.isTrue(cancelled.replayed >= 10 && cancelled.replayed < 60, `replayed ${cancelled.replayed}`)
      assert.isTrue(cancelled.streams?.some((s) => !s.done), "a stream is left to replay")
      yield* Replay.resume(jobId)
      const after = yield* Replay.progress(jobId, { interval: "20 millis" }).pipe(Stream.runCollect)
      const running = [...before, ...after].filter((p) => p.status !== "cancelled")
      for (let i = 1; i < running.length; i++) {
        assert.isTrue(running[i]!.percent >= running[i - 1]!.percent, `percent went back: ${running[i - 1]!.percent} -> ${running[i]!.percent}`)
      }
      const done = yield* Replay.get(jobId)
      assert.deepStrictEqual([done.status, done.replayed, done.scanned], ["completed", 60, 60])
      assert.isTrue(done.streams?.every((s) => s.done))
      assert.strictEqual(after[after.length - 1]!.percent, 100)
      yield* Wait.until("every event replayed", () => replays(audit).length >= 60)
      yield* Effect.sleep("300 millis")
      const replayed = replays(audit).map((s) => s.id)
      assertOnce(replayed)
      assert.deepStrictEqual([...replayed].sort(), [...ids].sort())
    }).pipe(Effect.provide(busWith({ topology: "family" }))), 30_000)

  it.live("the archive beyond retention: each event goes to its own stream's redeliver stream, once", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const audit = yield* recordAll("audit")
      const old = [...(yield* publishEach(Alpha, seqs(0, 4), "t1")), ...(yield* publishEach(Beta, seqs(0, 4), "t1"))]
      yield* Wait.until("archived", Effect.map(store.events({}), (p) => p.events.length === 8))
      yield* Effect.sleep("1100 millis")
      // Trims the old ones from both streams.
      const recent = [...(yield* publishEach(Alpha, seqs(4, 2), "t1")), ...(yield* publishEach(Beta, seqs(4, 2), "t1"))]
      yield* Wait.until("archived", Effect.map(store.events({}), (p) => p.events.length === 12))
      yield* Wait.until("the live events handled", () => audit.length === 12)
      const job = yield* Replay.run({ target: Replay.group("audit"), types: [Alpha.type, Beta.type], batchSize: 3, catalog })
      assert.deepStrictEqual([job.status, job.matched, job.replayed], ["completed", 12, 12])
      yield* Wait.until("the replays handled", () => replays(audit).length === 12)
      yield* Effect.sleep("300 millis")
      const replayed = replays(audit)
      assertOnce(replayed.map((s) => s.id))
      const inOrder = [...old, ...recent]
      for (const type of [Alpha.type, Beta.type]) {
        const expected = inOrder.filter((id) => audit.find((s) => s.id === id && !s.replayed)?.type === type)
        assert.deepStrictEqual(replayed.filter((s) => s.type === type).map((s) => s.id), expected)
      }
    }).pipe(Effect.provide(busWith({ topology: "family", retention: "1 second" }, EventStore.layerMemory))), 30_000)

  it.live("the archive: events of three streams that share entry ids are each replayed once, whatever the page size", () =>
    ArchiveTies.scenario([Alpha.type, Beta.type, Gamma.type], catalog).pipe(
      Effect.provide(busWith({ topology: "family" }, EventStore.layerMemory))
    ), 30_000)

  it.live("the archive: a job cancelled mid-way through ids three streams share resumes with each event replayed once", () =>
    ArchiveTies.resumeScenario([Alpha.type, Beta.type, Gamma.type], catalog).pipe(
      Effect.provide(busWith({ topology: "family" }, EventStore.layerMemory))
    ), 30_000)

  it.live("a job recorded with one cursor (before several streams) is not resumed under them", () =>
    Effect.gen(function*() {
      yield* recordAll("audit")
      yield* publishEach(Alpha, seqs(0, 3), "t1")
      const job = yield* Replay.run({ target: Replay.group("audit"), types: [Alpha.type], catalog })
      // The same job as a 0.2 bus recorded it, cancelled mid-way: one cursor, no `streams`.
      const { streams: _, ...old } = { ...job, status: "cancelled" as const, cursor: "0-0" }
      const { prefix } = yield* BusConfig.BusConfig
      const redis = yield* RedisStream.RedisStream
      yield* redis.transaction([{
        _tag: "HSet",
        key: `${prefix}:events:{${prefix}:replay}:jobs`,
        field: job.id,
        value: JSON.stringify(Schema.encodeSync(Replay.Job)(old))
      }])
      const decoded = yield* Replay.get(job.id)
      assert.isUndefined(decoded.streams)
      const error = yield* Effect.flip(Replay.resume(job.id))
      assert.isTrue(error._tag === "InvalidReplay" && error.reason === "Topology", error.message)
      assert.strictEqual((yield* Replay.get(job.id)).status, "cancelled")
    }).pipe(Effect.provide(busWith({ topology: "family" }))), 30_000)

  it.effect("a topology migration in progress is refused (the previous streams and the archive overlap)", () =>
    Effect.gen(function*() {
      const error = yield* Replay.start({ target: Replay.matching }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "InvalidReplay")
      assert.isTrue(error._tag === "InvalidReplay" && error.reason === "Topology", error.message)
      assert.deepStrictEqual(yield* Replay.list(), [])
    }).pipe(Effect.provide(busWith({ topology: "family", previousTopology: "single" }))))
})
