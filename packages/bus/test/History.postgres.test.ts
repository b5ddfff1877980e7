/**
 * The history on real Redis and PostgreSQL: a flow whose handler publishes is archived with every
 * delivery and traced as its causation tree; PostgreSQL stopped mid-run and started again stops
 * neither publishing nor delivery, and the store catches up with nothing missing; a replay process
 * killed with SIGKILL mid-job is resumed and every event is replayed, none more than once more.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, Consumer, EventBus, EventStore, History, Keys, Publisher, RedisStream, Replay } from "@hyvve/bus"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect, type Layer, Option, type Scope } from "effect"
import { OrderPlaced, OrderShipped, orders } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as PgStore from "./fixtures/PgStore.ts"
import * as PrivatePostgres from "./fixtures/PrivatePostgres.ts"
import * as Wait from "./fixtures/Wait.ts"
import { databaseUrl, redisUrl, uniquePrefix } from "./utils/TestEnv.ts"

const fast = { claimTimeout: "1 second", retryPoll: "100 millis", block: "200 millis", shutdownTimeout: "2 seconds" } as const

const bus = (prefix: string, store: Layer.Layer<EventStore.EventStore>) =>
  EventBus.layer({ redis: RedisStream.options(redisUrl, "hyvve-test-history"), bus: { ...fast, prefix }, store })

/** Runs `program` on a bus with its own key prefix, removed from the shared Redis at the end. */
const onBus = <A, E>(
  label: string,
  store: Layer.Layer<EventStore.EventStore>,
  program: Effect.Effect<A, E, EventBus.Services | Scope.Scope>
) =>
  Effect.gen(function*() {
    const prefix = uniquePrefix(label)
    yield* Effect.addFinalizer(() => Harness.redisBackend().cleanup(prefix))
    return yield* program.pipe(Effect.provide(bus(prefix, store)))
  })

