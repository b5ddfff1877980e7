/**
 * Issue 7, "Done means": 10,000 events published while consumer PROCESSES handle them, Redis (a
 * private server, AOF with an fsync per write) restarted twice under load and once restarted
 * EMPTY. Nothing may be left unhandled while the consumers live, and the bus may not deliver more
 * duplicates than a plain ioredis consumer-group loop (`fixtures/plainConsumerProcess.ts`) does in
 * the same run.
 *
 * One stream, one publisher (this process), and every consumer reading it at once, so all of
 * them see exactly the same faults at the same moments:
 * - two bus processes (`fixtures/loadConsumerProcess.ts`), each running four `Consumer.handle`
 *   subscriptions — groups `bus-c1` / `bus-c16` (idempotent: false, concurrency 1 / 16) and
 *   `idem-c1` / `idem-c16` (idempotent: true) — so every group has two competing consumers;
 * - two plain-loop processes in group `plain`.
 *
 * Phases, and what each lets us expect exactly:
 * 1. 6,000 events, published in paced batches while Redis is restarted twice with its data
 *    (down 1.5 s each, longer than the 1 s claim timeout, as a short production outage). A
 *    publish that fails (Redis down) is retried by the test with fresh ids, so the events of
 *    every batch whose publish SUCCEEDED were appended and fsynced (AOF always): every one of
 *    them must be handled by every group. (A failed publish's events are never counted: if one
 *    did land, it is just one more event, handled or not.)
 * 2. Publishing pauses until phase 1 is fully handled (or the wait gives up), then Redis is
 *    stopped, its data deleted, and started again: everything phase 1 left in Redis is gone. The
 *    consumers are alive but backing off from the outage; the test publishes 4,000 more events
 *    as soon as Redis answers, so the first ones land before any consumer re-creates its group.
 *    Every one of them must be handled by every group.
 *
 * Each "must be handled" wait polls the recorders and gives up only once no consumer has made
 * progress for 5 s (a stranded event never comes back), so a loaded machine slows the test down
 * instead of failing it; on an idle machine the whole run takes about 35 s.
 *
 * Duplicates are runs beyond the first per event id, over the whole run. The bound is
 * ours ≤ max(plain × 1.5, plain + 50): both loops lose in-flight work the same way when Redis
 * stops (an ack that did not land is redelivered), and that number varies from run to run with
 * what happened to be in flight, so a plain ratio would flake on small counts; the absolute
 * slack of 50 absorbs that, while the hundreds of extra duplicates the issue measured (entries
 * of live consumers claimed by others after an outage) still fail it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Publisher } from "@hyvve/bus"
import { Effect, Fiber, Schedule } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Children from "./fixtures/Children.ts"
import { orders } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as PrivateRedis from "./fixtures/PrivateRedis.ts"

const tmpDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "hyvve-done-means-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const busGroups = [
  { group: "bus-c1", idempotent: false, concurrency: 1 },
  { group: "bus-c16", idempotent: false, concurrency: 16 },
  { group: "idem-c1", idempotent: true, concurrency: 1 },
  { group: "idem-c16", idempotent: true, concurrency: 16 }
] as const
const plainGroup = "plain"
const allGroups = [...busGroups.map((g) => g.group), plainGroup]

const claimTimeoutMs = 1_000
const batch = 100
const phase1 = 6_000
const phase2 = 4_000

/**
 * Polls until `check` holds; gives up once `progress` (a count that grows while consumers work)
 * has not moved for `stallMs`, or after `capMs`. A slow machine keeps it waiting as long as work
 * gets done; stranded events (no progress at all) end it soon. True when `check` held.
 */
const eventually = (check: () => boolean, progress: () => number, stallMs: number, capMs: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const started = Date.now()
    let last = progress()
    let movedAt = started
    while (!check()) {
      const now = Date.now()
      const current = progress()
      if (current !== last) {
        last = current
        movedAt = now
      }
      if (now - movedAt >= stallMs || now - started >= capMs) return check()
      yield* Effect.sleep("100 millis")
    }
    return true
  })

