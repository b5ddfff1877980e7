/**
 * The `history` section of `npm run bench` (real Redis and PostgreSQL; needs DATABASE_URL). One
 * round, on one stream of `events` events:
 *
 * 1. `publishBatch` (100 per batch) without a store; with the PostgreSQL store and its archiver
 *    running in the same process; and with the archiver in a process of its own started at nice
 *    19 (`archiver-process.ts`; the publisher runs `history: { archiver: false }`). The order
 *    flips every round; the first round publishes 10,000 events unmeasured before). For both
 *    archiver layouts: how long after the last publish the archive holds every event (the lag);
 * 2. replay of the whole stream from Redis into a group, with the store (jobs and `PENDING` rows
 *    in PostgreSQL) and without one (jobs in Redis), and how long after the job completed the
 *    store holds every `PENDING` row;
 * 3. the stream emptied, replay of the same events from the archive.
 *
 * Each round uses PostgreSQL schemas of its own (the own-process archiver writes to a second one),
 * dropped at the end of the round (also on failure).
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, type Layer, Logger, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { readdirSync, readFileSync } from "node:fs"
import { EventBus, EventStore, History, Keys, Publisher, RedisStream, Replay } from "../src/index.ts"
import { BenchTick, context } from "./bus.ts"
import { connect, payload, redisUrl, startChild } from "./lib.ts"

export interface HistoryRound {
  /** publishBatch events/s without a store, with the archiver in this process, with it in its own. */
  readonly publishWithout: number
  readonly publishWith: number
  readonly publishWithOwn: number
  /** ms from the last publish until the archive held every event (archiver here / in its own process). */
  readonly archiveLagMs: number
  readonly archiveLagOwnMs: number
  /** Replay events/s (job started → completed). */
  readonly replayRedisStore: number
  readonly replayRedisNoStore: number
  readonly replayArchive: number
  /** ms from the end of the Redis replay with the store until its PENDING rows were all written. */
  readonly pendingLagMs: number
}

const batch = 100

const busLayer = (prefix: string, store: Layer.Layer<EventStore.EventStore> | undefined, history: History.Options = {}) =>
  EventBus.layer({
    redis: RedisStream.options(redisUrl, "hyvve-bench-history"),
    bus: { prefix, batchSize: 500, source: "bench", block: "1 second", eventId: "uuidv7" },
    store: store ?? EventStore.layerNone,
    history: { archiveBatch: 1000, ...history }
  })

/** Publishes `count` events in batches of 100; events per second. */
const publish = (count: number) =>
  Effect.gen(function*() {
    const batches = Array.from(
      { length: count / batch },
      (_, b) => Array.from({ length: batch }, (_, i) => Publisher.item(BenchTick, payload(b * batch + i), context))
    )
    const started = performance.now()
    for (const items of batches) yield* Publisher.publishBatch(items)
    return count / ((performance.now() - started) / 1000)
  })

/** Waits until `query` (a count) reaches `n`; the ms it took. */
const waitForCount = (query: Effect.Effect<number, unknown, SqlClient.SqlClient>, n: number) =>
  Effect.gen(function*() {
    const started = performance.now()
    while ((yield* Effect.orDie(query)) < n) yield* Effect.sleep("20 millis")
    return performance.now() - started
  })

const replayRate = (job: Replay.Job) => job.replayed / (((job.finishedAt ?? 0) - (job.startedAt ?? 0)) / 1000)