describe("History on Redis and PostgreSQL", () => {
  it.live("archives a flow whose handler publishes, with every delivery, and traces it as a causation tree", () =>
    onBus("trace", PgStore.layer("trace"), Effect.gen(function*() {
      yield* Consumer.handle(OrderPlaced, (event) =>
        Publisher.publish(OrderShipped, { orderId: event.data.orderId, carrier: "ups" }, { tenantId: event.tenantId, userId: "shipper" }).pipe(
          Effect.asVoid,
          Effect.orDie
        ), { group: "shipping" })
      yield* Consumer.handle(OrderShipped, () => Effect.void, { group: "notify" })
      const ids = yield* Publisher.publishBatch(orders(0, 3))
      const store = yield* EventStore.EventStore
      // The archiver and the status writer are independent: wait for both.
      yield* Wait.until(
        "six events archived and their deliveries completed",
        Effect.zipWith(
          store.statusCounts(),
          store.events({}),
          (counts, page) => counts.reduce((n, c) => n + (c.status === "COMPLETED" ? c.count : 0), 0) === 6 && page.events.length === 6
        ),
        "20 seconds"
      )
      const detail = yield* store.event(ids[0]!)
      assert.isTrue(Option.isSome(detail))
      if (Option.isNone(detail)) return
      assert.deepStrictEqual(detail.value.deliveries.map((d) => [d.group, d.status, d.attempts]), [["shipping", "COMPLETED", 1]])
      const trace = yield* store.trace(detail.value.event.correlationId)
      assert.strictEqual(trace.size, 2)
      const [root] = trace.roots
      assert.strictEqual(root?.event.id, ids[0])
      assert.strictEqual(root?.event.type, OrderPlaced.type)
      assert.strictEqual(root?.children.length, 1)
      const child = root?.children[0]
      assert.strictEqual(child?.event.type, OrderShipped.type)
      assert.strictEqual(child?.event.causationId, ids[0])
      assert.deepStrictEqual(child?.deliveries.map((d) => [d.group, d.status]), [["notify", "COMPLETED"]])
      const page = yield* store.events({ pattern: "test.*", tenantId: "tenant-a" })
      assert.strictEqual(page.events.length, 6)
    })), 60_000)

  it.live("PostgreSQL stopped mid-run and started again: delivery never stops, the store catches up, nothing missing", () =>
    Effect.gen(function*() {
      const pg = yield* PrivatePostgres.make
      const program = Effect.gen(function*() {
        const handled = new Set<string>()
        yield* Consumer.handle(OrderPlaced, (event) => Effect.sync(() => void handled.add(event.id)), { group: "work" })
        const store = yield* EventStore.EventStore
        const completed = Effect.map(
          Effect.orElseSucceed(store.statusCounts("work"), () => []),
          (counts) => counts.find((c) => c.status === "COMPLETED")?.count ?? 0
        )
        const before = yield* Publisher.publishBatch(orders(0, 30))
        yield* Wait.until("first half stored", Effect.map(completed, (n) => n === 30), "20 seconds")

        yield* pg.stop
        const during: Array<string> = []
        for (let i = 0; i < 6; i++) {
          during.push(...(yield* Publisher.publishBatch(orders(30 + i * 5, 5))))
          yield* Effect.sleep("100 millis")
        }
        yield* Wait.until("delivery goes on while PostgreSQL is down", () => during.every((id) => handled.has(id)), "20 seconds")
        yield* Wait.until("the writers notice", Effect.map(History.status, (s) => s.storeError !== undefined), "20 seconds")
        yield* pg.start

        // The archiver and the status writer back off independently (up to 5 s each): wait for both
        // in PostgreSQL itself.
        const archivedRows = Effect.map(
          Effect.orElseSucceed(store.events({}, { limit: 1000 }), () => ({ events: [] })),
          (page) => page.events.length
        )
        yield* Wait.until(
          "the store caught up: 60 deliveries completed and 60 events archived",
          Effect.zipWith(completed, archivedRows, (done, rows) => done === 60 && rows === 60),
          "30 seconds"
        )
        const all = [...before, ...during]
        let archived = 0
        for (const id of all) if (Option.isSome(yield* store.event(id))) archived++
        assert.strictEqual(archived, 60)
        const page = yield* store.events({}, { limit: 1000 })
        assert.deepStrictEqual(page.events.map((e) => e.id), all, "each event once, in stream order")
        const status = yield* History.status
        assert.strictEqual(status.dropped, 0)
        assert.strictEqual(status.gaps, 0)
      })
      const schema = PgStore.uniqueSchema("outage")
      yield* onBus("pg-outage", EventStore.layerPg({ url: pg.url, schema, connectTimeout: "1 second" }), program)
    }), 120_000)
})

describe("Replay from the archive on Redis and PostgreSQL", () => {
  it.live("a group gets every archived event once, in stream order, decoded with the marker, ids and timestamps intact", () =>
    Effect.gen(function*() {
      const schema = PgStore.uniqueSchema("archivereplay")
      yield* PgStore.dropAtEnd(schema)
      const program = Effect.gen(function*() {
        const seen: Array<{ readonly id: string; readonly seq: number; readonly timestamp: string; readonly original: string | undefined; readonly job: string | undefined }> = []
        const first = new Map<string, string>()
        yield* Consumer.handle(OrderPlaced, (event) =>
          Effect.sync(() => {
            if (event.replay === undefined) first.set(event.id, event.timestamp)
            seen.push({ id: event.id, seq: event.data.seq, timestamp: event.timestamp, original: event.replay?.originalEventId, job: event.replay?.jobId })
          }), { group: "target" })
        const ids: Array<string> = []
        for (let i = 0; i < 5; i++) ids.push(...(yield* Publisher.publishBatch(orders(i * 50, 50, i % 2 === 0 ? "tenant-a" : "tenant-b"))))
        yield* Wait.until("250 events archived", Effect.map(History.status, (s) => s.archived === 250), "30 seconds")
        yield* Wait.until("250 events handled", () => first.size === 250, "30 seconds")
        // Only the archive holds them now.
        const redis = yield* RedisStream.RedisStream
        yield* redis.trim(Keys.main((yield* BusConfig.BusConfig).prefix), { maxLen: 0, exact: true })

        const job = yield* Replay.run({ target: Replay.group("target"), batchSize: 40, from: 0 })
        assert.deepStrictEqual([job.status, job.scanned, job.replayed], ["completed", 250, 250])
        yield* Wait.until("250 replayed events handled", () => seen.length === 500, "30 seconds")
        const replayed = seen.slice(250)
        assert.deepStrictEqual(replayed.map((e) => e.original), ids, "each event once, in stream order")
        for (const e of replayed) {
          assert.strictEqual(e.job, job.id)
          assert.strictEqual(e.id, e.original)
          assert.strictEqual(e.timestamp, first.get(e.id))
        }
        assert.deepStrictEqual(replayed.map((e) => e.seq), Array.from({ length: 250 }, (_, i) => i))
        // The job record (saved at most once a second meanwhile) is final.
        assert.deepStrictEqual((yield* Replay.get(job.id)).replayed, 250)
      })
      yield* onBus("archive-replay", EventStore.layerPg({ url: databaseUrl, schema }), program)
    }), 120_000)
})

