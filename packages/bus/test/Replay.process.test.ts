/**
 * Cancel across processes, on real Redis and PostgreSQL: a replay runs in a child process and is
 * cancelled from this one. `Replay.cancel` returns once the runner over there recorded the end,
 * with the job `cancelled`; the runner has stopped (its process reports the job ended), nothing
 * was delivered after the count the job ends with, and a progress stream opened before the
 * cancel ends with `cancelled`.
 */
import { assert, describe, it } from "@effect/vitest"
import { EventBus, EventStore, Keys, Publisher, RedisStream, Replay } from "@hyvve/bus"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect, Fiber, Stream } from "effect"
import { orders } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as PgStore from "./fixtures/PgStore.ts"
import * as Wait from "./fixtures/Wait.ts"
import { databaseUrl, redisUrl, uniquePrefix } from "./utils/TestEnv.ts"

const replayScript = fileURLToPath(new URL("./fixtures/replayProcess.ts", import.meta.url))

describe("Replay across processes", () => {
  it.live("cancel in this process stops the runner in another one: the job and its progress end cancelled", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("replay-cancel")
      yield* Effect.addFinalizer(() => Harness.redisBackend().cleanup(prefix))
      const schema = PgStore.uniqueSchema("replaycancel")
      yield* PgStore.dropAtEnd(schema)
      const layer = EventBus.layer({
        redis: RedisStream.options(redisUrl, "hyvve-test-replay-cancel"),
        bus: { prefix, claimTimeout: "1 second", block: "200 millis", shutdownTimeout: "2 seconds" },
        store: EventStore.layerPg({ url: databaseUrl, schema }),
        history: { archiver: false }
      })
      yield* Effect.gen(function*() {
        const redis = yield* RedisStream.RedisStream
        yield* redis.createGroup(`${prefix}:events:main`, "target", "$")
        for (let i = 0; i < 6; i++) yield* Publisher.publishBatch(orders(i * 100, 100))

        const child = spawn(process.execPath, [replayScript], {
          env: { ...process.env, REDIS_URL: redisUrl, PREFIX: prefix, DATABASE_URL: databaseUrl, STORE_SCHEMA: schema, NODE_NO_WARNINGS: "1" },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let out = ""
        let err = ""
        child.stdout.on("data", (chunk) => (out += String(chunk)))
        child.stderr.on("data", (chunk) => (err += String(chunk)))
        yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
        yield* Wait.until(`the process starts a job (stderr: ${err})`, () => /job (\S+)/.test(out), "30 seconds")
        const jobId = /job (\S+)/.exec(out)![1]!
        const progress = yield* Replay.progress(jobId, { interval: "50 millis" }).pipe(Stream.runCollect, Effect.forkChild)
        yield* Wait.until("the job is under way", Effect.map(Replay.get(jobId), (job) => job.replayed >= 50), "30 seconds")

        const cancelled = yield* Replay.cancel(jobId, { actor: "ops" })
        assert.strictEqual(cancelled.status, "cancelled")
        assert.isTrue(cancelled.replayed >= 50 && cancelled.replayed < 600, `cancelled mid-job (replayed ${cancelled.replayed})`)
        // The runner over there has stopped: its process saw the job end.
        yield* Wait.until(`the runner reports the end (stdout: ${out})`, () => /ended (\S+)/.test(out), "10 seconds")
        assert.strictEqual(/ended (\S+)/.exec(out)![1], "cancelled")
        // Exactly what the job counts was delivered, and the record agrees with what cancel returned.
        const target = Keys.redeliver(prefix, "target")
        assert.strictEqual(yield* redis.length(target), cancelled.replayed)
        assert.deepStrictEqual(yield* Replay.get(jobId), cancelled)

        const seen = yield* Fiber.join(progress)
        assert.strictEqual(seen[seen.length - 1]!.status, "cancelled")
        assert.strictEqual(seen[seen.length - 1]!.replayed, cancelled.replayed)
        const store = yield* EventStore.EventStore
        const audit = yield* store.auditLog({ subject: jobId })
        assert.deepStrictEqual(audit.map((a) => [a.action, a.actor]), [["replay.cancel", "ops"], ["replay.start", "process"]])
      }).pipe(Effect.provide(layer))
    }), 120_000)
})
