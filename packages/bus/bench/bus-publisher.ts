/**
 * Our publisher (child process) on the bus layer. Mode `batch`: `publishBatch` of `batch` items,
 * one batch in flight. Mode `paced`: `publish` awaited one by one at `rate` events/s. With
 * `maxBacklog`, it pauses while the main stream holds more entries than that (long run: keeps
 * Redis memory bounded while the bench trims what the consumer has read).
 */
import { Effect } from "effect"
import { Keys, Publisher } from "../src/index.ts"
import { BenchTick, busLayer, context } from "./bus.ts"
import { checkpoints, childConfig, connect, dueIn, guardChild, payload, releaseChild, send, waitForGo, wallNow } from "./lib.ts"

interface Config {
  readonly prefix: string
  readonly mode: "batch" | "paced"
  readonly count: number
  readonly batch: number
  readonly rate: number
  readonly memoryAt: ReadonlyArray<number>
  readonly maxBacklog: number | undefined
  readonly timeoutMs: number
}

const config = childConfig<Config>()
guardChild(config.timeoutMs)
const redis = config.maxBacklog === undefined ? undefined : await connect("hyvve-bench:flow")
const key = Keys.main(config.prefix)

const program = Effect.gen(function*() {
  const publisher = yield* Publisher.Publisher
  const mem = checkpoints(config.memoryAt)
  send({ kind: "ready" })
  yield* Effect.promise(waitForGo)
  const startWall = wallNow()
  const start = performance.now()
  if (config.mode === "batch") {
    let batches = 0
    for (let sent = 0; sent < config.count;) {
      const n = Math.min(config.batch, config.count - sent)
      const items = new Array<Publisher.Item>(n)
      for (let i = 0; i < n; i++) items[i] = Publisher.item(BenchTick, payload(sent + i), context)
      yield* publisher.publishBatch(items)
      sent += n
      mem.reached(sent)
      if (redis !== undefined && config.maxBacklog !== undefined && ++batches % 20 === 0) {
        // Bounded wait: at most ~60 s per check.
        for (let i = 0; i < 1200 && (yield* Effect.promise(() => redis.xlen(key))) > config.maxBacklog; i++) {
          yield* Effect.sleep("50 millis")
        }
      }
    }
  } else {
    for (let i = 0; i < config.count; i++) {
      const wait = dueIn(start, i, config.rate)
      if (wait > 0) yield* Effect.sleep(wait)
      yield* publisher.publish(BenchTick, payload(i), context)
      mem.reached(i + 1)
    }
  }
  const endWall = wallNow()
  send({ kind: "result", startWall, endWall, memory: mem.report() })
}).pipe(Effect.provide(busLayer(config.prefix, "hyvve-bench-publisher")))

try {
  await Effect.runPromise(program)
  await redis?.quit()
  releaseChild()
} catch (error) {
  process.stderr.write(`bus-publisher failed: ${String(error)}\n`)
  process.exit(1)
}
