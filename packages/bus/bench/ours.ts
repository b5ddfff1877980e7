/**
 * In-process measurements of the bus: `publishBatch`, paced single `publish`, and draining a
 * pre-filled stream with `Consumer.handle`. Each runs one Effect program on a freshly built bus
 * layer; only the measured loop is timed.
 */
import { Deferred, Effect, Logger } from "effect"
import { Consumer, Publisher, Retry } from "../src/index.ts"
import { BenchTick, busLayer, type Calls, context, countingBusLayer } from "./bus.ts"
import { dueIn, payload } from "./lib.ts"

/** Runs `program` on a fresh bus; with `calls`, every `RedisStream` call is counted there. */
const run = <A, E>(
  prefix: string,
  program: Effect.Effect<A, E, Publisher.Publisher | Consumer.Consumer>,
  calls?: Calls
): Promise<A> =>
  Effect.runPromise(
    calls === undefined ?
      program.pipe(Effect.provide(busLayer(prefix, "hyvve-bench-inproc"))) :
      program.pipe(Effect.provide(countingBusLayer(prefix, "hyvve-bench-inproc", calls)))
  )

/** `publishBatch` of `batch` items, one batch in flight. Returns events/s. */
export const publishBatches = (prefix: string, count: number, batch: number): Promise<number> =>
  run(
    prefix,
    Effect.gen(function*() {
      const publisher = yield* Publisher.Publisher
      const loop = (n: number) =>
        Effect.gen(function*() {
          for (let sent = 0; sent < n;) {
            const size = Math.min(batch, n - sent)
            const items = new Array<Publisher.Item>(size)
            for (let i = 0; i < size; i++) items[i] = Publisher.item(BenchTick, payload(sent + i), context)
            yield* publisher.publishBatch(items)
            sent += size
          }
        })
      yield* loop(Math.min(2000, count)) // warm-up, not timed
      const start = performance.now()
      yield* loop(count)
      return (count * 1000) / (performance.now() - start)
    })
  )

/** `publish` awaited one at a time at `rate` events/s; latency of each call in ms (after `warmup`). */
export const publishPaced = (prefix: string, count: number, warmup: number, rate: number): Promise<Float64Array> =>
  run(
    prefix,
    Effect.gen(function*() {
      const publisher = yield* Publisher.Publisher
      const latencies = new Float64Array(count)
      const start = performance.now()
      for (let i = 0; i < warmup + count; i++) {
        const wait = dueIn(start, i, rate)
        if (wait > 0) yield* Effect.sleep(wait)
        const t0 = performance.now()
        yield* publisher.publish(BenchTick, payload(i), context)
        if (i >= warmup) latencies[i - warmup] = performance.now() - t0
      }
      return latencies
    })
  )

/**
 * Drains `expected` entries already in the bus's main stream with a new group (`startFrom:
 * "all"`) at `concurrency`; the handler only counts. Timed from `handle` to the last handler run;
 * closing the scope afterwards flushes the acks. Returns events/s. With `calls`, the bus's Redis
 * calls are counted there (the acks flushed at shutdown included).
 */
export const drain = (
  prefix: string,
  group: string,
  expected: number,
  concurrency: number,
  options: { readonly idempotent?: boolean; readonly calls?: Calls } = {}
): Promise<number> =>
  run(
    prefix,
    Effect.gen(function*() {
      const done = yield* Deferred.make<void>()
      let handled = 0
      let checksum = 0
      const start = performance.now()
      yield* Consumer.handle(
        BenchTick,
        (event) =>
          Effect.suspend(() => {
            checksum += event.data.seq
            return ++handled === expected ? Effect.asVoid(Deferred.succeed(done, undefined)) : Effect.void
          }),
        { group, concurrency, startFrom: "all", idempotent: options.idempotent === true }
      )
      yield* Deferred.await(done).pipe(Effect.timeout("120 seconds"))
      const elapsed = performance.now() - start
      if (!(checksum >= 0)) return 0
      return (expected * 1000) / elapsed
    }).pipe(Effect.scoped),
    options.calls
  )

/** What the failure path measured. */
export interface FailOnce {
  readonly eps: number
  /** Handler runs that failed (one per event). */
  readonly failed: number
  /** Log lines the bus wrote (counted by a logger that prints nothing). */
  readonly logLines: number
}

/**
 * Drains `expected` entries at concurrency 1 with a handler that fails every event's first
 * attempt and succeeds on the second; the retry policy is one retry after 0 ms. Timed from
 * `handle` to the last successful run. Logs go to a logger that only counts them (the bus logs a
 * warning and an info line per failure; printing 20,000 lines would measure the terminal).
 */
export const failOnce = (prefix: string, group: string, expected: number, calls: Calls): Promise<FailOnce> => {
  let logLines = 0
  const counter = Logger.make(() => {
    logLines++
  })
  return run(
    prefix,
    Effect.gen(function*() {
      const done = yield* Deferred.make<void>()
      let succeeded = 0
      let failed = 0
      const start = performance.now()
      yield* Consumer.handle(
        BenchTick,
        (_event, info) =>
          Effect.suspend(() => {
            if (info.attempt === 1) {
              failed++
              return Effect.fail("first attempt fails" as const)
            }
            return ++succeeded === expected ? Effect.asVoid(Deferred.succeed(done, undefined)) : Effect.void
          }),
        { group, concurrency: 1, startFrom: "all", retry: Retry.delays(["0 millis"]) }
      )
      yield* Deferred.await(done).pipe(Effect.timeout("120 seconds"))
      const elapsed = performance.now() - start
      return { eps: (expected * 1000) / elapsed, failed, logLines }
    }).pipe(Effect.scoped, Effect.provideService(Logger.CurrentLoggers, new Set([counter]))),
    calls
  ).then((result) => ({ ...result, logLines }))
}
