/**
 * Replay on the in-memory bus (real time, short timings), with the in-memory store and without
 * a store (jobs in Redis): exact filters, delivery only to the target groups with the marker,
 * `replays: "skip"`, the archive and Redis read seamlessly, monotone progress to 100 %, cancel and
 * resume (each event once), and typed errors for bad input.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, Consumer, EventBus, EventStore, Keys, Publisher, RedisStream, Replay } from "@hyvve/bus"
import type { Envelope } from "@hyvve/schema"
import { Effect, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import { OrderPlaced, OrderShipped, ctx, envelopeJson, order, orders, testCatalog, wireFields } from "./fixtures/events.ts"
import * as Wait from "./fixtures/Wait.ts"

const fast = { claimTimeout: "300 millis", retryPoll: "50 millis", block: "100 millis", shutdownTimeout: "1 second" } as const

const withStore = (options: Parameters<typeof EventBus.layerMemory>[0] = {}) => {
  const store = EventStore.layerMemory
  return Layer.merge(EventBus.layerMemory({ ...fast, ...options }, { store }), store)
}
const withoutStore = () => EventBus.layerMemory(fast)

type Seen = Envelope.Envelope<typeof OrderPlaced>

const recorder = () => {
  const seen: Array<Seen> = []
  return { seen, handler: (event: Seen) => Effect.sync(() => void seen.push(event)) }
}

const seqs = (events: ReadonlyArray<Seen>) => events.map((e) => e.data.seq)

for (const [name, layer] of [["store", withStore], ["no store (jobs in Redis)", withoutStore]] as const) {
  describe(`Replay (memory, ${name})`, () => {
    it.live("replays one tenant's events to one group only, with the marker, keeping ids and correlation", () =>
      Effect.gen(function*() {
        const billing = recorder()
        const audit = recorder()
        const skipping = recorder()
        yield* Consumer.handle(OrderPlaced, billing.handler, { group: "billing" })
        yield* Consumer.handle(OrderPlaced, audit.handler, { group: "audit" })
        yield* Consumer.handle(OrderPlaced, skipping.handler, { group: "skipping", replays: "skip" })
        const a = yield* Publisher.publishBatch(orders(0, 6, "tenant-a"))
        const b = yield* Publisher.publishBatch(orders(6, 6, "tenant-b"))
        yield* Wait.until("all handled", () => billing.seen.length === 12 && audit.seen.length === 12 && skipping.seen.length === 12)

        const job = yield* Replay.run({ target: Replay.group("billing"), tenantId: "tenant-a", types: [OrderPlaced], batchSize: 4 })
        assert.strictEqual(job.status, "completed")
        assert.strictEqual(job.matched, 6)
        assert.strictEqual(job.replayed, 6)
        assert.strictEqual(job.scanned, 12)
        yield* Wait.until("replayed to billing", () => billing.seen.length === 18)
        const replayed = billing.seen.slice(12)
        assert.deepStrictEqual(replayed.map((e) => e.id), a)
        assert.deepStrictEqual(seqs(replayed), [0, 1, 2, 3, 4, 5])
        for (const [i, e] of replayed.entries()) {
          assert.deepStrictEqual(e.replay, { jobId: job.id, originalEventId: a[i]! })
          assert.strictEqual(e.correlationId, billing.seen[i]!.correlationId)
          assert.strictEqual(e.tenantId, "tenant-a")
        }
        for (const e of billing.seen.slice(0, 12)) assert.isUndefined(e.replay)
        // Nobody else sees the replay; a group that skips replays acks them unhandled.
        yield* Replay.run({ target: Replay.group("skipping"), tenantId: "tenant-b" })
        yield* Effect.sleep("500 millis")
        assert.strictEqual(audit.seen.length, 12)
        assert.strictEqual(skipping.seen.length, 12)
        assert.strictEqual(billing.seen.length, 18)
        void b
      }).pipe(Effect.provide(layer())), 30_000)

    it.live("entries Redis cannot copy as bytes (other writers' layouts) are delivered from here, in stream order", () =>
      Effect.gen(function*() {
        const target = recorder()
        yield* Consumer.handle(OrderPlaced, target.handler, { group: "target" })
        const redis = yield* RedisStream.RedisStream
        const settings = yield* BusConfig.BusConfig
        const main = Keys.main(settings.prefix)
        yield* Publisher.publishBatch(orders(0, 2))
        // No `type` / `tenant` fields (a NestJS entry), then an envelope that does not start with its id.
        yield* redis.append(main, { event: envelopeJson({ data: order(2) }) })
        const reordered = JSON.parse(envelopeJson({ data: order(3) })) as Record<string, unknown>
        const { id, ...rest } = reordered
        yield* redis.append(main, wireFields(JSON.stringify({ ...rest, id })))
        yield* Publisher.publishBatch(orders(4, 2))
        yield* Wait.until("all handled", () => target.seen.length === 6)

        const job = yield* Replay.run({ target: Replay.group("target"), batchSize: 4 })
        assert.deepStrictEqual([job.status, job.scanned, job.matched, job.replayed], ["completed", 6, 6, 6])
        yield* Wait.until("replayed", () => target.seen.length === 12)
        const replayed = target.seen.slice(6)
        assert.deepStrictEqual(seqs(replayed), [0, 1, 2, 3, 4, 5])
        assert.deepStrictEqual(replayed.map((e) => e.id), target.seen.slice(0, 6).map((e) => e.id))
        for (const e of replayed) assert.deepStrictEqual(e.replay, { jobId: job.id, originalEventId: e.id })
      }).pipe(Effect.provide(layer())), 30_000)

    it.live("replays to every group whose subscription matches, by pattern or type", () =>
      Effect.gen(function*() {
        const placed = recorder()
        const shipped: Array<string> = []
        const all: Array<string> = []
        yield* Consumer.handle(OrderPlaced, placed.handler, { group: "placed" })
        yield* Consumer.handle(OrderShipped, (e) => Effect.sync(() => void shipped.push(e.id)), { group: "shipped" })
        yield* Consumer.handle("test.**", (e) => Effect.sync(() => void all.push(e.id)), { group: "all", catalog: testCatalog })
        yield* Publisher.publishBatch(orders(0, 3))
        const ship = yield* Publisher.publish(OrderShipped, { orderId: "order-1", carrier: "ups" }, ctx())
        yield* Wait.until("handled", () => placed.seen.length === 3 && shipped.length === 1 && all.length === 4)
        const job = yield* Replay.run({ target: Replay.matching, pattern: "test.*" })
        assert.strictEqual(job.matched, 4)
        yield* Wait.until("replayed", () => placed.seen.length === 6 && shipped.length === 2 && all.length === 8)
        assert.deepStrictEqual(shipped, [ship, ship])
        yield* Effect.sleep("300 millis")
        assert.strictEqual(all.length, 8)
      }).pipe(Effect.provide(layer())), 30_000)

    it.live("progress is monotone and ends at 100 % with the final status; cancel stops, resume finishes, each event once", () =>
      Effect.gen(function*() {
        const seen = new Map<string, number>()
        yield* Consumer.handle(OrderPlaced, (e) =>
          Effect.sync(() => {
            if (e.replay !== undefined) seen.set(e.id, (seen.get(e.id) ?? 0) + 1)
          }), { group: "slow" })
        const ids = yield* Publisher.publishBatch(orders(0, 60))
        const jobId = yield* Replay.start({ target: Replay.group("slow"), batchSize: 5, rate: 50 })
        const progress = yield* Replay.progress(jobId, { interval: "20 millis" }).pipe(
          Stream.takeUntil((p) => p.replayed >= 10),
          Stream.runCollect
        )
        const cancelled = yield* Replay.cancel(jobId, { actor: "ops" })
        assert.strictEqual(cancelled.status, "cancelled")
        assert.isTrue(cancelled.replayed >= 10 && cancelled.replayed < 60, `replayed ${cancelled.replayed}`)
        const again = yield* Effect.flip(Replay.resume(cancelled.id).pipe(Effect.andThen(Replay.resume(cancelled.id))))
        assert.strictEqual(again._tag, "JobAlreadyRunning")
        const rest = yield* Replay.progress(jobId, { interval: "20 millis" }).pipe(Stream.runCollect)
        const all = [...progress, ...rest]
        for (let i = 1; i < all.length; i++) {
          if (all[i]!.status === "cancelled" || all[i - 1]!.status === "cancelled") continue
          assert.isTrue(all[i]!.percent >= all[i - 1]!.percent, `percent went back: ${all[i - 1]!.percent} -> ${all[i]!.percent}`)
        }
        const last = rest[rest.length - 1]!
        assert.strictEqual(last.status, "completed")
        assert.strictEqual(last.percent, 100)
        assert.strictEqual(last.replayed, 60)
        yield* Wait.until("every event replayed", () => seen.size === 60)
        yield* Effect.sleep("200 millis")
        assert.deepStrictEqual([...seen.keys()].sort(), [...ids].sort())
        assert.isTrue([...seen.values()].every((n) => n === 1), "each event replayed exactly once across cancel and resume")
        const finished = yield* Effect.flip(Replay.resume(jobId))
        assert.strictEqual(finished._tag, "JobFinished")
        const listed = yield* Replay.list()
        assert.deepStrictEqual(listed.map((j) => j.id), [jobId])
      }).pipe(Effect.provide(layer())), 30_000)

    it.live("runs into a handler with decoded events and the marker", () =>
      Effect.gen(function*() {
        yield* Publisher.publishBatch(orders(0, 5, "tenant-a"))
        yield* Publisher.publishBatch(orders(5, 5, "tenant-b"))
        const seen: Array<Seen> = []
        const job = yield* Replay.runHandler({
          types: [OrderPlaced],
          tenantId: "tenant-b",
          handler: (event) =>
            event.data.seq === 7 ? Effect.fail("boom") : Effect.sync(() => void seen.push(event))
        })
        assert.deepStrictEqual(seqs(seen), [5, 6, 8, 9])
        assert.isTrue(seen.every((e) => e.replay?.jobId === job.id))
        assert.strictEqual(job.failed, 1)
        assert.strictEqual(job.replayed, 4)
        const cannot = yield* Effect.flip(Replay.resume(job.id))
        assert.strictEqual(cannot._tag, "JobFinished")
      }).pipe(Effect.provide(layer())), 30_000)

    it.live("bad input fails with typed errors and records nothing", () =>
      Effect.gen(function*() {
        yield* Consumer.handle(OrderPlaced, () => Effect.void, { group: "known" })
        const fail = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.flip(effect)
        const range = yield* fail(Replay.run({ target: Replay.group("known"), from: 2_000, to: 1_000 }))
        assert.deepStrictEqual([range._tag, range._tag === "InvalidReplay" ? range.reason : ""], ["InvalidReplay", "Range"])
        const type = yield* fail(Replay.run({ target: Replay.group("known"), types: ["no.such_type"] }))
        assert.deepStrictEqual([type._tag, type._tag === "InvalidReplay" ? type.reason : ""], ["InvalidReplay", "UnknownType"])
        const pattern = yield* fail(Replay.run({ target: Replay.group("known"), pattern: "a..b" }))
        assert.strictEqual(pattern._tag, "InvalidPattern")
        const group = yield* fail(Replay.start({ target: Replay.group("nobody") }))
        assert.deepStrictEqual([group._tag, group._tag === "InvalidReplay" ? group.reason : ""], ["InvalidReplay", "UnknownGroup"])
        const batch = yield* fail(Replay.run({ target: Replay.group("known"), batchSize: 0 }))
        assert.deepStrictEqual([batch._tag, batch._tag === "InvalidReplay" ? batch.reason : ""], ["InvalidReplay", "Option"])
        for (const missing of [Replay.get("rpl_x"), Replay.cancel("rpl_x"), Replay.resume("rpl_x")]) {
          assert.strictEqual((yield* fail(missing))._tag, "JobNotFound")
        }
        const progress = yield* fail(Stream.runCollect(Replay.progress("rpl_x")))
        assert.strictEqual(progress._tag, "JobNotFound")
        assert.deepStrictEqual(yield* Replay.list(), [])
      }).pipe(Effect.provide(layer())), 30_000)
  })
}

describe("Replay (memory, store): the archive beyond retention", () => {
  it.live("reads the archive, then Redis, in order, each event once, and audits the job", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const old = yield* Publisher.publishBatch(orders(0, 7))
      yield* Wait.until("archived", Effect.map(store.events({}), (p) => p.events.length === 7))
      yield* Effect.sleep("1100 millis")
      const recent = yield* Publisher.publishBatch(orders(7, 5)) // trims the old ones from the stream
      yield* Wait.until("archived", Effect.map(store.events({}), (p) => p.events.length === 12))
      const seen: Array<Seen> = []
      const job = yield* Replay.runHandler({
        types: [OrderPlaced],
        batchSize: 3,
        actor: "ops",
        handler: (event) => Effect.sync(() => void seen.push(event))
      })
      assert.deepStrictEqual(seen.map((e) => e.id), [...old, ...recent])
      assert.strictEqual(job.replayed, 12)
      const audit = yield* store.auditLog({ subject: job.id })
      assert.deepStrictEqual(audit.map((a) => [a.action, a.actor]), [["replay.start", "ops"]])
    }).pipe(Effect.provide(withStore({ retention: "1 second" }))), 30_000)
})

describe("Replay (memory, store): the archive into groups", () => {
  it.live("a group and every matching group get each archived event once, in order, with the marker", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const placed = recorder()
      const shipped: Array<string> = []
      yield* Consumer.handle(OrderPlaced, placed.handler, { group: "placed" })
      yield* Consumer.handle(OrderShipped, (e) => Effect.sync(() => void shipped.push(e.id)), { group: "shipped" })
      const old = yield* Publisher.publishBatch(orders(0, 5))
      const ship = yield* Publisher.publish(OrderShipped, { orderId: "order-1", carrier: "ups" }, ctx())
      yield* Wait.until("archived", Effect.map(store.events({}), (p) => p.events.length === 6))
      yield* Wait.until("handled", () => placed.seen.length === 5 && shipped.length === 1)
      yield* Effect.sleep("1100 millis")
      // Replays end before this one, which trims the others from the stream.
      const cut = Date.now() - 1
      yield* Publisher.publishBatch(orders(5, 1))
      yield* Wait.until("handled", () => placed.seen.length === 6)
      const intoOne = yield* Replay.run({ target: Replay.group("placed"), types: [OrderPlaced], batchSize: 2, to: cut })
      assert.deepStrictEqual([intoOne.status, intoOne.replayed], ["completed", 5])
      yield* Wait.until("replayed to placed", () => placed.seen.length === 11)
      assert.deepStrictEqual(placed.seen.slice(6).map((e) => [e.id, e.replay?.originalEventId, e.replay?.jobId]), old.map((id) => [id, id, intoOne.id]))
      const intoMatching = yield* Replay.run({ target: Replay.matching, batchSize: 4, to: cut })
      assert.strictEqual(intoMatching.replayed, 6)
      yield* Wait.until("replayed to both", () => placed.seen.length === 16 && shipped.length === 2)
      assert.deepStrictEqual(placed.seen.slice(11).map((e) => e.id), old)
      assert.deepStrictEqual(shipped, [ship, ship])
    }).pipe(Effect.provide(withStore({ retention: "1 second" }))), 30_000)
})

describe("Replay (memory, TestClock)", () => {
  it.effect("a rate-limited replay into a handler runs on the test clock: 30 events at 10/s take 2 s between batches", () =>
    Effect.gen(function*() {
      yield* Publisher.publishBatch(orders(0, 30))
      const seen: Array<number> = []
      const fiber = yield* Effect.forkChild(Replay.runHandler({
        types: [OrderPlaced],
        batchSize: 10,
        rate: 10,
        handler: (event) => Effect.sync(() => void seen.push(event.data.seq))
      }))
      yield* TestClock.adjust("500 millis")
      assert.deepStrictEqual(seen.length, 10, "the first batch, then a 1 s pause")
      yield* TestClock.adjust("10 seconds")
      const job = yield* Fiber.join(fiber)
      assert.deepStrictEqual(seen, Array.from({ length: 30 }, (_, i) => i))
      assert.strictEqual(job.status, "completed")
      assert.isTrue((job.finishedAt ?? 0) - (job.startedAt ?? 0) >= 2_000, "two pauses of 1 s")
    }).pipe(Effect.provide(EventBus.layerMemory({}, { store: EventStore.layerMemory }))))

  // Type-level: a handler sees the payload of the replayed types only.
  const typed = () =>
    Replay.runHandler({
      types: [OrderPlaced],
      handler: (event) => {
        // @ts-expect-error `carrier` belongs to OrderShipped, not to OrderPlaced
        void event.data.carrier
        return Effect.void
      }
    })
  void typed
})
