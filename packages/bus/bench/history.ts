/**
 * The history bench (real Redis and PostgreSQL): `publishBatch` with the archiver running against
 * without it (interleaved rounds, ratio of medians) and how far the archive lags behind, then
 * replay throughput from Redis into a group and from the archive. Needs REDIS_URL and
 * DATABASE_URL (a schema of its own, dropped at the end). Flags: `--events N` (default 50,000).
 */
import { PgClient } from "@effect/sql-pg"
import { EventId } from "@hyvve/schema"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { EventBus, EventStore, Publisher, RedisStream, Replay } from "../src/index.ts"
import { BenchTick, context } from "./bus.ts"
import { connect, deleteKeys, median, payload, redisUrl } from "./lib.ts"

const databaseUrl = process.env["DATABASE_URL"]
if (databaseUrl === undefined) throw new Error("DATABASE_URL is not set")
const arg = process.argv.indexOf("--events")
const events = arg >= 0 ? Number(process.argv[arg + 1]) : 50_000
const rounds = 3
const batch = 100
const runPrefix = `hyvve-bench-history:${process.pid}`
const schema = `hyvve_bench_${process.pid}`
const log = (message: string) => process.stderr.write(`[history] ${message}\n`)

const bus = (prefix: string, store: boolean) =>
  Layer.merge(
    EventBus.layer({
      redis: RedisStream.options(redisUrl, "hyvve-bench-history"),
      bus: { prefix, batchSize: 500, source: "bench", block: "1 second" },
      store: store ? EventStore.layerPg({ url: databaseUrl, schema }) : EventStore.layerNone,
      history: { archiveBatch: 1000 }
    }),
    EventId.layerUuidV7
  )

const items = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => Publisher.item(BenchTick, payload(from + i), context))

/** Publishes `count` events in batches of 100; events per second. */
const publish = (count: number) =>
  Effect.gen(function*() {
    const batches = Array.from({ length: count / batch }, (_, i) => items(i * batch, batch))
    const started = performance.now()
    for (const b of batches) yield* Publisher.publishBatch(b)
    return count / ((performance.now() - started) / 1000)
  })

const program = Effect.gen(function*() {
  // --- publishBatch with and without the archiver ------------------------------------------
  const ratios: Array<number> = []
  const lags: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [false, true] : [true, false]
    const eps: Record<string, number> = {}
    for (const withStore of order) {
      const prefix = `${runPrefix}:publish:${round}:${withStore}`
      yield* Effect.gen(function*() {
        eps[String(withStore)] = yield* publish(events)
        if (withStore) {
          // Lag: how long after the last publish the archive holds every event.
          const done = performance.now()
          const store = yield* EventStore.EventStore
          while ((yield* store.events({}, { limit: 1 })).events.length === 0) yield* Effect.sleep("10 millis")
          const sql = yield* SqlClient.SqlClient
          while (true) {
            const [row] = yield* sql<{ readonly n: number }>`SELECT count(*)::float8 AS n FROM ${sql(schema)}.events`
            if ((row?.n ?? 0) >= events * (round + 1)) break
            yield* Effect.sleep("20 millis")
          }
          lags.push(performance.now() - done)
        }
      }).pipe(Effect.provide(bus(prefix, withStore)), Effect.scoped)
    }
    ratios.push(eps["true"]! / eps["false"]!)
    log(`round ${round + 1}: without ${Math.round(eps["false"]!)} ev/s, with the archiver ${Math.round(eps["true"]!)} ev/s`)
  }

  // --- replay from Redis, then from the archive ----------------------------------------------
  const prefix = `${runPrefix}:replay`
  const replay = yield* Effect.gen(function*() {
    const redis = yield* RedisStream.RedisStream
    const main = `${prefix}:events:main`
    yield* redis.createGroup(main, "target", "$")
    yield* publish(events)
    const fromRedis = yield* Replay.run({ target: Replay.group("target"), batchSize: 1000 })
    const redisEps = fromRedis.replayed / (((fromRedis.finishedAt ?? 0) - (fromRedis.startedAt ?? 0)) / 1000)
    // Wait for the archive, then empty the stream: the replay must read the archive.
    const sql = yield* SqlClient.SqlClient
    while (true) {
      const [row] = yield* sql<{ readonly n: number }>`SELECT count(*)::float8 AS n FROM ${sql(schema)}.events WHERE entry_id IS NOT NULL`
      if ((row?.n ?? 0) >= events * (rounds + 1)) break
      yield* Effect.sleep("50 millis")
    }
    yield* redis.trim(main, { maxLen: 0, exact: true })
    const rssBefore = process.memoryUsage().rss
    const fromArchive = yield* Replay.run({ target: Replay.group("target"), batchSize: 1000, from: 0 })
    const archiveEps = fromArchive.replayed / (((fromArchive.finishedAt ?? 0) - (fromArchive.startedAt ?? 0)) / 1000)
    return { redisEps, archiveEps, replayed: fromArchive.replayed, rssGrowthMb: (process.memoryUsage().rss - rssBefore) / 1e6 }
  }).pipe(Effect.provide(bus(prefix, true)), Effect.scoped)

  const lines = [
    `publishBatch with the archiver vs without: ${median(ratios).toFixed(2)}× (rounds ${ratios.map((r) => r.toFixed(2)).join(", ")}; target ≥ 0.90×)`,
    `archive lag after the last publish: median ${Math.round(median(lags))} ms for ${events} events`,
    `replay from Redis into a group: ${Math.round(replay.redisEps)} events/s (target ≥ 50,000)`,
    `replay from the archive: ${Math.round(replay.archiveEps)} events/s over ${replay.replayed} events, RSS +${replay.rssGrowthMb.toFixed(0)} MB (target ≥ 20,000)`
  ]
  for (const line of lines) process.stdout.write(`${line}\n`)
}).pipe(
  Effect.provide(PgClient.layer({ url: Redacted.make(databaseUrl) })),
  Effect.ensuring(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(databaseUrl) })),
      Effect.ignore
    )
  ),
  Effect.ensuring(Effect.promise(async () => {
    const admin = await connect("hyvve-bench-history:admin")
    await deleteKeys(admin, runPrefix)
    admin.disconnect()
  }))
)

await Effect.runPromise(program)
