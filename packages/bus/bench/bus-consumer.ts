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
  send({ kind: "ready" })
  yield* Deferred.await(done)
  // Before the latencies are copied into the message.
  const memoryReport = mem.report()
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