describe("Done means: 10,000 events, Redis (AOF) restarted twice under load and once empty (processes)", () => {
  it.live("nothing unhandled while consumers live; duplicates no more than a plain consumer-group loop", () =>
    Effect.gen(function*() {
      const redis = yield* PrivateRedis.make
      const dir = yield* tmpDir
      const h = yield* Harness.make(Harness.redisBackend(redis.url), { realTime: true }, "done-means")
      const publisher = yield* h.node()

      const files: Array<string> = []
      const children: Array<Children.Child> = []
      for (const name of ["bus-1", "bus-2"]) {
        const file = join(dir, `${name}.log`)
        files.push(file)
        children.push(
          yield* Children.start(name, Children.fixture("loadConsumerProcess.ts"), {
            REDIS_URL: redis.url,
            PREFIX: h.prefix,
            CONSUMER: name,
            RECORD_FILE: file,
            GROUPS: busGroups.map((g) => `${g.group}:${g.idempotent ? 1 : 0}:${g.concurrency}`).join(","),
            DELAY_MS: "1",
            CLAIM_TIMEOUT_MS: String(claimTimeoutMs)
          })
        )
      }
      for (const name of ["plain-1", "plain-2"]) {
        const file = join(dir, `${name}.log`)
        files.push(file)
        children.push(
          yield* Children.start(name, Children.fixture("plainConsumerProcess.ts"), {
            REDIS_URL: redis.url,
            STREAM: h.main,
            GROUP: plainGroup,
            CONSUMER: name,
            RECORD_FILE: file,
            DELAY_MS: "1",
            CLAIM_TIMEOUT_MS: String(claimTimeoutMs)
          })
        )
      }
      const tally = Children.tally(files)

      // Paced batches (at most ≈ 5,000 events/s); a failed publish is retried (fresh ids) until Redis
      // answers. Only the ids of successful publishes are pushed to `sink`.
      let failedPublishes = 0
      const publish = (from: number, count: number, sink: Array<string>) =>
        Effect.gen(function*() {
          for (let seq = from; seq < from + count; seq += batch) {
            const ids = yield* publisher.run(Publisher.publishBatch(orders(seq, Math.min(batch, from + count - seq)))).pipe(
              Effect.tapError(() => Effect.sync(() => failedPublishes++)),
              Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 400 })))
            )
            sink.push(...ids)
            yield* Effect.sleep("20 millis")
          }
        })
      const missingIn = (ids: ReadonlyArray<string>) =>
        Object.fromEntries(allGroups.map((group) => [group, tally.missing(group, ids).length] as const))
      const noneMissing = (ids: ReadonlyArray<string>) => () => allGroups.every((group) => tally.missing(group, ids).length === 0)
      const allRuns = () => allGroups.reduce((sum, group) => sum + tally.runs(group), 0)
      const startedAt = Date.now()

      // Phase 1: two restarts with data, under load.
      const published1: Array<string> = []
      const publishing = yield* Effect.forkChild(publish(0, phase1, published1))
      yield* h.waitUntil("1,500 events published", () => published1.length >= 1_500, "30 seconds")
      yield* redis.restart({ downForMs: 1_500 })
      yield* h.waitUntil("3,500 events published", () => published1.length >= 3_500, "30 seconds")
      yield* redis.restart({ downForMs: 1_500 })
      yield* Fiber.join(publishing)
      assert.strictEqual(published1.length, phase1)
      const published1At = Date.now() - startedAt
      yield* eventually(noneMissing(published1), allRuns, 5_000, 40_000)
      const missing1 = missingIn(published1)
      const handled1At = Date.now() - startedAt
      // What is still pending per group (a stranded entry stays pending on a live consumer).
      const pending1 = Object.fromEntries(
        yield* Effect.forEach(allGroups, (group) => Effect.map(h.pendingCount(group), (n) => [group, n] as const))
      )

      // Phase 2: restarted empty; published as soon as Redis answers.
      yield* redis.restart({ downForMs: 1_500, empty: true })
      const published2: Array<string> = []
      yield* publish(phase1, phase2, published2)
      yield* eventually(noneMissing(published2), allRuns, 5_000, 40_000)
      const missing2 = missingIn(published2)

      const duplicates = Object.fromEntries(allGroups.map((group) => [group, tally.duplicates(group)] as const))
      const runs = Object.fromEntries(allGroups.map((group) => [group, tally.runs(group)] as const))
      yield* Effect.sync(() =>
        console.info(
          `[done-means] ${published1.length + published2.length} events in ${Date.now() - startedAt} ms ` +
            `(${failedPublishes} publishes retried; phase 1 published at ${published1At} ms, handled at ${handled1At} ms)\n` +
            allGroups.map((group) =>
              `  ${group.padEnd(9)} runs ${runs[group]}, duplicates ${duplicates[group]}, pending after phase 1 ${pending1[group]}, ` +
              `never handled: ${missing1[group]} of ${phase1} (restarts with data), ${missing2[group]} of ${phase2} (after the empty restart)`
            ).join("\n")
        )
      )

      for (const child of children) assert.isTrue(child.alive(), `${child.name} is still running: ${child.stderr()}`)
      // The baseline itself must be sound, or the comparison means nothing.
      assert.deepStrictEqual([missing1[plainGroup], missing2[plainGroup]], [0, 0], "the plain loop handled everything")
      for (const { group } of busGroups) {
        assert.strictEqual(missing1[group], 0, `${group}: ${missing1[group]} of ${phase1} events never handled across the restarts with data`)
        assert.strictEqual(missing2[group], 0, `${group}: ${missing2[group]} of ${phase2} events published after the empty restart never handled`)
      }
      const plain = duplicates[plainGroup]!
      const bound = Math.max(plain * 1.5, plain + 50)
      for (const { group } of busGroups) {
        assert.isAtMost(duplicates[group]!, bound, `${group}: ${duplicates[group]} duplicates against ${plain} for the plain loop`)
      }
    }), 150_000)
})
