/**
 * In-process baselines: plain ioredis, envelopes encoded inline, no Effect.
 */
import { EventId } from "@hyvve/schema"
import type { Redis } from "ioredis"
import { dueIn, eventField, minIdFor, rawEntry, sleep } from "./lib.ts"

/** Pipelined XADD, `batch` per pipeline, one pipeline in flight. Returns events/s. */
export const xaddBatches = async (redis: Redis, key: string, count: number, batch: number): Promise<number> => {
  const run = async (n: number) => {
    for (let sent = 0; sent < n;) {
      const size = Math.min(batch, n - sent)
      const minId = minIdFor(Date.now())
      const pipeline = redis.pipeline()
      for (let i = 0; i < size; i++) pipeline.xadd(key, "MINID", "~", minId, "*", ...rawEntry(sent + i))
      const replies = await pipeline.exec()
      if (replies === null || replies.some(([error]) => error !== null)) throw new Error("XADD pipeline failed")
      sent += size
    }
  }
  await run(Math.min(2000, count)) // warm-up, not timed
  const start = performance.now()
  await run(count)
  return (count * 1000) / (performance.now() - start)
}

/** One XADD awaited at a time at `rate` events/s; latency of each call in ms (after `warmup`). */
export const xaddPaced = async (redis: Redis, key: string, count: number, warmup: number, rate: number): Promise<Float64Array> => {
  const latencies = new Float64Array(count)
  const start = performance.now()
  for (let i = 0; i < warmup + count; i++) {
    const wait = dueIn(start, i, rate)
    if (wait > 0) await sleep(wait)
    const t0 = performance.now()
    await redis.xadd(key, "MINID", "~", minIdFor(Date.now()), "*", ...rawEntry(i))
    if (i >= warmup) latencies[i - warmup] = performance.now() - t0
  }
  return latencies
}

type Reply = Array<[string, Array<[string, Array<string>]>]> | null

/**
 * Drains `expected` entries of a pre-filled stream through a new group: XREADGROUP COUNT 500,
 * `JSON.parse` of every envelope, one XACK per batch sent ahead of the next read. Returns events/s.
 */
export const readAck = async (redis: Redis, key: string, group: string, expected: number): Promise<number> => {
  await redis.call("XGROUP", "CREATE", key, group, "0")
  let handled = 0
  let checksum = 0
  let ack: Promise<unknown> | undefined
  const start = performance.now()
  for (let round = 0; handled < expected && round < expected; round++) {
    const reply = (await redis.call("XREADGROUP", "GROUP", group, "bench", "COUNT", "500", "STREAMS", key, ">")) as Reply
    if (reply === null) break
    const entries = reply[0]![1]
    if (entries.length === 0) break
    const ids: Array<string> = new Array(entries.length)
    for (let i = 0; i < entries.length; i++) {
      const [id, fields] = entries[i]!
      ids[i] = id
      const envelope = JSON.parse(eventField(fields)) as { data: { seq: number } }
      checksum += envelope.data.seq
      handled++
    }
    ack = redis.call("XACK", key, group, ...ids)
  }
  await ack
  const elapsed = performance.now() - start
  if (handled !== expected || !(checksum >= 0)) throw new Error(`raw drain read ${handled} of ${expected}`)
  return (handled * 1000) / elapsed
}

/** Ids per second of a generator, over `count` ids. */
export const idsPerSecond = (next: () => string, count: number): number => {
  let length = 0
  for (let i = 0; i < Math.min(200, count); i++) length += next().length // warm-up
  const start = performance.now()
  for (let i = 0; i < count; i++) length += next().length
  const elapsed = performance.now() - start
  if (length === 0) throw new Error("empty ids")
  return (count * 1000) / elapsed
}

export const generators = { cuid2: EventId.cuid2.next, uuidv7: EventId.uuidV7.next } as const
