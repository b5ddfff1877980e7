/**
 * @title Testing a handler with the in-memory bus
 *
 * Swaps `EventBusLive` for `EventBus.layerMemory()` (same semantics, no Redis) and drives the
 * retry schedule with `TestClock`: the default 1 min / 5 min / 30 min policy is checked to the
 * second without waiting. `Testing.settle` lets the bus's fibers run without moving time.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, Dlq, EventBus, Publisher, Testing } from "@hyvve/bus"
import { ApprovalApproved } from "@hyvve/schema/catalog/Approval"
import { Effect, Fiber, Ref, Stream } from "effect"
import { TestClock } from "effect/testing"

const approved = { approvalId: "apr_1", decidedById: "usr_7", decision: "approved" } as const
const context = { tenantId: "ws_1", userId: "usr_7" }


describe("approvals with the in-memory bus", () => {
  it.effect("a handler receives the typed event", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Consumer.handle(ApprovalApproved, (event) => Ref.update(seen, (ids) => [...ids, event.data.decidedById]))
      yield* Publisher.publish(ApprovalApproved, approved, context)
      yield* Testing.settle
      assert.deepStrictEqual(yield* Ref.get(seen), ["usr_7"])
    }).pipe(Effect.provide(EventBus.layerMemory())))

  it.effect("a failing handler is retried after 1, 5 and 30 minutes, then dead-lettered", () =>
    Effect.gen(function*() {
      const attempts = yield* Ref.make(0)
      yield* Consumer.handle(ApprovalApproved, () =>
        Effect.andThen(Ref.update(attempts, (n) => n + 1), Effect.fail("CRM down")))
      yield* Publisher.publish(ApprovalApproved, approved, context)
      yield* Testing.settle
      assert.strictEqual(yield* Ref.get(attempts), 1)

      for (const [minutes, expected] of [[1, 2], [5, 3], [30, 4]] as const) {
        yield* TestClock.adjust(`${minutes * 60 - 1} seconds`)
        yield* Testing.settle
        assert.strictEqual(yield* Ref.get(attempts), expected - 1, `not before ${minutes} min`)
        yield* TestClock.adjust("1 second")
        yield* Testing.settle
        assert.strictEqual(yield* Ref.get(attempts), expected, `at ${minutes} min`)
      }

      const page = yield* Dlq.Dlq.use((dlq) => dlq.list())
      assert.strictEqual(page.entries.length, 1)
      assert.strictEqual(page.entries[0]?.attempts, 4)
      assert.strictEqual(page.entries[0]?.error.message, "CRM down")
    }).pipe(Effect.provide(EventBus.layerMemory())))

  it.effect("a Stream subscription sees deliveries until they are acked", () =>
    Effect.gen(function*() {
      const fiber = yield* Consumer.subscribe(ApprovalApproved).pipe(
        Stream.mapEffect((delivery) => Effect.as(delivery.ack, delivery.event.data.decidedById)),
        Stream.take(1),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* Testing.settle
      yield* Publisher.publish(ApprovalApproved, approved, context)
      assert.deepStrictEqual(yield* Fiber.join(fiber), ["usr_7"])
    }).pipe(Effect.provide(EventBus.layerMemory())))
})
