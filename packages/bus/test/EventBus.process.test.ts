/**
 * Consumers as real processes on real Redis, killed with SIGKILL: no finalizer runs, no ack is
 * flushed, nothing is handed over. Only a real server keeps what a killed process left behind,
 * so these run on Redis only. Each test publishes from this process and consumes in children
 * (`fixtures/consumerProcess.ts`), which record every handled delivery to a file.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dlq, Publisher } from "@hyvve/bus"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ctx, order, OrderPlaced, orders } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as Settlement from "../src/internal/settlement.ts"
import * as Processes from "./fixtures/Processes.ts"
import { redisUrl } from "./utils/TestEnv.ts"

const recordFile = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "hyvve-process-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => join(dir, "handled.log")))

describe("EventBus with consumer processes killed by SIGKILL (real Redis)", () => {
  it.live("a consumer process killed mid-stream loses nothing: a new process handles the rest", () =>
    Effect.gen(function*() {
      const h = yield* Harness.make(Harness.redisBackend(), { realTime: true }, "sigkill")
      const publisher = yield* h.node()
      const file = yield* recordFile
      const common = { redisUrl, prefix: h.prefix, recordFile: file, mode: "slow", delayMs: 20, claimTimeoutMs: 1_000 } as const
      const first = yield* Processes.start({ ...common, consumer: "proc-1" })
      const ids = yield* publisher.run(Publisher.publishBatch(orders(0, 200)))
      const handled = () => Processes.readRecord(file)
      yield* h.waitUntil("the first process to handle some events", () => handled().length >= 40, "20 seconds")
      yield* first.kill
      const byFirst = handled().length
      assert.isBelow(byFirst, 200, "killed mid-stream")
      yield* Processes.start({ ...common, consumer: "proc-2" })
      yield* h.waitUntil("every event handled", () => new Set(handled().map((l) => l.eventId)).size >= 200, "30 seconds")
      yield* h.waitUntil("nothing left pending", Effect.map(h.pendingCount("workers"), (n) => n === 0), "10 seconds")
      const lines = handled()
      const missing = ids.filter((id) => !lines.some((l) => l.eventId === id))
      assert.deepStrictEqual(missing, [], "none lost")
      const duplicates = lines.length - 200
      const redelivered = lines.filter((l) => l.attempt > 1).length
      yield* Effect.sync(() =>
        console.info(
          `[sigkill] proc-1 handled ${byFirst} before SIGKILL; ${lines.length} deliveries for 200 events ` +
            `(${duplicates} duplicates, ${redelivered} with attempt > 1)`
        )
      )
      assert.isTrue(lines.every((l) => l.group === "workers" && l.outcome === "ok"))
      // What proc-2 took over from proc-1 came as redeliveries, the rest as first deliveries.
      assert.isTrue(lines.filter((l) => l.consumer === "proc-1").every((l) => l.attempt === 1))
    }), 60_000)

  it.live("killing every consumer between a failure and its retry: after restart the retry happens, for that group only", () =>
    Effect.gen(function*() {
      const h = yield* Harness.make(Harness.redisBackend(), { realTime: true }, "sigkill-retry")
      const publisher = yield* h.node()
      const file = yield* recordFile
      const common = { redisUrl, prefix: h.prefix, recordFile: file, mode: "fail-once", retryMs: 5_000, claimTimeoutMs: 500 } as const
      const first = yield* Processes.start({ ...common, consumer: "proc-1" })
      const id = yield* publisher.run(Publisher.publish(OrderPlaced, order(1), ctx()))
      const handled = () => Processes.readRecord(file)
      yield* h.waitUntil(
        "the flaky group's failure and the steady group's success",
        () => handled().some((l) => l.group === "flaky" && l.outcome === "fail") && handled().some((l) => l.group === "steady"),
        "10 seconds"
      )
      // The steady group's ack must land first: a kill between its handler and its ack would be
      // an ordinary crash redelivery to that group, not what this test is about.
      yield* h.waitUntil("the steady group's ack", Effect.map(h.pendingCount("steady"), (n) => n === 0))
      // The recorded failure can precede the retry's write to Redis; this test is about a kill
      // after that write, so wait for the write itself (the schedule member and the failure
      // record). A kill before it is another case: `EventBus.fault8-retryWindow.process.test.ts`.
      const [entry] = yield* h.redis.range({ key: h.main, start: "-", end: "+" })
      assert.isDefined(entry, "the event is in the main stream")
      const retryWritten = Effect.map(
        Effect.all([
          h.redis.scores(Settlement.retryKey(h.main, "flaky"), [entry!.id]),
          h.redis.hashGet(Settlement.failuresKey(h.main, "flaky"), [entry!.id])
        ]),
        ([[score], [record]]) => score !== undefined && record !== undefined
      )
      yield* h.waitUntil("the flaky group's retry written to Redis", retryWritten, "10 seconds")
      yield* first.kill
      const killedAt = yield* h.now
      // The retry is stored in Redis, not in the dead process.
      const [due] = yield* h.redis.scores(Settlement.retryKey(h.main, "flaky"), [entry!.id])
      assert.isDefined(due, "the retry is scheduled in Redis")
      assert.isAbove(due!, killedAt - 100, "and not yet due when the process died")
      assert.isFalse(handled().some((l) => l.group === "flaky" && l.outcome === "ok"), "killed before the retry")

      yield* Processes.start({ ...common, consumer: "proc-2" })
      yield* h.waitUntil("the retry after the restart", () => handled().some((l) => l.group === "flaky" && l.outcome === "ok"), "15 seconds")
      // The retry's ack, then a quiet second in which a duplicate would show.
      yield* h.waitUntil("the retry acked", Effect.map(h.pendingCount("flaky"), (n) => n === 0))
      yield* h.advance("1500 millis")
      const lines = handled()
      assert.deepStrictEqual(
        lines.filter((l) => l.group === "flaky").map((l) => [l.eventId, l.attempt, l.outcome, l.consumer]),
        [[id, 1, "fail", "proc-1"], [id, 2, "ok", "proc-2"]]
      )
      assert.deepStrictEqual(
        lines.filter((l) => l.group === "steady").map((l) => [l.eventId, l.attempt]),
        [[id, 1]],
        "the other group never sees the retry"
      )
      assert.strictEqual(yield* h.pendingCount("flaky"), 0)
      assert.strictEqual(yield* h.pendingCount("steady"), 0)
      assert.strictEqual(yield* publisher.run(Dlq.Dlq.use((dlq) => dlq.size)), 0)
      assert.strictEqual(yield* h.redis.length(h.main), 1, "the retry did not re-publish")
    }), 60_000)
})
