/**
 * Issue 7, fault 2: duplicates after a short Redis outage while every consumer is alive. Four
 * consumer processes (`fixtures/loadConsumerProcess.ts`, concurrency 16, reads of 4) share one
 * group; 32 events are read, spread over the four, and their handlers run for 9 s each (slack for a
 * loaded machine: the restart must fit inside it). Meanwhile
 * a private Redis (AOF) is stopped for 2.5 s — a little longer than the 2 s claim timeout, so the
 * held entries look idle when it comes back — and started again with its data. The handlers all
 * finish (and ack) after Redis is back, so no ack is lost: a second run of any event can only
 * come from a live consumer's in-flight entry being claimed by another live consumer after the
 * outage, which the bus must not do. (The claim timeout is 2 s rather than 1 s because a holder's
 * connection can take up to 1 s to reconnect — ioredis's reconnect backoff — before its heartbeat
 * can refresh anything.)
 *
 * Run twice: with a group per subscription on the stream, and with routed subscriptions (an
 * `application`: the four processes' routers forward to the subscription's inbox, whose group
 * holds the entries), with the same bounds.
 */
import { assert, describe, it } from "@effect/vitest"
import { Publisher } from "@hyvve/bus"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Children from "./fixtures/Children.ts"
import { orders } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as PrivateRedis from "./fixtures/PrivateRedis.ts"
import * as Router from "../src/internal/router.ts"

const tmpDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "hyvve-fault2-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("fault 2: a short outage with every consumer alive (processes, private Redis)", () => {
  it.live.each([
    { mode: "groups on the stream", routed: false },
    { mode: "routed subscriptions", routed: true }
  ])("no in-flight entry of a live consumer is claimed by another: every event runs once ($mode)", ({ routed }) =>
    Effect.gen(function*() {
      const redis = yield* PrivateRedis.make
      const dir = yield* tmpDir
      const h = yield* Harness.make(Harness.redisBackend(redis.url), { realTime: true, routed }, routed ? "fault2-routed" : "fault2")
      // Where the subscription's group holds its entries: the stream, or its inbox.
      const held = routed ? Router.inboxKey(h.main, "slow") : h.main
      const publisher = yield* h.node()
      const names = ["c-1", "c-2", "c-3", "c-4"]
      const files = names.map((name) => join(dir, `${name}.log`))
      const children = yield* Effect.forEach(names, (name, i) =>
        Children.start(name, Children.fixture("loadConsumerProcess.ts"), {
          REDIS_URL: redis.url,
          PREFIX: h.prefix,
          CONSUMER: name,
          RECORD_FILE: files[i]!,
          GROUPS: "slow:0:16",
          DELAY_MS: "9000",
          CLAIM_TIMEOUT_MS: "2000",
          // Small reads spread the 32 entries over the four consumers: each holds some.
          BATCH_SIZE: "4",
          ...(routed ? { APPLICATION: Harness.application } : {})
        }))
      const tally = Children.tally(files)
      const ids = yield* publisher.run(Publisher.publishBatch(orders(0, 32)))
      yield* h.waitUntil("all 32 delivered", Effect.map(h.pendingCount("slow", held), (n) => n === 32), "10 seconds")
      const owners = yield* h.redis.pending({ key: held, group: "slow", count: 100 })
      // The premise: the outage starts while every handler is still running.
      assert.strictEqual(tally.runs("slow"), 0, "no handler finished before the outage")
      yield* redis.restart({ downForMs: 2_500 })
      // And Redis answers again before any of them finishes, so every ack can land.
      assert.strictEqual(tally.runs("slow"), 0, "Redis is back before any handler finished")

      yield* h.waitUntil("every event handled", () => tally.missing("slow", ids).length === 0, "30 seconds")
      yield* h.waitUntil("nothing left pending", Effect.map(h.pendingCount("slow"), (n) => n === 0), "15 seconds")
      // A duplicate run would record up to 9 s after its claim: absence needs that long to show.
      yield* Effect.sleep("9500 millis")
      const duplicates = tally.duplicates("slow")
      yield* Effect.sync(() =>
        console.info(
          `[fault2${routed ? ", routed" : ""}] 32 events, ${tally.runs("slow")} runs (${duplicates} duplicates); held before the outage by ` +
            names.map((name) => `${name} (${owners.filter((o) => o.consumer === name).length})`).join(", ")
        )
      )
      for (const child of children) assert.isTrue(child.alive(), `${child.name} is alive: ${child.stderr()}`)
      assert.strictEqual(duplicates, 0, `${duplicates} of 32 events ran twice: live consumers' entries were claimed after the outage`)
    }), 90_000)
})
