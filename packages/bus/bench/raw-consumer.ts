/**
 * Baseline consumer (child process): a hand-written XREADGROUP loop over one ioredis connection.
 * Reads COUNT 500 with BLOCK, parses each envelope with `JSON.parse`, records the latency from the
 * payload's `sentAt` to the moment the entry is handled, and acks each batch with one XACK sent
 * ahead of the next read (one round trip per batch).
 */
import { checkpoints, childConfig, connect, eventField, guardChild, releaseChild, send, wallNow } from "./lib.ts"

interface Config {
  readonly key: string
  readonly group: string
  /** Events to handle before reporting (warm-up included). */
  readonly count: number
  /** Events with `seq` below this are left out of the latencies. */
  readonly warmup: number
  /** Record per-event latencies (paced runs only: the array is the size of the run). */
  readonly latencies: boolean
  /** Event counts at which memory is snapshotted. */
  readonly memoryAt: ReadonlyArray<number>
  readonly timeoutMs: number
}

const config = childConfig<Config>()
let handled = 0
guardChild(config.timeoutMs, () => `handled ${handled} of ${config.count}`)

const redis = await connect("hyvve-bench:raw-consumer")
await redis.call("XGROUP", "CREATE", config.key, config.group, "$", "MKSTREAM")
const mem = checkpoints(config.memoryAt)
send({ kind: "ready" })

const latencies = new Float64Array(config.latencies ? Math.max(0, config.count - config.warmup) : 0)
let recorded = 0
let firstWall = 0
let lastWall = 0
const deadline = Date.now() + config.timeoutMs
let ack: Promise<unknown> | undefined

type Reply = Array<[string, Array<[string, Array<string>]>]> | null

while (handled < config.count && Date.now() < deadline) {
  const reply = (await redis.call(
    "XREADGROUP", "GROUP", config.group, "bench", "COUNT", "500", "BLOCK", "1000", "STREAMS", config.key, ">"
  )) as Reply
  if (reply === null) continue
  const entries = reply[0]![1]
  const ids: Array<string> = new Array(entries.length)
  for (let i = 0; i < entries.length; i++) {
    const [id, fields] = entries[i]!
    ids[i] = id
    const envelope = JSON.parse(eventField(fields)) as { data: { seq: number; sentAt: number } }
    const now = wallNow()
    if (handled === 0) firstWall = now
    lastWall = now
    if (envelope.data.seq >= config.warmup && recorded < latencies.length) latencies[recorded++] = now - envelope.data.sentAt
    handled++
  }
  mem.reached(handled)
  ack = redis.call("XACK", config.key, config.group, ...ids)
}
await ack
const memoryReport = mem.report()
send({
  kind: "result",
  handled,
  firstWall,
  lastWall,
  latencies: Array.from(latencies.subarray(0, recorded)),
  memory: memoryReport
})
await redis.quit()
releaseChild()
