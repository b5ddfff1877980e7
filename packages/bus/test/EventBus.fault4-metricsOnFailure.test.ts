/**
 * Issue 7, fault 4: every outcome is counted, whether or not an ack follows. A handler that always
 * fails must still show up in `hyvve_events_delivered_total` (one per run) and
 * `hyvve_events_failed_total` (one per failure), and a mixed run must count every run and every
 * failure — read while the node is alive, not only after a shutdown flush. On memory (`TestClock`,
 * exact) and on the shared Redis.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, Dlq, Publisher, Retry } from "@hyvve/bus"
import { Effect } from "effect"
import { ctx, order, OrderPlaced, orders, PaymentDeclined } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as Recorder from "./fixtures/Recorder.ts"

const backends = [
  { backend: Harness.memoryBackend, caps: { realTime: false } },
  { backend: Harness.redisBackend(), caps: { realTime: true } }
] as const

for (const { backend, caps } of backends) {
  const test = caps.realTime ? it.live : it.effect
  const twoRetries = Retry.delays(["100 millis", "100 millis"])

  // The counters of `group`, once they equal `expected` or after 2 s (the bus's clock): counting
  // may trail the outcome a little, but not wait for an ack that never comes.
  const countersOf = (h: Harness.Harness, group: string, expected: { readonly delivered: number; readonly failed: number }) =>
    Effect.gen(function*() {
      const read = Effect.all({
        delivered: h.counter("hyvve_events_delivered_total", { group }),
        failed: h.counter("hyvve_events_failed_total", { group })
      })
      const started = yield* h.now
      while ((yield* h.now) - started < 2_000) {
        const now = yield* read
        if (now.delivered === expected.delivered && now.failed === expected.failed) return now
        yield* h.advance("10 millis")
      }
      return yield* read
    })

  describe(`fault 4: metrics on failure (${backend.name})`, () => {
    test("a handler that always fails: every run delivered, every run failed", () =>
      Effect.gen(function*() {
        const h = yield* Harness.make(backend, caps, "metrics-always-fails")
        const node = yield* h.node()
        const rec = Recorder.make()
        yield* node.run(Consumer.handle(OrderPlaced, rec.handler(node.consumer, (_, info) =>
          Effect.fail(new PaymentDeclined({ message: `attempt ${info.attempt}` }))), { group: "doomed", retry: twoRetries }))
        yield* node.run(Publisher.publish(OrderPlaced, order(1), ctx()))
        yield* h.waitUntil("the DLQ entry", Effect.map(node.run(Dlq.Dlq.use((dlq) => dlq.size)), (n) => n === 1))
        yield* h.waitUntil("nothing pending", Effect.map(h.pendingCount("doomed"), (n) => n === 0))
        assert.strictEqual(rec.items.length, 3, "three runs: 1 + 2 retries")
        const counters = yield* countersOf(h, "doomed", { delivered: 3, failed: 3 })
        assert.deepStrictEqual(counters, { delivered: 3, failed: 3 })
      }))

    test("a mixed run counts every run and every failure", () =>
      Effect.gen(function*() {
        const h = yield* Harness.make(backend, caps, "metrics-mixed")
        const node = yield* h.node()
        const rec = Recorder.make()
        // seq 0–3 succeed at once; seq 4 and 5 fail on every attempt (3 runs each, then the DLQ).
        // Their failures come after the last ack, as in the run the issue describes.
        yield* node.run(Consumer.handle(OrderPlaced, (event, info) =>
          Effect.andThen(
            rec.record(node.consumer, event, info),
            event.data.seq >= 4 ? Effect.fail(new PaymentDeclined({ message: "declined" })) : Effect.void
          ), {
          group: "mixed",
          retry: twoRetries
        }))
        yield* node.run(Publisher.publishBatch(orders(0, 6)))
        yield* h.waitUntil("both failing events in the DLQ", Effect.map(node.run(Dlq.Dlq.use((dlq) => dlq.size)), (n) => n === 2))
        yield* h.waitUntil("nothing pending", Effect.map(h.pendingCount("mixed"), (n) => n === 0))
        assert.strictEqual(rec.items.length, 10, "4 + 2 × 3 runs")
        const counters = yield* countersOf(h, "mixed", { delivered: 10, failed: 6 })
        assert.deepStrictEqual(counters, { delivered: 10, failed: 6 })
      }))
  })
}
