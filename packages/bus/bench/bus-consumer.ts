import { appendFileSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
const session = new Session(); session.connect()
if (process.env["HEAP_PROF"]) await session.post("HeapProfiler.startSampling", { samplingInterval: 4096, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true })
/**
 * Our consumer (child process): `Consumer.handle(BenchTick, handler, { group, concurrency })` on
 * the bus layer. The handler records the latency from the payload's `sentAt` to its own start and
 * counts; the bus acks. Reports once `count` events were handled, then closes the scope (drain,
 * flush acks, disconnect).
 */
import { Deferred, Effect } from "effect"
import { Consumer } from "../src/index.ts"
import { BenchTick, busLayer } from "./bus.ts"
import { checkpoints, childConfig, guardChild, releaseChild, send, wallNow } from "./lib.ts"

interface Config {
  readonly prefix: string
  readonly group: string
  readonly concurrency: number
  readonly count: number
  readonly warmup: number
  /** Record per-event latencies (paced runs only: the array is the size of the run). */
  readonly latencies: boolean
  readonly memoryAt: ReadonlyArray<number>
  readonly timeoutMs: number
}

import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"
const eld = monitorEventLoopDelay({ resolution: 1 }); eld.enable()
const gcs: number[] = []
new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push(e.duration); for (const e of l.getEntries()) appendFileSync("/tmp/eld.txt", `gc at ${e.startTime.toFixed(0)} kind ${(e as any).detail?.kind} ${e.duration.toFixed(1)} ms\n`) }).observe({ entryTypes: ["gc"] })
const config = childConfig<Config>()
let handled = 0
guardChild(config.timeoutMs, () => `handled ${handled} of ${config.count}`)

const program = Effect.gen(function*() {
  const done = yield* Deferred.make<void>()
  const latencies = new Float64Array(config.latencies ? Math.max(0, config.count - config.warmup) : 0)
  let recorded = 0
  let firstWall = 0
  let lastWall = 0
  const mem = checkpoints(config.memoryAt)

  yield* Consumer.handle(
    BenchTick,
    (event) =>
      Effect.suspend(() => {
        const now = wallNow()
        if (handled === 0) firstWall = now
        lastWall = now
        if (event.data.seq >= config.warmup && recorded < latencies.length) latencies[recorded++] = now - event.data.sentAt
        handled++
        mem.reached(handled)
        return handled === config.count ? Effect.asVoid(Deferred.succeed(done, undefined)) : Effect.void
      }),
    { group: config.group, concurrency: config.concurrency }
  )
  appendFileSync("/tmp/eld.txt", `ready at ${performance.now().toFixed(0)}\n`)
  send({ kind: "ready" })
  yield* Deferred.await(done)
  // Before the latencies are copied into the message.
  const memoryReport = mem.report()
  if (process.env["HEAP_PROF"]) yield* Effect.promise(async () => { const { profile } = await session.post("HeapProfiler.stopSampling"); writeFileSync("/tmp/heap.json", JSON.stringify(profile)) })
  gcs.sort((a, b) => b - a)
  appendFileSync("/tmp/eld.txt", `ELD p50 ${eld.percentile(50) / 1e6} p99 ${eld.percentile(99) / 1e6} max ${eld.max / 1e6}; gc n=${gcs.length} top ${gcs.slice(0, 5).map((g) => g.toFixed(1)).join(",")} sum ${gcs.reduce((a, b) => a + b, 0).toFixed(0)}\n`)
  send({
    kind: "result",
    handled,
    firstWall,
    lastWall,
    latencies: Array.from(latencies.subarray(0, recorded)),
    memory: memoryReport
  })
}).pipe(Effect.scoped, Effect.provide(busLayer(config.prefix, "hyvve-bench-consumer")))

try {
  await Effect.runPromise(program)
  releaseChild()
} catch (error) {
  process.stderr.write(`bus-consumer failed: ${String(error)}\n`)
  process.exit(1)
}