/** One round under `prefix` (Redis keys) and `schema` (PostgreSQL). */
export const round = (options: {
  readonly prefix: string
  readonly schema: string
  readonly databaseUrl: string
  readonly events: number
  readonly round: number
  readonly log: (message: string) => void
}): Promise<HistoryRound> => {
  const { databaseUrl, events, log, schema } = options
  const ownSchema = `${schema}_own`
  const store = EventStore.layerPg({ url: databaseUrl, schema })
  const sql = PgClient.layer({ url: Redacted.make(databaseUrl) })
  const count = (where: string, inSchema = schema) =>
    Effect.flatMap(SqlClient.SqlClient, (s) =>
      Effect.map(
        s<{ readonly n: number }>`SELECT count(*)::float8 AS n FROM ${s(inSchema)}.${s(where)}`,
        (rows) => rows[0]?.n ?? 0
      ))

  const program = Effect.gen(function*() {
    // --- publishBatch without a store, with the archiver here, with it in its own process ---
    const rates = { without: 0, with: 0, own: 0 }
    let archiveLagMs = 0
    let archiveLagOwnMs = 0
    const storePrefix = `${options.prefix}:store`
    // Both compared sides next to "without" in either order: the machine's speed drifts.
    const sides = ["with", "without", "own"] as const
    // The first round of a run starts cold (`--only=history`): publish once unmeasured first.
    if (options.round === 0) {
      yield* publish(Math.min(events, 10_000)).pipe(Effect.provide(busLayer(`${options.prefix}:warmup`, undefined)), Effect.scoped)
    }
    for (const side of options.round % 2 === 0 ? sides : [...sides].reverse()) {
      if (side === "without") {
        rates.without = yield* publish(events).pipe(Effect.provide(busLayer(`${options.prefix}:plain`, undefined)), Effect.scoped)
      } else if (side === "with") {
        yield* Effect.gen(function*() {
          // The replay target: a group that exists before the events.
          const redis = yield* RedisStream.RedisStream
          yield* redis.createGroup(Keys.main(storePrefix), "target", "$")
          rates.with = yield* publish(events)
          archiveLagMs = yield* waitForCount(count("events"), events)
        }).pipe(Effect.provide(busLayer(storePrefix, store)), Effect.scoped)
      } else {
        const ownPrefix = `${options.prefix}:own`
        const ownStore = EventStore.layerPg({ url: databaseUrl, schema: ownSchema })
        yield* Effect.gen(function*() {
          const archiver = yield* Effect.acquireRelease(
            Effect.sync(() =>
              startChild("archiver-process.ts", { prefix: ownPrefix, databaseUrl, schema: ownSchema, archiveBatch: 1000 }, {
                timeoutMs: 600_000,
                priority: 19
              })
            ),
            (child) => Effect.sync(child.kill)
          )
          const redis = yield* RedisStream.RedisStream
          const main = Keys.main(ownPrefix)
          const measured = Effect.gen(function*() {
            // Up once its group exists (its store's migrations run before the archiver starts).
            while (!(yield* Effect.orDie(redis.groups(main))).some((g) => g.name === History.archiverGroup)) {
              yield* Effect.sleep("20 millis")
            }
            rates.own = yield* publish(events)
            archiveLagOwnMs = yield* waitForCount(count("events", ownSchema), events)
          })
          // Whatever stops the archiver process (it never exits by itself) ends the round.
          const stopped = Effect.flatMap(
            Effect.promise(() => archiver.exited.then(() => "it exited", (e: Error) => e.message)),
            (why) => Effect.die(new Error(`the archiver process stopped: ${why}`))
          )
          yield* Effect.raceFirst(measured, stopped)
        }).pipe(Effect.provide(busLayer(ownPrefix, ownStore, { archiver: false })), Effect.scoped)
      }
    }
    log(
      `    publishBatch ${Math.round(rates.without)} ev/s without a store; with the archiver here ${Math.round(rates.with)} ev/s (archive lag ${
        Math.round(archiveLagMs)
      } ms), in its own process ${Math.round(rates.own)} ev/s (lag ${Math.round(archiveLagOwnMs)} ms)`
    )

    // --- replay from Redis, with the store and without ------------------------------------
    const { pendingLagMs, redisStore } = yield* Effect.gen(function*() {
      const job = yield* Replay.run({ target: Replay.group("target"), batchSize: 1000 })
      const done = performance.now()
      yield* waitForCount(count("deliveries"), events)
      return { redisStore: replayRate(job), pendingLagMs: performance.now() - done }
    }).pipe(Effect.provide(busLayer(storePrefix, store)), Effect.scoped)
    const redisNoStore = yield* Effect.map(
      Replay.run({ target: Replay.group("target"), batchSize: 1000 }),
      replayRate
    ).pipe(Effect.provide(busLayer(storePrefix, undefined)), Effect.scoped)
    log(`    replay from Redis ${Math.round(redisStore)} ev/s with the store (PENDING rows ${Math.round(pendingLagMs)} ms later), ${Math.round(redisNoStore)} ev/s without`)

    // --- replay from the archive ------------------------------------------------------------
    const replayArchive = yield* Effect.gen(function*() {
      const redis = yield* RedisStream.RedisStream
      yield* redis.trim(Keys.main(storePrefix), { maxLen: 0, exact: true })
      const job = yield* Replay.run({ target: Replay.group("target"), batchSize: 1000, from: 0 })
      if (job.replayed !== events) return yield* Effect.die(new Error(`the archive replay replayed ${job.replayed} of ${events} events`))
      return replayRate(job)
    }).pipe(Effect.provide(busLayer(storePrefix, store)), Effect.scoped)
    log(`    replay from the archive ${Math.round(replayArchive)} ev/s`)

    return {
      publishWithout: rates.without,
      publishWith: rates.with,
      publishWithOwn: rates.own,
      archiveLagMs,
      archiveLagOwnMs,
      replayRedisStore: redisStore,
      replayRedisNoStore: redisNoStore,
      replayArchive,
      pendingLagMs
    } satisfies HistoryRound
  })

  return Effect.runPromise(program.pipe(
    Effect.ensuring(
      Effect.flatMap(SqlClient.SqlClient, (s) => s`DROP SCHEMA IF EXISTS ${s(schema)}, ${s(ownSchema)} CASCADE`).pipe(Effect.ignore)
    ),
    Effect.provide(sql),
    // The bus's Info lines (replay started / completed) would interleave with the bench's output.
    Effect.provideService(Logger.CurrentLoggers, new Set())
  ))
}

// ---------------------------------------------------------------------------------------------
// CPU split (profile.ts archive / archive-replay)
// ---------------------------------------------------------------------------------------------

