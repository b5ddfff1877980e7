/**
 * Issue 7, fault 8 (second half): what the bus does when its process dies after a handler failed
 * but before the retry of that failure reached Redis. The child process (`consumerProcess.ts`,
 * mode `die-on-failure`) records the failure and kills itself with SIGKILL before the handler
 * returns, so Redis never sees a retry: the entry is just pending on a dead consumer. It must come
 * back as an ordinary crash redelivery — claimed by a live consumer after the claim timeout, as
 * attempt 2 — not be lost, not wait for a retry that was never written, and not go to the DLQ.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dlq, Publisher } from "@hyvve/bus"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ctx, order, OrderPlaced } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as Settlement from "../src/internal/settlement.ts"
import * as Processes from "./fixtures/Processes.ts"
import { redisUrl } from "./utils/TestEnv.ts"

const recordFile = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "hyvve-window-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => join(dir, "handled.log")))

describe("a consumer process killed between a handler's failure and its retry's write (real Redis)", () => {
  it.live("the entry is redelivered after the claim timeout, as attempt 2, to a live consumer", () =>
    Effect.gen(function*() {
      const h = yield* Harness.make(Harness.redisBackend(), { realTime: true }, "retry-window")
      const publisher = yield* h.node()
      const file = yield* recordFile
      const claimTimeoutMs = 1_000
      const common = { redisUrl, prefix: h.prefix, recordFile: file, mode: "die-on-failure", retryMs: 1_500, claimTimeoutMs } as const
      const first = yield* Processes.start({ ...common, consumer: "proc-1" })
      const id = yield* publisher.run(Publisher.publish(OrderPlaced, order(1), ctx()))
      const handled = () => Processes.readRecord(file)
      yield* h.waitUntil("the failure on attempt 1", () => handled().some((l) => l.outcome === "fail"), "10 seconds")
      // The process killed itself right after recording; this only waits for its exit.
      yield* first.kill

      // What Redis holds in that window: the entry pending on the dead consumer, delivered once,
      // and no retry state at all (the failure never reached the bus).
      const [entry] = yield* h.redis.range({ key: h.main, start: "-", end: "+" })
      assert.isDefined(entry)
      const rows = yield* h.redis.pending({ key: h.main, group: "flaky", count: 10 })
      assert.deepStrictEqual(rows.map((r) => [r.id, r.consumer, r.deliveries]), [[entry!.id, "proc-1", 1]])
      const [score] = yield* h.redis.scores(Settlement.retryKey(h.main, "flaky"), [entry!.id])
      const [record] = yield* h.redis.hashGet(Settlement.failuresKey(h.main, "flaky"), [entry!.id])
      assert.isUndefined(score, "no retry was scheduled")
      assert.isUndefined(record, "no failure was recorded")

      yield* Processes.start({ ...common, consumer: "proc-2" })
      yield* h.waitUntil("the redelivery", () => handled().some((l) => l.outcome === "ok"), "20 seconds")
      yield* h.waitUntil("the redelivery acknowledged", Effect.map(h.pendingCount("flaky"), (n) => n === 0), "10 seconds")
      // Still one line each after the ack: nothing else ran it meanwhile.
      assert.deepStrictEqual(
        handled().map((l) => [l.group, l.eventId, l.attempt, l.outcome, l.consumer]),
        [["flaky", id, 1, "fail", "proc-1"], ["flaky", id, 2, "ok", "proc-2"]]
      )
      assert.strictEqual(yield* publisher.run(Dlq.Dlq.use((dlq) => dlq.size)), 0, "not dead-lettered")
      const [scoreAfter] = yield* h.redis.scores(Settlement.retryKey(h.main, "flaky"), [entry!.id])
      assert.isUndefined(scoreAfter, "no retry left behind")
      assert.strictEqual(yield* h.redis.length(h.main), 1, "nothing re-published")
    }), 60_000)
})
