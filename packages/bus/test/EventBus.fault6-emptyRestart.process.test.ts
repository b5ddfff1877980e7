/**
 * Issue 7, fault 6: Redis restarted EMPTY (its data lost). A live consumer's group is gone; events
 * published after the restart, before the consumer notices and re-creates its group, must still
 * be delivered: a group re-created after NOGROUP starts at the beginning of what the stream now
 * holds, not at `$`. A private Redis is stopped, its data deleted and started again while a
 * consumer (a bus node in this process) backs off from the outage; the test publishes as soon as
 * Redis answers. Events published before the wipe are genuinely gone and not expected. Routed too
 * (an `application`): the router's group, the inbox's group and the routes are all gone, and the
 * router registers its process's routes again before it forwards anything.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, Publisher } from "@hyvve/bus"
import { Effect, Schedule } from "effect"
import { OrderPlaced, orders } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as PrivateRedis from "./fixtures/PrivateRedis.ts"
import * as Recorder from "./fixtures/Recorder.ts"

describe("fault 6: Redis restarted empty (private Redis)", () => {
  for (const routed of [false, true]) {
  it.live(`events published after the restart, before the group is re-created, are delivered${routed ? " (routed)" : ""}`, () =>
    Effect.gen(function*() {
      const redis = yield* PrivateRedis.make
      const h = yield* Harness.make(Harness.redisBackend(redis.url), { realTime: true, routed }, "fault6")
      const publisher = yield* h.node()
      const worker = yield* h.node({ consumer: "worker" })
      const recorder = Recorder.make()
      yield* worker.run(Consumer.handle(OrderPlaced, recorder.handler("worker"), { group: "g" }))
      yield* publisher.run(Publisher.publishBatch(orders(0, 10)))
      yield* h.waitUntil("the first 10 handled", () => recorder.distinct("g").size === 10, "10 seconds")

      yield* redis.restart({ downForMs: 2_000, empty: true })
      // As soon as Redis answers (the publisher's own connection may still be reconnecting).
      const ids = yield* publisher.run(Publisher.publishBatch(orders(10, 20))).pipe(
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ times: 250 })))
      )
      const deadline = Date.now() + 15_000
      const missing = () => ids.filter((id) => !recorder.distinct("g").has(id))
      while (missing().length > 0 && Date.now() < deadline) yield* Effect.sleep("100 millis")
      const groups = yield* h.redis.groups(h.main)
      yield* Effect.sync(() =>
        console.info(
          `[fault6] ${ids.length - missing().length} of ${ids.length} published after the empty restart handled; ` +
            `group now: ${JSON.stringify(groups.find((g) => g.name === "g"))}`
        )
      )
      assert.strictEqual(missing().length, 0, `${missing().length} of ${ids.length} events published after the empty restart never handled`)
    }), 60_000)
  }
})
