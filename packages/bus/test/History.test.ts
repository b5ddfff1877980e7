/**
 * The history writers on the in-memory bus and store (real time, short timings): everything
 * published is archived and every delivery outcome recorded; a store outage stops neither
 * publishing nor delivery, and the writers catch up; a retention the archiver fell behind is a
 * recorded gap, and an idle archiver records none. Under `TestClock`: after an outage, the first
 * write that lands ends the other writer's backoff wait.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, Consumer, EventBus, EventStore, Health, History, Publisher, RedisStream, Retry, Testing, Topology } from "@hyvve/bus"
import { ApprovalApproved } from "@hyvve/schema"
import { Effect, Layer, Option } from "effect"
import { OrderPlaced, orders, testCatalog } from "./fixtures/events.ts"
import * as Wait from "./fixtures/Wait.ts"

const fast = { claimTimeout: "300 millis", retryPoll: "50 millis", block: "100 millis", shutdownTimeout: "1 second" } as const

const bus = (options: Parameters<typeof EventBus.layerMemory>[0] = {}, history: History.Options = {}) => {
  const store = EventStore.layerMemory
  // One store instance, shared by the bus and the test (layers are memoized by reference).
  return Layer.merge(EventBus.layerMemory({ ...fast, ...options }, { store, history }), store)
}

const storeSize = Effect.flatMap(EventStore.MemoryControl, (c) => Effect.sync(() => c.snapshot()))

describe("History (memory)", () => {
  it.live("archives every event and records each delivery's outcome; a store outage stops neither delivery nor catch-up", () =>
    Effect.gen(function*() {
      const handled = new Set<string>()
      yield* Consumer.handle(OrderPlaced, (event) =>
        event.data.seq === 3 ?
          Effect.fail(new Retry.NonRetryable({ message: "order 3 is bad" })) :
          Effect.sync(() => void handled.add(event.id)), { group: "billing" })
      const first = yield* Publisher.publishBatch(orders(0, 10))
      yield* Wait.until("first batch archived and settled", Effect.map(storeSize, (s) => s.events === 10 && s.deliveries === 10))

      const control = yield* EventStore.MemoryControl
      control.setAvailable(false)
      const second = yield* Publisher.publishBatch(orders(10, 10))
      // Delivery goes on while the store is down.
      yield* Wait.until("second batch handled during the outage", () => second.every((id) => handled.has(id)))
      const during = yield* History.status
      assert.isDefined(during.storeError, "the writers report the failing store")
      assert.isTrue(during.reasons.length > 0)
      control.setAvailable(true)

      const store = yield* EventStore.EventStore
      // A delivery's row exists from its first outcome (PROCESSING): wait for the final statuses too.
      const final = Effect.map(store.statusCounts("billing"), (counts) =>
        counts.find((c) => c.status === "COMPLETED")?.count === 19 && counts.find((c) => c.status === "DLQ")?.count === 1)
      yield* Wait.until(
        "the writers caught up",
        Effect.zipWith(storeSize, final, (s, settled) => s.events === 20 && s.deliveries === 20 && settled)
      )
      for (const id of [...first, ...second]) {
        const detail = yield* store.event(id)
        assert.isTrue(Option.isSome(detail), `event ${id} archived`)
        if (Option.isNone(detail)) continue
        const [delivery] = detail.value.deliveries
        const expected = detail.value.event.data !== null && typeof detail.value.event.data === "object" &&
            "seq" in detail.value.event.data && detail.value.event.data.seq === 3 ?
          "DLQ" :
          "COMPLETED"
        assert.strictEqual(delivery?.status, expected, `delivery of ${id}`)
        assert.strictEqual(delivery?.group, "billing")
      }
      const counts = yield* store.statusCounts("billing")
      assert.deepStrictEqual(counts, [
        { group: "billing", status: "COMPLETED", count: 19 },
        { group: "billing", status: "DLQ", count: 1 }
      ])
      const after = yield* History.status
      assert.isUndefined(after.storeError)
      assert.strictEqual(after.dropped, 0)
      assert.strictEqual(after.gaps, 0)
    }).pipe(Effect.provide(bus())), 30_000)

  it.live("under the family topology, one archiver group per stream archives every family's events", () =>
    Effect.gen(function*() {
      const placed = yield* Publisher.publishBatch(orders(0, 5))
      const approved = yield* Publisher.publish(ApprovalApproved, { approvalId: "a", decidedById: "u", decision: "approved" }, {
        tenantId: "t",
        userId: "u"
      })
      yield* Wait.until("both families archived", Effect.map(storeSize, (s) => s.events === 6))
      const store = yield* EventStore.EventStore
      for (const id of [...placed, approved]) assert.isTrue(Option.isSome(yield* store.event(id)), `event ${id} archived`)
      const settings = yield* BusConfig.BusConfig
      const layout = Topology.of(settings)
      const redis = yield* RedisStream.RedisStream
      for (const type of [OrderPlaced.type, ApprovalApproved.type]) {
        const stream = layout.route({ type, tenantId: "t" }).key
        const groups = yield* redis.groups(stream)
        assert.isTrue(groups.some((g) => g.name === History.archiverGroup && g.pending === 0 && g.lag === 0), stream)
      }
      const status = yield* History.status
      assert.strictEqual(Object.keys(status.positions).length, 2, "a position on each stream that had events")
    }).pipe(Effect.provide(bus({ topology: "family", catalog: testCatalog }))), 30_000)

  it.live("a retention the archiver fell behind is recorded as a gap: the exact range it may have missed", () =>
    Effect.gen(function*() {
      const control = yield* EventStore.MemoryControl
      const store = yield* EventStore.EventStore
      yield* Publisher.publishBatch(orders(100, 1))
      yield* Wait.until("the archiver reads", Effect.map(storeSize, (s) => s.events === 1))
      control.setAvailable(false)
      const kept = yield* Publisher.publishBatch(orders(0, 3)) // read by the archiver, held until the store is back
      yield* Effect.sleep("200 millis")
      const lost = yield* Publisher.publishBatch(orders(3, 3)) // trimmed before the archiver reads them
      yield* Effect.sleep("1200 millis")
      const later = yield* Publisher.publishBatch(orders(6, 3)) // this append trims everything older than 1 s
      control.setAvailable(true)
      yield* Wait.until("the later events archived", Effect.map(storeSize, (s) => s.events === 7))
      for (const id of [...kept, ...later]) assert.isTrue(Option.isSome(yield* store.event(id)), `archived ${id}`)
      for (const id of lost) assert.isTrue(Option.isNone(yield* store.event(id)), `never archived ${id}`)
      const gaps = yield* store.gaps
      assert.strictEqual(gaps.length, 1)
      const keptEntries = (yield* store.events({})).events.map((e) => e.entryId)
      assert.strictEqual(gaps[0]?.afterEntryId, keptEntries[3])
      assert.strictEqual(gaps[0]?.beforeEntryId, keptEntries[4])
      assert.strictEqual((yield* History.status).gaps, 1)
    }).pipe(Effect.provide(bus({ retention: "1 second" }))), 30_000)

  it.live("an archiver that kept up records no gap when the retention trims what it has read", () =>
    Effect.gen(function*() {
      yield* Publisher.publishBatch(orders(0, 3))
      yield* Wait.until("archived", Effect.map(storeSize, (s) => s.events === 3))
      yield* Effect.sleep("1200 millis")
      yield* Publisher.publishBatch(orders(3, 3))
      yield* Wait.until("archived", Effect.map(storeSize, (s) => s.events === 6))
      const store = yield* EventStore.EventStore
      assert.deepStrictEqual(yield* store.gaps, [])
    }).pipe(Effect.provide(bus({ retention: "1 second" }))), 30_000)

  it.live("outcomes beyond the status buffer are dropped, counted and reported, never silently", () =>
    Effect.gen(function*() {
      const control = yield* EventStore.MemoryControl
      control.setAvailable(false)
      let handled = 0
      yield* Consumer.handle(OrderPlaced, () => Effect.sync(() => void handled++), { group: "small" })
      for (let batch = 0; batch < 4; batch++) {
        yield* Publisher.publishBatch(orders(batch * 5, 5))
        yield* Wait.until("handled during the outage", () => handled === (batch + 1) * 5)
      }
      yield* Wait.until("outcomes dropped", Effect.map(History.status, (s) => s.dropped > 0))
      const status = yield* History.status
      assert.isTrue(status.backlog <= 5)
      assert.isTrue(status.reasons.some((r) => r.includes("dropped")))
      // Health reports it, and the bus stays healthy: delivery goes on.
      const health = yield* Health.check
      assert.isTrue(health.reasons.some((r) => r.startsWith("history: ") && r.includes("dropped")), health.reasons.join("; "))
      assert.isTrue(health.healthy)
      control.setAvailable(true)
      yield* Wait.until("backlog written", Effect.map(History.status, (s) => s.backlog === 0 && s.written + s.dropped === 40))
      const final = yield* History.status
      // Every outcome is accounted for: written or dropped (PROCESSING and COMPLETED per event).
      assert.strictEqual(final.written + final.dropped, 40)
    }).pipe(Effect.provide(bus({}, { statusBuffer: 5 }))), 30_000)
})

describe("History (memory, TestClock)", () => {
  it.effect("after an outage, the first write that lands ends the other writer's backoff: both catch up at the same instant", () =>
    Effect.gen(function*() {
      const control = yield* EventStore.MemoryControl
      let handled = 0
      yield* Consumer.handle(OrderPlaced, () => Effect.sync(() => void handled++), { group: "billing" })
      control.setAvailable(false)
      yield* Publisher.publishBatch(orders(0, 3))
      yield* Testing.waitUntil("handled during the outage", Effect.sync(() => handled === 3))
      // Twenty seconds down: both writers' backoff steps have grown to seconds, each on its own jitter.
      for (let i = 0; i < 200; i++) yield* Testing.advance("100 millis")
      assert.deepStrictEqual(yield* storeSize, { events: 0, deliveries: 0 }, "nothing written during the outage")
      assert.isDefined((yield* History.status).storeError)

      control.setAvailable(true)
      const archived = Effect.map(storeSize, (s) => s.events === 3)
      const recorded = Effect.map(storeSize, (s) => s.deliveries === 3)
      yield* Testing.waitUntil("one writer's retry lands", Effect.zipWith(archived, recorded, (a, b) => a || b), {
        within: "10 seconds"
      })
      // Without moving the clock, the other writer's wait ends too.
      yield* Testing.settle
      assert.deepStrictEqual(yield* storeSize, { events: 3, deliveries: 3 })
      const store = yield* EventStore.EventStore
      yield* Testing.waitUntil(
        "final statuses",
        Effect.map(store.statusCounts("billing"), (counts) => counts.find((c) => c.status === "COMPLETED")?.count === 3)
      )
      assert.isUndefined((yield* History.status).storeError)
    }).pipe(Effect.provide(bus())))
})
