/**
 * The replay memory run (not part of `npm run bench` nor `npm test`: it takes minutes and holds
 * the whole stream in Redis). Fills a stream with `--events` entries (default 1,000,000; raw
 * pipelined XADD of valid bus entries), then replays all of them from Redis into a group with the
 * PostgreSQL store (jobs and `PENDING` rows in PostgreSQL, archiver off), and samples this
 * process's memory (after a full GC: run with `--expose-gc`) and the job's progress every
 * `--every` seconds (default 2). The target stream is trimmed as the replay goes (no consumer reads
 * it), so Redis holds about one copy of the stream. Memory is flat when, over the second half,
 * heap used grows by at most 2 MB + 5 % and RSS by at most 32 MB + 10 % (the long run's rule).
 *
 *   node --expose-gc packages/bus/bench/history-long.ts [--events=N] [--every=S]
 *
 * Needs REDIS_URL and DATABASE_URL (a schema of its own, dropped at the end).
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Logger, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { EventBus, EventStore, Keys, RedisStream, Replay } from "../src/index.ts"
import { connect, deleteKeys, type Memory, memory, prefill, redisUrl } from "./lib.ts"

const databaseUrl = process.env["DATABASE_URL"]
if (databaseUrl === undefined) throw new Error("DATABASE_URL is not set")
const option = (name: string, fallback: number) => {
  const raw = process.argv.find((arg) => arg.startsWith(`--${name}=`))
  return raw === undefined ? fallback : Number(raw.slice(name.length + 3))
}
const events = option("events", 1_000_000)
const everyMs = option("every", 2) * 1000
const prefix = `hyvve-bench-history-long:${process.pid}`
const schema = `hyvve_bench_long_${process.pid}`
const log = (message: string) => process.stderr.write(`[history-long] ${message}\n`)
if (typeof globalThis.gc !== "function") log("run with --expose-gc for memory after a full GC")

const admin = await connect("hyvve-bench-history-long:admin")
const main = Keys.main(prefix)

interface Sample {
  readonly seconds: number
  readonly replayed: number
  readonly memory: Memory
}

const program = Effect.gen(function*() {
  const redis = yield* RedisStream.RedisStream
  log(`filling ${main} with ${events.toLocaleString("en-US")} entries`)
  yield* Effect.promise(() => prefill(admin, main, events, 1000))
  yield* redis.createGroup(main, "target", "$")
  const target = `${prefix}:events:redeliver:target`

  const samples: Array<Sample> = []
  const started = performance.now()
  const sample = (replayed: number) => {
    const s = { seconds: (performance.now() - started) / 1000, replayed, memory: memory() }
    samples.push(s)
    log(`${s.seconds.toFixed(0).padStart(4)} s  replayed ${replayed.toLocaleString("en-US").padStart(9)}  RSS ${s.memory.rssMb.toFixed(0)} MB  heap used ${s.memory.heapUsedMb.toFixed(1)} MB`)
  }
  sample(0)
  const jobId = yield* Replay.start({ target: Replay.group("target"), batchSize: 1000 })
  while (true) {
    yield* Effect.sleep(everyMs)
    // Nobody consumes the target: trim it so Redis holds about one copy of the stream.
    yield* Effect.promise(() => admin.call("XTRIM", target, "MAXLEN", "~", "10000"))
    const job = yield* Replay.get(jobId)
    sample(job.replayed)
    if (job.status !== "running") {
      if (job.status !== "completed" || job.replayed !== events) {
        return yield* Effect.die(new Error(`the replay ended ${job.status} with ${job.replayed} of ${events} events`))
      }
      break
    }
  }
  const end = samples[samples.length - 1]!
  const seconds = end.seconds
  const mid = samples.reduce((best, s) => (Math.abs(s.replayed - events / 2) < Math.abs(best.replayed - events / 2) ? s : best))
  const heapGrowth = end.memory.heapUsedMb - mid.memory.heapUsedMb
  const rssGrowth = end.memory.rssMb - mid.memory.rssMb
  const flat = heapGrowth <= 2 + 0.05 * mid.memory.heapUsedMb && rssGrowth <= 32 + 0.1 * mid.memory.rssMb
  const lines = [
    `replay memory run: ${events.toLocaleString("en-US")} events from Redis into a group, PostgreSQL store, batch 1000`,
    `  ${Math.round(events / seconds).toLocaleString("en-US")} events/s over ${seconds.toFixed(0)} s (sampled every ${everyMs / 1000} s, after a full GC)`,
    `  RSS MB:       start ${samples[0]!.memory.rssMb.toFixed(0)}, 50 % ${mid.memory.rssMb.toFixed(0)}, end ${end.memory.rssMb.toFixed(0)}, max ${Math.max(...samples.map((s) => s.memory.rssMb)).toFixed(0)}`,
    `  heap used MB: start ${samples[0]!.memory.heapUsedMb.toFixed(1)}, 50 % ${mid.memory.heapUsedMb.toFixed(1)}, end ${end.memory.heapUsedMb.toFixed(1)}, max ${Math.max(...samples.map((s) => s.memory.heapUsedMb)).toFixed(1)}`,
    `  second half: heap ${heapGrowth >= 0 ? "+" : ""}${heapGrowth.toFixed(1)} MB, RSS ${rssGrowth >= 0 ? "+" : ""}${rssGrowth.toFixed(0)} MB: ${flat ? "flat" : "GROWS"}`
  ]
  for (const line of lines) process.stdout.write(`${line}\n`)
}).pipe(
  Effect.provide(EventBus.layer({
    redis: RedisStream.options(redisUrl, "hyvve-bench-history-long"),
    bus: { prefix, source: "bench", eventId: "uuidv7" },
    store: EventStore.layerPg({ url: databaseUrl, schema }),
    history: { archiver: false }
  })),
  Effect.scoped,
  Effect.provideService(Logger.CurrentLoggers, new Set()),
  Effect.ensuring(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(databaseUrl) })),
      Effect.ignore
    )
  ),
  Effect.ensuring(Effect.promise(async () => {
    await deleteKeys(admin, prefix)
    admin.disconnect()
  }))
)

await Effect.runPromise(program)