const replayScript = fileURLToPath(new URL("./fixtures/replayProcess.ts", import.meta.url))

describe("Replay on Redis and PostgreSQL", () => {
  it.live("a replay process killed with SIGKILL mid-job resumes from its cursor: every event replayed, none more than once more", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("replay-kill")
      yield* Effect.addFinalizer(() => Harness.redisBackend().cleanup(prefix))
      const schema = PgStore.uniqueSchema("replaykill")
      yield* PgStore.dropAtEnd(schema)
      const layer = EventBus.layer({
        redis: RedisStream.options(redisUrl, "hyvve-test-replay-kill"),
        bus: { ...fast, prefix },
        store: EventStore.layerPg({ url: databaseUrl, schema }),
        history: { archiver: false }
      })
      yield* Effect.gen(function*() {
        const redis = yield* RedisStream.RedisStream
        const main = `${prefix}:events:main`
        yield* redis.createGroup(main, "target", "$")
        const ids: Array<string> = []
        for (let i = 0; i < 6; i++) ids.push(...(yield* Publisher.publishBatch(orders(i * 100, 100))))

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
        yield* Wait.until("the job is half done", Effect.map(Replay.get(jobId), (job) => job.replayed >= 200), "30 seconds")
        const exited = new Promise((resolve) => child.once("exit", resolve))
        child.kill("SIGKILL")
        yield* Effect.promise(() => exited)
        const atKill = yield* Replay.get(jobId)
        assert.strictEqual(atKill.status, "running")
        assert.isTrue(atKill.replayed < 600, `killed mid-job (replayed ${atKill.replayed})`)

        const early = yield* Effect.flip(Replay.resume(jobId, { staleAfter: "1 minute" }))
        assert.strictEqual(early._tag, "JobAlreadyRunning")
        yield* Replay.resume(jobId, { staleAfter: "1 millis", actor: "ops" })
        const done = yield* Replay.awaitJob(jobId)
        assert.strictEqual(done.status, "completed")

        const copies = new Map<string, number>()
        const target = Keys.redeliver(prefix, "target")
        let start = "-"
        while (true) {
          const entries = yield* redis.range({ key: target, start, end: "+", count: 500 })
          for (const e of entries) {
            // Server copies keep the envelope as published and name the job in the `replay` field.
            assert.strictEqual(e.fields["replay"], jobId)
            const envelope = JSON.parse(e.fields["event"]!) as { id: string; replay?: { originalEventId: string } }
            const original = envelope.replay?.originalEventId ?? envelope.id
            copies.set(original, (copies.get(original) ?? 0) + 1)
          }
          if (entries.length < 500) break
          start = RedisStream.nextEntryId(entries[entries.length - 1]!.id)
        }
        assert.deepStrictEqual([...copies.keys()].sort(), [...ids].sort(), "every event replayed")
        const twice = [...copies.values()].filter((n) => n === 2).length
        assert.isTrue([...copies.values()].every((n) => n <= 2), "none more than once more")
        assert.isTrue(twice <= 10, `at most one batch replayed twice, got ${twice}`)
        const store = yield* EventStore.EventStore
        const audit = yield* store.auditLog({ subject: jobId })
        assert.deepStrictEqual(audit.map((a) => [a.action, a.actor]), [["replay.resume", "ops"], ["replay.start", "process"]])
      }).pipe(Effect.provide(layer))
    }), 120_000)
})
