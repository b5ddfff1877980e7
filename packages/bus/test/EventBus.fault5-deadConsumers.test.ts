/**
 * Issue 7, fault 5: dead consumers are removed from their group. Every restart of a process under
 * a new consumer name used to leave the old name in every group forever. A consumer idle longer
 * than `consumerIdleTimeout` (BusConfig; `HYVVE_CONSUMER_IDLE_TIMEOUT`) that owns no pending
 * entries is deleted from the group; one that still owns pending entries is kept (its entries are
 * the claim timeout's business). On memory (`TestClock`) and on the shared Redis.
 *
 * NOTE: written against the `consumerIdleTimeout` setting the settlement redesign adds; until it
 * lands this file does not typecheck (the option is unknown), and at run time the option is
 * ignored and the test fails on the consumers left behind.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, Consumer, Health, Publisher } from "@hyvve/bus"
import { ConfigProvider, Duration, Effect, Layer } from "effect"
import { ctx, order, OrderPlaced, orders } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as Recorder from "./fixtures/Recorder.ts"

const backends = [
  { backend: Harness.memoryBackend, caps: { realTime: false } },
  { backend: Harness.redisBackend(), caps: { realTime: true } }
] as const

for (const { backend, caps } of backends) {
  const test = caps.realTime ? it.live : it.effect
  describe(`fault 5: dead consumers (${backend.name})`, () => {
    test("consumers gone longer than consumerIdleTimeout with nothing pending leave the group; one owning entries stays", () =>
      Effect.gen(function*() {
        const h = yield* Harness.make(backend, caps, "dead-consumers")
        const publisher = yield* h.node()
        // A consumer that read an entry and died without settling it: it owns a pending entry.
        yield* h.redis.createGroup(h.main, "g", "$")
        yield* publisher.run(Publisher.publish(OrderPlaced, order(0), ctx()))
        const ghostRead = yield* h.redis.readGroup({ keys: [h.main], group: "g", consumer: "ghost", count: 1, block: "10 millis" })
        assert.strictEqual(ghostRead.length, 1)

        // Three "restarts": a, then b, then c, each under a new name, each handling two events
        // on its own (so each is a consumer of the group); a and b shut down gracefully, with
        // nothing pending. A long claim timeout: nobody takes the ghost's entry during the test.
        const options = { consumerIdleTimeout: "1 second", claimTimeout: "1 hour" } as const
        const rec = Recorder.make()
        const names = Effect.map(h.redis.consumers(h.main, "g"), (cs) => cs.map((c) => c.name).sort())
        let live: Harness.Node | undefined
        for (const [i, consumer] of ["a", "b", "c"].entries()) {
          const node = yield* h.node({ ...options, consumer })
          yield* node.run(Consumer.handle(OrderPlaced, rec.handler(consumer), { group: "g" }))
          yield* publisher.run(Publisher.publishBatch(orders(1 + 2 * i, 2)))
          yield* h.waitUntil(`${consumer} handled its two events`, () => rec.items.filter((s) => s.consumer === consumer).length === 2)
          yield* h.waitUntil(`${consumer}'s acks`, Effect.map(h.pendingCount("g"), (n) => n === 1))
          assert.include(yield* names, consumer, `${consumer} is a consumer of the group`)
          if (consumer === "c") live = node
          else yield* node.close
        }
        yield* h.waitUntil(
          "a and b removed from the group",
          Effect.map(names, (now) => !now.includes("a") && !now.includes("b")),
          "10 seconds"
        )
        assert.deepStrictEqual(yield* names, ["c", "ghost"], "the live consumer and the one owning an entry stay")
        assert.strictEqual(yield* h.pendingCount("g"), 1, "the ghost's entry is still pending")
        const report = yield* live!.run(Health.check)
        assert.strictEqual(report.groups.find((g) => g.name === "g")?.consumers, 2, "health counts what is left")
      }))
  })
}

describe("fault 5: consumerIdleTimeout configuration", () => {
  it.effect("HYVVE_CONSUMER_IDLE_TIMEOUT sets it; code options too", () =>
    Effect.gen(function*() {
      const env = { HYVVE_CONSUMER_IDLE_TIMEOUT: "90 seconds" }
      const fromEnv = yield* Effect.gen(function*() {
        return yield* BusConfig.BusConfig
      }).pipe(
        Effect.provide(BusConfig.layerFromEnv().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))))
      )
      assert.isTrue(Duration.equals(fromEnv.consumerIdleTimeout, Duration.seconds(90)))
      assert.isTrue(Duration.equals(BusConfig.make({ consumerIdleTimeout: "2 minutes" }).consumerIdleTimeout, Duration.minutes(2)))
    }))
})
