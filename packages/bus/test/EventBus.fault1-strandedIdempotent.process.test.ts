/**
 * Issue 7, fault 1: idempotent events stranded after a Redis restart while their consumer lives.
 * A consumer process (`fixtures/loadConsumerProcess.ts`) handles 300 events with
 * `idempotent: true`, 10 ms each, so most of them sit read-ahead in its queue when a private Redis
 * (AOF, fsync per write) is restarted with its data after 20 are handled. Redis keeps every entry,
 * the consumer stays alive, so every event must be handled; the rule under test is that no
 * failure on the settle path (here: the done-marker check or write failing while Redis is away)
 * may leave a delivery held by a live consumer.
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

const tmpDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "hyvve-fault1-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("fault 1: idempotent handling across a Redis restart (process, private Redis)", () => {
  it.live("every event is handled while the consumer lives, none stays held", () =>
    Effect.gen(function*() {
      const redis = yield* PrivateRedis.make
      const dir = yield* tmpDir
      const h = yield* Harness.make(Harness.redisBackend(redis.url), { realTime: true }, "fault1")
      const publisher = yield* h.node()
      const file = join(dir, "handled.log")
      const child = yield* Children.start("idem-1", Children.fixture("loadConsumerProcess.ts"), {
        REDIS_URL: redis.url,
        PREFIX: h.prefix,
        CONSUMER: "idem-1",
        RECORD_FILE: file,
        GROUPS: "idem:1:1",
        DELAY_MS: "10",
        CLAIM_TIMEOUT_MS: "1000"
      })
      const tally = Children.tally([file])
      const ids = yield* publisher.run(Publisher.publishBatch(orders(0, 300)))
      yield* h.waitUntil("20 events handled", () => tally.runs("idem") >= 20, "20 seconds")
      yield* redis.restart({ downForMs: 1_000 })

      // Generous: 300 events take 3 s of handler time; the claim timeout is 1 s.
      const deadline = Date.now() + 20_000
      while (tally.missing("idem", ids).length > 0 && Date.now() < deadline) yield* Effect.sleep("100 millis")
      const missing = tally.missing("idem", ids).length
      const pending = yield* h.pendingCount("idem")
      yield* Effect.sync(() =>
        console.info(`[fault1] ${300 - missing} of 300 handled, ${missing} never handled, ${pending} still pending`)
      )
      assert.isTrue(child.alive(), `the consumer process is alive: ${child.stderr()}`)
      assert.strictEqual(missing, 0, `${missing} of 300 events never handled while the consumer lives (${pending} still pending)`)
      yield* h.waitUntil("nothing left pending", Effect.map(h.pendingCount("idem"), (n) => n === 0), "10 seconds")
    }), 60_000)
})
