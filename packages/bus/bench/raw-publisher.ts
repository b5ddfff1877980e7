/**
 * Baseline publisher (child process): hand-written ioredis XADDs of bench entries (envelope
 * encoded inline, see `lib.rawEntry`), with the same time-based `MINID ~` trim the bus applies.
 * Mode `batch`: pipelines of `batch` XADDs, one pipeline in flight. Mode `paced`: one XADD
 * awaited at a time, at `rate` events/s.
 */
import type { Redis } from "ioredis"
import { checkpoints, childConfig, connect, dueIn, guardChild, minIdFor, rawEntry, releaseChild, send, sleep, waitForGo, wallNow } from "./lib.ts"

interface Config {
  readonly key: string
  readonly mode: "batch" | "paced"
  readonly count: number
  readonly batch: number
  readonly rate: number
  readonly memoryAt: ReadonlyArray<number>
  readonly timeoutMs: number
}

const config = childConfig<Config>()
guardChild(config.timeoutMs)

const redis: Redis = await connect("hyvve-bench:raw-publisher")
const mem = checkpoints(config.memoryAt)
send({ kind: "ready" })
await waitForGo()
const startWall = wallNow()
const start = performance.now()
if (config.mode === "batch") {
  for (let sent = 0; sent < config.count;) {
    const n = Math.min(config.batch, config.count - sent)
    const minId = minIdFor(Date.now())
    const pipeline = redis.pipeline()
    for (let i = 0; i < n; i++) pipeline.xadd(config.key, "MINID", "~", minId, "*", ...rawEntry(sent + i))
    const replies = await pipeline.exec()
    if (replies === null || replies.some(([error]) => error !== null)) throw new Error("XADD pipeline failed")
    sent += n
    mem.reached(sent)
  }
} else {
  for (let i = 0; i < config.count; i++) {
    const wait = dueIn(start, i, config.rate)
    if (wait > 0) await sleep(wait)
    await redis.xadd(config.key, "MINID", "~", minIdFor(Date.now()), "*", ...rawEntry(i))
  }
}
const endWall = wallNow()
send({ kind: "result", startWall, endWall, memory: mem.report() })
await redis.quit()
releaseChild()
