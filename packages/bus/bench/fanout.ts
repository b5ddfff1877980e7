/**
 * Many subscriptions on one stream (issue 12): K `handle` subscriptions in one process, of which
 * one takes the bench events and K − 1 take other types, with and without the application router
 * (`application` setting). Measured in this process: time to drain a backlog, Node CPU
 * (`process.cpuUsage`) and Redis CPU (`INFO cpu`, the server's user + sys delta) per handled
 * event; a live paced run (latency from each event's `sentAt`); and how long starting N
 * subscriptions one after another takes, idle and while one of them drains a backlog.
 */
import { EventType } from "@hyvve/schema"
import { Deferred, Effect, Schema } from "effect"
import type { Redis } from "ioredis"
import { Consumer, EventBus, Keys, RedisStream } from "../src/index.ts"
import { BenchTick, batchSize } from "./bus.ts"
import { type Latency, latency, prefill, rawEntry, redisUrl } from "./lib.ts"

/** Subscriptions read the stream per group (`"groups"`) or through the application router. */
export type Mode = "groups" | "routed"

/** What a drain measured. */
export interface Drain {
  readonly seconds: number
  /** Seconds the K `handle` calls took to return, the backlog waiting. */
  readonly startSeconds: number
  /** Node CPU µs per handled event. */
  readonly nodeUs: number
  /** Redis CPU µs per handled event. */
  readonly redisUs: number
}

/** What a live run measured. */
export interface Live {
  readonly latency: Latency
  /** Handled when the publisher stopped, of `sent`. */
  readonly handledAtStop: number
  readonly sent: number
  /** Seconds from the publisher's stop to the last event handled. */
  readonly tail: number
}

/** The other event types, one per non-matching subscription. */
const others = Array.from({ length: 64 }, (_, i) =>
  EventType.make(`bench.other_${i}`, Schema.Struct({ n: Schema.Finite }), { description: "never published" }))

const layer = (prefix: string, mode: Mode) =>
  EventBus.layer({
    redis: RedisStream.options(redisUrl, "hyvve-bench-fanout"),
    bus: {
      prefix,
      batchSize,
      source: "bench",
      eventId: "uuidv7",
      ...(mode === "routed" ? { application: "bench" } : {})
    }
  })

/** Starts the K − 1 non-matching subscriptions; each handler would fail the run if called. */
const startOthers = (k: number) =>
  Effect.forEach(others.slice(0, k - 1), (type) => Consumer.handle(type, () => Effect.die("a non-matching subscription ran")), {
    discard: true
  })

/** The Redis server's CPU time so far, in µs (user + sys). */
const redisCpu = async (admin: Redis): Promise<number> => {
  const info = await admin.info("cpu")
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN)
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1e6
}

// Until every group reading the stream has read and settled everything (the router, or each group).
const streamSettled = async (admin: Redis, key: string): Promise<boolean> => {
  const groups = (await admin.call("XINFO", "GROUPS", key)) as Array<Array<string | number | null>>
  return groups.every((row) => {
    const at = (name: string) => row[row.indexOf(name) + 1]
    return Number(at("pending")) === 0 && Number(at("lag") ?? 1) === 0
  })
}

const until = async (check: () => Promise<boolean>, timeoutMs: number): Promise<void> => {
  const end = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > end) throw new Error("timed out")
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Creates the K groups (and routes), stops, prefills `count` bench events, then starts the K
 * subscriptions again and times the drain: until the matching one handled every event and every
 * group on the stream has read and settled everything.
 */
export const drain = async (admin: Redis, prefix: string, k: number, count: number, mode: Mode): Promise<Drain> => {
  const key = Keys.main(prefix)
  const bus = layer(prefix, mode)
  const subscribe = (onEvent: () => Effect.Effect<void>) => Effect.andThen(startOthers(k), Consumer.handle(BenchTick, onEvent))
  await Effect.runPromise(Effect.scoped(subscribe(() => Effect.void)).pipe(Effect.provide(bus)))
  await prefill(admin, key, count)
  return Effect.runPromise(
    Effect.gen(function*() {
      const done = yield* Deferred.make<void>()
      let handled = 0
      const cpu0 = process.cpuUsage()
      const redis0 = yield* Effect.promise(() => redisCpu(admin))
      const start = performance.now()
      yield* subscribe(() => ++handled === count ? Effect.asVoid(Deferred.succeed(done, undefined)) : Effect.void)
      const startSeconds = (performance.now() - start) / 1000
      yield* Deferred.await(done).pipe(Effect.timeout("300 seconds"))
      yield* Effect.promise(() => until(() => streamSettled(admin, key), 300_000))
      const seconds = (performance.now() - start) / 1000
      const cpu = process.cpuUsage(cpu0)
      const redis = (yield* Effect.promise(() => redisCpu(admin))) - redis0
      return { seconds, startSeconds, nodeUs: (cpu.user + cpu.system) / count, redisUs: redis / count }
    }).pipe(Effect.scoped, Effect.provide(bus))
  )
}

/**
 * K subscriptions running; a raw publisher appends `rate` bench events per second (batches every
 * 10 ms) for `seconds`; latency from each event's `sentAt` to its handler.
 */
export const live = async (admin: Redis, prefix: string, k: number, rate: number, seconds: number, mode: Mode): Promise<Live> => {
  const key = Keys.main(prefix)
  const sent = rate * seconds
  return Effect.runPromise(
    Effect.gen(function*() {
      const latencies: Array<number> = []
      const done = yield* Deferred.make<void>()
      yield* startOthers(k)
      yield* Consumer.handle(BenchTick, (event) =>
        Effect.suspend(() => {
          latencies.push(Date.now() - event.data.sentAt)
          return latencies.length === sent ? Effect.asVoid(Deferred.succeed(done, undefined)) : Effect.void
        }))
      const start = performance.now()
      yield* Effect.promise(async () => {
        const perTick = rate / 100
        for (let tick = 0; tick < seconds * 100; tick++) {
          const due = start + tick * 10
          const wait = due - performance.now()
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
          const pipeline = admin.pipeline()
          for (let i = 0; i < perTick; i++) pipeline.xadd(key, "*", ...rawEntry(tick * perTick + i))
          await pipeline.exec()
        }
      })
      const stoppedAt = performance.now()
      const handledAtStop = latencies.length
      yield* Deferred.await(done).pipe(Effect.timeout("120 seconds"))
      return { latency: latency(latencies), handledAtStop, sent, tail: (performance.now() - stoppedAt) / 1000 }
    }).pipe(Effect.scoped, Effect.provide(layer(prefix, mode)))
  )
}

/**
 * Starts `n` subscriptions one after another (each `handle` returns once its group exists and
 * its worker runs) and returns the seconds it took. With `backlog`, the first one is started
 * first on a stream holding `backlog` bench events, and drains them meanwhile.
 */
export const startup = async (admin: Redis, prefix: string, n: number, backlog: number, mode: Mode): Promise<number> => {
  const key = Keys.main(prefix)
  const bus = layer(prefix, mode)
  if (backlog > 0) {
    await Effect.runPromise(Effect.scoped(Consumer.handle(BenchTick, () => Effect.void)).pipe(Effect.provide(bus)))
    await prefill(admin, key, backlog)
  }
  return Effect.runPromise(
    Effect.gen(function*() {
      if (backlog > 0) yield* Consumer.handle(BenchTick, () => Effect.void)
      const start = performance.now()
      yield* startOthers(backlog > 0 ? n : n + 1)
      return (performance.now() - start) / 1000
    }).pipe(Effect.scoped, Effect.provide(bus))
  )
}
