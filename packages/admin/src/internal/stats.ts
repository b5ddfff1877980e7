/**
 * Reads the numbers of `GET /admin/events/stats` from Redis: the streams' info (every stream of
 * the topology, added up), their groups
 * with their consumers and oldest pending entry, and the throughput counted from entry ids (a
 * stream entry id starts with its millisecond timestamp), newest first so a bound on the scan
 * only ever drops the oldest part of the 24-hour window.
 */
import { BusConfig, Groups, RedisStream, Topology } from "@hyvve/bus"
import { Clock, Effect } from "effect"
import { Stats } from "../AdminApi.ts"

const minute = 60_000
const hour = 60 * minute
const day = 24 * hour
/** The most entries one stats call reads to count throughput; beyond it the 24-hour count is a floor. */
export const scanBound = 50_000
export const batch = 1000

export const millisOf = (id: string): number => Number(id.slice(0, id.indexOf("-")))

// The greatest id below `id` (an inclusive bound for the next, older batch).
const previousId = (id: string): string => {
  const dash = id.indexOf("-")
  const seq = BigInt(id.slice(dash + 1))
  return seq > 0n ? `${id.slice(0, dash)}-${seq - 1n}` : `${millisOf(id) - 1}-18446744073709551615`
}

const iso = (id: string | undefined) => (id === undefined ? undefined : new Date(millisOf(id)).toISOString())

const throughput = (
  redis: RedisStream.RedisStream["Service"],
  key: string,
  now: number,
  length: number,
  firstId: string | undefined,
  bound: number
) =>
  Effect.gen(function*() {
    const perMinute = Array.from({ length: 60 }, () => 0)
    let lastMinute = 0
    let lastHour = 0
    let last24h = 0
    let scanned = 0
    let end = "+"
    let capped = false
    while (true) {
      const entries = yield* redis.range({ key, start: `${now - day}-0`, end, count: batch, reverse: true })
      for (const entry of entries) {
        const at = millisOf(entry.id)
        const age = now - at
        last24h++
        if (age < hour) {
          lastHour++
          const bucket = 59 - Math.floor(Math.max(0, age) / minute)
          perMinute[bucket] = (perMinute[bucket] ?? 0) + 1
        }
        if (age < minute) lastMinute++
      }
      scanned += entries.length
      if (entries.length < batch) break
      if (scanned >= bound) {
        capped = true
        break
      }
      end = previousId(entries[entries.length - 1]!.id)
    }
    // The whole stream is younger than a day: its length is the day's exact count (the shorter
    // windows stay floors: `exact` is false).
    if (capped && firstId !== undefined && now - millisOf(firstId) < day) last24h = length
    return { lastMinute, lastHour, last24h, exact: !capped, perMinute }
  })

