/**
 * Issue 7, fault 7: a retry runs when it is due, not up to `retryPoll` later. With `retryPoll` at
 * 10 s, a retry scheduled 200 ms after a failure must run about 200 ms after it: exactly on memory
 * (`TestClock`, which the harness moves in 10 ms steps), and on the shared Redis within 2 s (a
 * loaded machine's scheduling slack, still far below the 10 s a fixed poll interval would give).
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, Publisher, Retry } from "@hyvve/bus"
import { Effect } from "effect"
import { ctx, order, OrderPlaced, PaymentDeclined } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as Recorder from "./fixtures/Recorder.ts"

const backends = [
  { backend: Harness.memoryBackend, caps: { realTime: false }, slackMs: 50 },
  { backend: Harness.redisBackend(), caps: { realTime: true }, slackMs: 2_000 }
] as const

for (const { backend, caps, slackMs } of backends) {
  const test = caps.realTime ? it.live : it.effect
  describe(`fault 7: retry timing (${backend.name})`, () => {
    test("a 200 ms retry runs about 200 ms after the failure, with retryPoll at 10 s", () =>
      Effect.gen(function*() {
        const h = yield* Harness.make(backend, caps, "retry-timing")
        const node = yield* h.node({ retryPoll: "10 seconds" })
        const rec = Recorder.make()
        yield* node.run(Consumer.handle(OrderPlaced, rec.handler(node.consumer, (_, info) =>
          info.attempt === 1 ? Effect.fail(new PaymentDeclined({ message: "first attempt" })) : Effect.void), {
          group: "prompt",
          retry: Retry.delays(["200 millis"])
        }))
        yield* node.run(Publisher.publish(OrderPlaced, order(1), ctx()))
        yield* h.waitUntil("the first attempt", () => rec.items.length >= 1)
        yield* h.waitUntil("the retry", () => rec.items.length >= 2, "15 seconds")
        const lateBy = rec.items[1]!.at - rec.items[0]!.at
        assert.deepStrictEqual(rec.items.map((s) => s.attempt), [1, 2])
        assert.isAtLeast(lateBy, 200, "not before its delay")
        assert.isAtMost(lateBy, 200 + slackMs, `the retry ran ${lateBy} ms after the failure (retryPoll 10 s)`)
      }))
  })
}