/** CPU seconds so far: this process, Redis (`INFO cpu`), every `postgres` process (`/proc`), the machine. */
const cpuNow = async (admin: Awaited<ReturnType<typeof connect>>) => {
  const node = process.cpuUsage()
  const info = await admin.info("cpu")
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN)
  let postgres = 0
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      if (!stat.includes("(postgres)")) continue
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      postgres += (Number(fields[11]) + Number(fields[12])) / 100
    } catch {
      // The process ended meanwhile.
    }
  }
  const cpuLine = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
  const idle = (cpuLine[3] ?? 0) + (cpuLine[4] ?? 0)
  const total = cpuLine.reduce((a, b) => a + b, 0)
  return {
    node: (node.user + node.system) / 1e6,
    redis: field("used_cpu_user") + field("used_cpu_sys"),
    postgres,
    busy: (total - idle) / 100
  }
}

/**
 * publishBatch of `events` with the PostgreSQL store (its archiver on or off), until the archive
 * holds them all; with `replay`, then the stream emptied and replayed from the archive. A report
 * of the rates and of the CPU seconds each process spent in each phase.
 */
export const cpuProfile = async (options: {
  readonly prefix: string
  readonly schema: string
  readonly databaseUrl: string
  readonly events: number
  readonly archiver: boolean
  readonly archiveBatch: number
  readonly replay: boolean
  /** The phase run under `profiled`: `publishBatch`, `archiver` (catching up) or `replay`. */
  readonly profiledPhase: string
  readonly profiled: <A>(measured: () => Promise<A>) => Promise<A>
}): Promise<string> => {
  const { databaseUrl, events, schema } = options
  const admin = await connect("hyvve-bench:cpu")
  const store = EventStore.layerPg({ url: databaseUrl, schema })
  const lines: Array<string> = []
  const phase = async <A>(name: string, run: () => Promise<A>, rate: (a: A, seconds: number) => string) => {
    // Only one phase runs under the profiler.
    const profiled = name.startsWith(options.profiledPhase)
    const before = await cpuNow(admin)
    const started = performance.now()
    const a = await (profiled ? options.profiled(run) : run())
    const seconds = (performance.now() - started) / 1000
    const after = await cpuNow(admin)
    const per = (k: keyof typeof before) => `${(after[k] - before[k]).toFixed(2)} s`
    lines.push(`${name}: ${rate(a, seconds)}; ${seconds.toFixed(2)} s wall; CPU node ${per("node")}, redis ${per("redis")}, postgres ${per("postgres")}, machine busy ${per("busy")} of ${(2 * seconds).toFixed(2)}`)
    return a
  }
  const sql = PgClient.layer({ url: Redacted.make(databaseUrl) })
  const count = Effect.flatMap(SqlClient.SqlClient, (s) =>
    Effect.map(s<{ readonly n: number }>`SELECT count(*)::float8 AS n FROM ${s(schema)}.events`, (rows) => rows[0]?.n ?? 0))
  const inPhase = <A, E>(name: string, effect: Effect.Effect<A, E>, rate: (a: A, seconds: number) => string) =>
    Effect.promise(() => phase(name, () => Effect.runPromise(effect), rate))
  const main = Keys.main(options.prefix)
  const program = Effect.gen(function*() {
    yield* Effect.gen(function*() {
      const redis = yield* RedisStream.RedisStream
      yield* redis.createGroup(main, "target", "$")
      const services = yield* Effect.context<Publisher.Publisher | SqlClient.SqlClient>()
      yield* inPhase(`publishBatch, archiver ${options.archiver ? "on" : "off"}`, Effect.provide(publish(events), services), (eps) => `${Math.round(eps)} events/s`)
      if (options.archiver) yield* inPhase("archiver catching up", Effect.provide(waitForCount(count, events), services), (ms) => `lag ${Math.round(ms)} ms`)
    }).pipe(Effect.provide(busLayer(options.prefix, store, { archiver: options.archiver, archiveBatch: options.archiveBatch })), Effect.scoped)
    if (!options.replay) return
    yield* Effect.gen(function*() {
      const redis = yield* RedisStream.RedisStream
      yield* redis.trim(main, { maxLen: 0, exact: true })
      const services = yield* Effect.context<Replay.Replay>()
      yield* inPhase("replay from the archive", Effect.provide(Replay.run({ target: Replay.group("target"), batchSize: 1000, from: 0 }), services), (job) => `${Math.round(replayRate(job))} events/s, ${job.replayed} events`)
    }).pipe(Effect.provide(busLayer(options.prefix, store, { archiver: false })), Effect.scoped)
  })
  try {
    await Effect.runPromise(program.pipe(
      Effect.ensuring(Effect.flatMap(SqlClient.SqlClient, (s) => s`DROP SCHEMA IF EXISTS ${s(schema)} CASCADE`).pipe(Effect.ignore)),
      Effect.provide(sql),
      Effect.provideService(Logger.CurrentLoggers, new Set())
    ))
  } finally {
    await admin.quit()
  }
  return lines.join("\n")
}