export const read = (
  redis: RedisStream.RedisStream["Service"],
  settings: BusConfig.BusSettings,
  dlqSize: number,
  bound: number = scanBound
) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    // Every stream of the topology (see `Topology`): the numbers add up, the throughput scan's
    // bound is shared between them.
    const streams = yield* Groups.streams().pipe(
      Effect.provideService(RedisStream.RedisStream, redis),
      Effect.provideService(BusConfig.BusConfig, settings)
    )
    const perStream = yield* Effect.forEach(streams, (stream) =>
      readStream(redis, stream.key, now, Math.max(batch, Math.floor(bound / streams.length))))
    const groups = new Map<string, Mutable<GroupStats>>()
    for (const { groups: ofStream } of perStream) {
      for (const group of ofStream) {
        const seen = groups.get(group.name)
        if (seen === undefined) {
          groups.set(group.name, { ...group, consumers: [...group.consumers] })
          continue
        }
        seen.pending += group.pending
        // Unknown on one stream: unknown in all.
        if (seen.lag === undefined || group.lag === undefined) delete seen.lag
        else seen.lag += group.lag
        if (group.oldestPendingAgeMs !== undefined) {
          seen.oldestPendingAgeMs = Math.max(seen.oldestPendingAgeMs ?? 0, group.oldestPendingAgeMs)
        }
        if (RedisStream.compareEntryIds(group.lastDeliveredId, seen.lastDeliveredId) > 0) seen.lastDeliveredId = group.lastDeliveredId
        for (const consumer of group.consumers) {
          const same = seen.consumers.findIndex((c) => c.name === consumer.name)
          const before = seen.consumers[same]
          if (before === undefined) seen.consumers.push(consumer)
          else {
            seen.consumers[same] = {
              name: consumer.name,
              pending: before.pending + consumer.pending,
              idleMs: Math.min(before.idleMs, consumer.idleMs)
            }
          }
        }
      }
    }
    const firstIds = perStream.flatMap((s) => (s.firstId === undefined ? [] : [s.firstId]))
    const lastIds = perStream.flatMap((s) => (s.lastId === undefined ? [] : [s.lastId]))
    const firstId = firstIds.sort((a, b) => RedisStream.compareEntryIds(a, b))[0]
    const lastId = lastIds.sort((a, b) => RedisStream.compareEntryIds(b, a))[0]
    const rates = perStream.map((s) => s.rate)
    const rate = {
      lastMinute: sum(rates.map((r) => r.lastMinute)),
      lastHour: sum(rates.map((r) => r.lastHour)),
      last24h: sum(rates.map((r) => r.last24h)),
      exact: rates.every((r) => r.exact),
      perMinute: Array.from({ length: 60 }, (_, i) => sum(rates.map((r) => r.perMinute[i] ?? 0)))
    }
    const percent = (dlqSize / settings.dlqMaxLength) * 100
    return new Stats({
      at: new Date(now).toISOString(),
      stream: {
        key: streams.length === 1 ? streams[0]!.key : Topology.format(settings.topology),
        length: sum(perStream.map((s) => s.length)),
        ...(firstId === undefined ? {} : { firstEntryId: firstId, firstEntryAt: iso(firstId)! }),
        ...(lastId === undefined ? {} : { lastEntryId: lastId, lastEntryAt: iso(lastId)! })
      },
      throughput: rate,
      groups: Array.from(groups.values()),
      dlq: { size: dlqSize, maxLength: settings.dlqMaxLength, percent, nearLimit: percent >= 80 }
    })
  })

interface GroupStats {
  readonly name: string
  readonly lag?: number
  readonly pending: number
  readonly oldestPendingAgeMs?: number
  readonly lastDeliveredId: string
  readonly consumers: Array<{ readonly name: string; readonly pending: number; readonly idleMs: number }>
}

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

const sum = (values: ReadonlyArray<number>): number => values.reduce((a, b) => a + b, 0)

// One stream's info, groups (with consumers and oldest pending entry) and throughput.
const readStream = (redis: RedisStream.RedisStream["Service"], key: string, now: number, bound: number) =>
  Effect.gen(function*() {
    const info = yield* redis.info(key)
    const groups = info === undefined ? [] : yield* redis.groups(key)
    const groupStats = yield* Effect.forEach(groups, (group) =>
      Effect.gen(function*() {
        const consumers = yield* Effect.orElseSucceed(redis.consumers(key, group.name), () => [])
        const pending = group.pending > 0 ? yield* Effect.option(redis.pendingSummary(key, group.name)) : undefined
        const minId = pending?._tag === "Some" ? pending.value.minId : undefined
        return {
          name: group.name,
          ...(group.lag === undefined ? {} : { lag: group.lag }),
          pending: group.pending,
          ...(minId === undefined ? {} : { oldestPendingAgeMs: Math.max(0, now - millisOf(minId)) }),
          lastDeliveredId: group.lastDeliveredId,
          consumers: consumers.map((c) => ({ name: c.name, pending: c.pending, idleMs: c.idleMs }))
        } satisfies GroupStats
      }))
    const length = info?.length ?? 0
    const firstId = info?.firstEntry?.id
    const lastId = info?.lastEntry?.id
    const rate = yield* throughput(redis, key, now, length, firstId, bound)
    return { length, firstId, lastId, groups: groupStats, rate }
  })
