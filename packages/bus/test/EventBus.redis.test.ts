/**
 * The bus contract on a real Redis (shared server, unique key prefixes, short real durations),
 * then what only a real server can show: an outage the consumer sees.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, Health, Publisher } from "@hyvve/bus"
import { Effect, Schedule } from "effect"
import * as EventBusTest from "./contract/EventBusTest.ts"
import { ctx, order, OrderPlaced, orders } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as PrivateRedis from "./fixtures/PrivateRedis.ts"
import * as Recorder from "./fixtures/Recorder.ts"

EventBusTest.suite("redis", Harness.redisBackend(), { realTime: true })

// The memory backend cannot go away, so the shared suite cannot show how the consumer lives
// through an outage. This runs on a private redis-server (AOF on, so a stop and a restart keep
// the data) that the test stops for about 5 seconds; with subscriptions per group and routed.
describe("EventBus on a Redis that goes away", () => {
  for (const routed of [false, true]) {
  it.live(`an outage opens the circuit, health reports it, and nothing is lost after recovery${routed ? " (routed)" : ""}`, () =>
    Effect.gen(function*() {
      const server = yield* PrivateRedis.make
      const h = yield* Harness.make(Harness.redisBackend(server.url), { realTime: true, routed }, "outage")
      // A low threshold: the default (20 consecutive errors on a backoff from 100 ms) needs a
      // longer outage than a test should wait for; the mechanism is the same.
      const node = yield* h.node({ circuitThreshold: 5 })
      const rec = Recorder.make()
      yield* node.run(Consumer.handle(OrderPlaced, rec.handler(node.consumer, () => Effect.sleep("100 millis")), { group: "outage" }))
      const before = yield* node.run(Publisher.publishBatch(orders(0, 10)))
      yield* h.waitUntil("the first events handled", () => rec.items.length >= 3)

      yield* server.stop
      const downAt = yield* h.now
      // A publish during the outage fails at once, with a retryable error; it does not hang.
      const refused = yield* node.run(Publisher.publish(OrderPlaced, order(99), ctx())).pipe(
        Effect.flip,
        Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.die(new Error("publish hung during the outage")) })
      )
      assert.strictEqual(refused._tag, "RedisStreamError")
      assert.isTrue(refused._tag === "RedisStreamError" && refused.kind === "Unavailable", `kind: ${JSON.stringify(refused)}`)

      let unhealthy: Health.Report | undefined
      let circuitOpen: Health.Report | undefined
      // Once open, the circuit must stay open until Redis answers again.
      let closedWhileDown: { readonly atMs: number; readonly report: Health.Report } | undefined
      while ((yield* h.now) - downAt < 5_000) {
        const report = yield* node.run(Health.check)
        const open = report.subscriptions.some((s) => s.group === "outage" && s.circuit === "open")
        if (!report.healthy) unhealthy ??= report
        if (open) circuitOpen ??= report
        else if (circuitOpen !== undefined) closedWhileDown ??= { atMs: (yield* h.now) - downAt, report }
        yield* Effect.sleep("100 millis")
      }
      yield* server.start

      // Events published after recovery (the command connection reconnects in the background).
      const after = yield* node.run(Publisher.publishBatch(orders(100, 5))).pipe(
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 50 })))
      )
      const all = [...before, ...after]
      yield* h.waitUntil(
        "every event handled after recovery",
        () => all.every((id) => rec.count("outage", id) >= 1),
        "30 seconds"
      )
      yield* h.waitUntil("nothing left pending", Effect.map(h.pendingCount("outage"), (n) => n === 0), "15 seconds")
      yield* h.waitUntil(
        "health to recover and the circuit to close",
        Effect.map(node.run(Health.check), (r) => r.healthy && r.subscriptions.every((s) => s.circuit === "closed")),
        "15 seconds"
      )
      const _duplicates = rec.items.length - all.length
      yield* Effect.sync(() => console.info(`[outage] ${rec.items.length} deliveries of ${all.length} events`, JSON.stringify(rec.items.map((s) => [s.seq, s.attempt, s.at - downAt]))))

      assert.isDefined(unhealthy, "health reported the outage")
      assert.isFalse(unhealthy!.redis.reachable)
      assert.isTrue(unhealthy!.reasons.some((r) => /redis/i.test(r)), `reasons: ${unhealthy!.reasons}`)
      // Last, so that recovery is checked whatever happens here (see FINDINGS.md).
      assert.isDefined(
        circuitOpen,
        `the consumer's circuit opened during a 5 s outage (circuitThreshold ${node.settings.circuitThreshold})`
      )
      assert.isTrue(
        circuitOpen!.reasons.some((r) => r.includes("circuit open for group outage")),
        `reasons: ${circuitOpen!.reasons}`
      )
      assert.isUndefined(
        closedWhileDown,
        `the circuit closed again ${closedWhileDown?.atMs} ms into the outage, while Redis was still down: ${
          JSON.stringify(closedWhileDown?.report.subscriptions)
        }`
      )
    }), 60_000)
  }
})
