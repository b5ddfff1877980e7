/**
 * Routed consumers as real processes on real Redis, one killed with SIGKILL while events keep
 * arriving: its router dies with whatever it read and had not forwarded, its subscription with
 * whatever its inbox handed it. The other process's router forwards what the dead one held after
 * the claim timeout (its forward step is the entry's ack, so nothing is forwarded twice), and its
 * subscription claims the dead one's inbox entries. Only a real server keeps what a killed
 * process left behind.
 */
import { assert, describe, it } from "@effect/vitest"
import { Publisher } from "@hyvve/bus"
import { Effect, Fiber } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { orders } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as Processes from "./fixtures/Processes.ts"
import { redisUrl } from "./utils/TestEnv.ts"

const recordFile = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "hyvve-router-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => join(dir, "handled.log")))

describe("Router with a process killed by SIGKILL (real Redis)", () => {
  it.live("a routed process killed mid-stream: nothing lost, nothing forwarded twice", () =>
    Effect.gen(function*() {
      const h = yield* Harness.make(Harness.redisBackend(), { realTime: true, routed: true }, "router-sigkill")
      const publisher = yield* h.node()
      const file = yield* recordFile
      const common = {
        redisUrl,
        prefix: h.prefix,
        recordFile: file,
        mode: "slow",
        delayMs: 5,
        claimTimeoutMs: 1_000,
        application: Harness.application
      } as const
      const first = yield* Processes.start({ ...common, consumer: "proc-1" })
      yield* Processes.start({ ...common, consumer: "proc-2" })
      // Events keep arriving across the kill, so the routers have reads in flight when it lands.
      const publishing = yield* Effect.forEach(
        Array.from({ length: 30 }, (_, i) => i),
        (i) => Effect.tap(publisher.run(Publisher.publishBatch(orders(i * 10, 10))), () => Effect.sleep("30 millis"))
      ).pipe(Effect.forkChild)
      const handled = () => Processes.readRecord(file)
      yield* h.waitUntil("the first process to handle some events", () => handled().some((l) => l.consumer === "proc-1"), "20 seconds")
      yield* first.kill
      const ids = (yield* Fiber.join(publishing)).flat()
      assert.strictEqual(ids.length, 300)
      yield* h.waitUntil("every event handled", () => new Set(handled().map((l) => l.eventId)).size >= 300, "30 seconds")
      yield* h.waitUntil("nothing left to forward or handle", Effect.map(h.pendingCount("workers"), (n) => n === 0), "10 seconds")
      const lines = handled()
      const missing = ids.filter((id) => !lines.some((l) => l.eventId === id))
      assert.deepStrictEqual(missing, [], "none lost")
      // A second copy in the inbox would be a first delivery again: every event has one.
      const firstDeliveries = new Map<string, number>()
      for (const l of lines) if (l.attempt === 1) firstDeliveries.set(l.eventId, (firstDeliveries.get(l.eventId) ?? 0) + 1)
      const forwardedTwice = ids.filter((id) => (firstDeliveries.get(id) ?? 0) > 1)
      assert.deepStrictEqual(forwardedTwice, [], "none forwarded twice")
      yield* Effect.sync(() =>
        console.info(
          `[router sigkill] ${lines.length} deliveries for 300 events; proc-1 handled ` +
            `${lines.filter((l) => l.consumer === "proc-1").length} before SIGKILL; ` +
            `${lines.filter((l) => l.attempt > 1).length} redelivered after the kill`
        )
      )
    }), 60_000)
})
