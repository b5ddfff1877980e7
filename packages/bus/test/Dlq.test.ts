/**
 * DLQ operations the contract suite does not cover: stats by type and group, get by id, and the
 * typed error for an id that is not there. Memory backend, driven by TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, Dlq, EventBus, Publisher, Retry } from "@hyvve/bus"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import { ctx, order, OrderPlaced, OrderShipped, testCatalog } from "./fixtures/events.ts"

const rejectAll = () => Effect.fail(new Retry.NonRetryable({ message: "rejected by the test" }))

// Lets the in-memory workers run until the DLQ holds `size` entries (time moves in 10 ms steps).
const untilSize = (size: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      if ((yield* Dlq.Dlq.use((dlq) => dlq.size)) >= size) return
      yield* TestClock.adjust("10 millis")
    }
    return yield* Effect.die(new Error(`the DLQ never reached ${size} entries`))
  })

describe("Dlq", () => {
  it.effect("stats count entries by type and group, and usage against the maximum", () =>
    Effect.gen(function*() {
      yield* Consumer.handle(OrderPlaced, rejectAll, { group: "billing" })
      yield* Consumer.handle("test.**", rejectAll, { group: "audit", catalog: testCatalog })
      yield* Publisher.publish(OrderPlaced, order(1), ctx())
      yield* Publisher.publish(OrderPlaced, order(2), ctx())
      yield* Publisher.publish(OrderShipped, { orderId: "order-3", carrier: "dhl" }, ctx())
      // billing: 2 placed; audit: 2 placed + 1 shipped
      yield* untilSize(5)

      const stats = yield* Dlq.Dlq.use((dlq) => dlq.stats)
      assert.strictEqual(stats.size, 5)
      assert.strictEqual(stats.maxLength, 10)
      assert.strictEqual(stats.usage, 0.5)
      assert.deepStrictEqual(stats.byType, { "test.order_placed": 4, "test.order_shipped": 1 })
      assert.deepStrictEqual(stats.byGroup, { billing: 2, audit: 3 })
      assert.isDefined(stats.oldest)
      assert.isDefined(stats.newest)
    }).pipe(Effect.provide(EventBus.layerMemory({ dlqMaxLength: 10, retryPoll: "10 millis" }))))

  it.effect("get returns an entry by id, and nothing for an id that is not there", () =>
    Effect.gen(function*() {
      yield* Consumer.handle(OrderPlaced, rejectAll, { group: "billing" })
      const eventId = yield* Publisher.publish(OrderPlaced, order(7), ctx("tenant-z"))
      yield* untilSize(1)
      const dlq = yield* Dlq.Dlq
      const [listed] = (yield* dlq.list()).entries
      assert.isDefined(listed)
      const got = yield* dlq.get(listed!.id)
      assert.isTrue(Option.isSome(got))
      const entry = Option.getOrThrow(got)
      assert.strictEqual(entry.eventId, eventId)
      assert.strictEqual(entry.tenantId, "tenant-z")
      assert.strictEqual(entry.group, "billing")
      assert.strictEqual(entry.error.tag, "NonRetryable")
      assert.strictEqual(entry.attempts, 1)
      assert.strictEqual(JSON.parse(entry.event).id, eventId)
      assert.isTrue(Option.isNone(yield* dlq.get("1-0")))
    }).pipe(Effect.provide(EventBus.layerMemory())))

  it.effect("retrying or deleting an id that is not there says so", () =>
    Effect.gen(function*() {
      const dlq = yield* Dlq.Dlq
      const error = yield* Effect.flip(dlq.retry("1-0"))
      assert.strictEqual(error._tag, "DlqEntryNotFound")
      assert.strictEqual(error.message, "No DLQ entry with id 1-0")
      assert.isFalse(yield* dlq.delete("1-0"))
    }).pipe(Effect.provide(EventBus.layerMemory())))
})
