/**
 * The dead-letter queue: a stream (`Keys.dlq` in the `single` layout; one per stream, `<stream>:dlq`,
 * in tagged layouts, see `Topology`) of entries a group gave up on, each with the
 * original event (raw when it could not be decoded), the error, the group, attempts and times.
 * The settlement writes them (atomically with the entry's XACK, see `Consumer`), in the layout
 * the NestJS bus's dashboard reads (`event`, `error`, `movedAt` first); this service lets
 * operators work with them.
 *
 * Retention is by time (90 days by default); the configured maximum length is an alarm, never a
 * silent drop: at 80 % a warning is logged and counted, at 100 % an error. Operators list (cursor
 * pages, filters), inspect, re-drive to the failed group only, delete and purge. Entries the
 * NestJS bus wrote (`event`, `error`, `movedAt` only) are listed, counted and purged too; they do
 * not say which group failed, so re-driving one names the group (`retry(id, { group })`).
 *
 * With several DLQs (tagged layouts, or a migration) this service reads across them: pages are in
 * (entry id, stream) order, entry ids are `<stream name>:<id>` (plain stream ids with one DLQ, as
 * in 0.1; always composite under `family`, whose DLQs include those of the streams the stream
 * registry records, see `Topology.registryKey`), and an entry is re-driven into its own stream's redeliver stream, so the append and the
 * removal stay one step on one hash tag. The maximum length applies to each DLQ (the settlement
 * warns per DLQ); `stats` and `size` add them up.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as Metrics from "./Metrics.ts"
import * as RedisStream from "./RedisStream.ts"
import * as Retry from "./Retry.ts"
import * as Topology from "./Topology.ts"
import * as DlqLayout from "./internal/dlqEntry.ts"
import { indexField } from "./internal/indexField.ts"
import * as StreamRegistry from "./internal/streamRegistry.ts"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * One dead-lettered entry.
 *
 * @category models
 * @since 0.1.0
 */
export class DlqEntry extends Schema.Class<DlqEntry>("@hyvve/bus/Dlq/DlqEntry")({
  /** The entry's id in the DLQ stream. */
  id: Schema.String,
  /** `"hyvve"` for entries this bus wrote, `"nestjs"` for entries the NestJS bus wrote. */
  origin: Schema.Literals(["hyvve", "nestjs"]),
  /** The event type, when the entry named one. */
  type: Schema.optionalKey(Schema.String),
  tenantId: Schema.optionalKey(Schema.String),
  /** The event id, when the envelope could be read. */
  eventId: Schema.optionalKey(Schema.String),
  /** The group whose handler gave up (absent on entries the NestJS bus wrote). */
  group: Schema.optionalKey(Schema.String),
  /** The stream the entry was read from, and its id there. */
  stream: Schema.optionalKey(Schema.String),
  originalEntryId: Schema.optionalKey(Schema.String),
  /** The envelope JSON as published, or the raw entry fields as JSON when it had no envelope. */
  event: Schema.String,
  error: Retry.FailureInfo,
  attempts: Schema.optionalKey(Schema.Int),
  firstFailedAt: Schema.optionalKey(Schema.String),
  lastFailedAt: Schema.optionalKey(Schema.String),
  movedAt: Schema.String
}) {}

/**
 * Selects DLQ entries; every given field must match.
 *
 * @category models
 * @since 0.1.0
 */
export interface Filter {
  readonly type?: string | undefined
  readonly group?: string | undefined
  readonly tenantId?: string | undefined
}

/**
 * One page of entries, oldest first; pass `next` as `cursor` for the following page (absent on
 * the last page).
 *
 * @category models
 * @since 0.1.0
 */
export interface Page {
  readonly entries: ReadonlyArray<DlqEntry>
  readonly next: string | undefined
}

/**
 * Size and composition of the DLQ.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stats {
  readonly size: number
  readonly maxLength: number
  /** `size / maxLength`; a warning is raised from 0.8. */
  readonly usage: number
  readonly byType: Readonly<Record<string, number>>
  readonly byGroup: Readonly<Record<string, number>>
  readonly oldest: string | undefined
  readonly newest: string | undefined
}

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/**
 * No DLQ entry has this id.
 *
 * @category errors
 * @since 0.1.0
 */
export class DlqEntryNotFound extends Schema.TaggedError<DlqEntryNotFound>("@hyvve/bus/Dlq/DlqEntryNotFound")(
  "DlqEntryNotFound",
  { id: Schema.String }
) {
  override get message(): string {
    return `No DLQ entry with id ${this.id}`
  }
}

/**
 * The entry does not say which group failed it (the NestJS bus wrote it): re-driving it needs
 * `retry(id, { group })`.
 *
 * @category errors
 * @since 0.2.0
 */
export class DlqGroupRequired extends Schema.TaggedError<DlqGroupRequired>("@hyvve/bus/Dlq/DlqGroupRequired")(
  "DlqGroupRequired",
  { id: Schema.String }
) {
  override get message(): string {
    return `DLQ entry ${this.id} names no group (the NestJS bus wrote it): retry it with { group }`
  }
}

// ---------------------------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------------------------

/**
 * Moves entries to the DLQ and lets operators work with them.
 *
 * @category services
 * @since 0.1.0
 */
export class Dlq extends Context.Service<
  Dlq,
  {
    /** A page of entries matching `filter`, oldest first, after `cursor`. `limit` defaults to 50. */
    readonly list: (options?: {
      readonly filter?: Filter | undefined
      readonly cursor?: string | undefined
      readonly limit?: number | undefined
    }) => Effect.Effect<Page, RedisStream.RedisStreamError>
    /** One entry by DLQ id. */
    readonly get: (id: string) => Effect.Effect<Option.Option<DlqEntry>, RedisStream.RedisStreamError>
    /**
     * Re-delivers an entry to the group that failed it (only that group; `group` names it for
     * entries that do not say), as a first attempt, and removes it from the DLQ. Returns the new
     * delivery's entry id.
     */
    readonly retry: (
      id: string,
      options?: { readonly group?: string | undefined }
    ) => Effect.Effect<string, RedisStream.RedisStreamError | DlqEntryNotFound | DlqGroupRequired>
    /**
     * Re-drives every entry matching `filter`; returns how many. Entries that name no group are
     * re-driven to `group` when given, else left in place.
     */
    readonly retryAll: (
      filter?: Filter,
      options?: { readonly group?: string | undefined }
    ) => Effect.Effect<number, RedisStream.RedisStreamError>
    /** Deletes one entry; false when it was not there. */
    readonly delete: (id: string) => Effect.Effect<boolean, RedisStream.RedisStreamError>
    /** Deletes every entry matching `filter` (all when empty); returns how many. */
    readonly purge: (filter?: Filter) => Effect.Effect<number, RedisStream.RedisStreamError>
    /** Number of entries. */
    readonly size: Effect.Effect<number, RedisStream.RedisStreamError>
    /** Size, usage against the maximum, and counts by type and group. */
    readonly stats: Effect.Effect<Stats, RedisStream.RedisStreamError>
  }
>()("@hyvve/bus/Dlq") {}

/**
 * Creates the DLQ service over `RedisStream`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<Dlq["Service"], never, RedisStream.RedisStream | BusConfig.BusConfig> = Effect.gen(
  function*() {
    const redis = yield* RedisStream.RedisStream
    const settings = yield* BusConfig.BusConfig
    // One DLQ per stream in tagged layouts (a dead-letter step touches one hash tag), the one
    // `<prefix>:events:dlq` in `single`; during a migration the previous layout's too.
    const queuesOf = (streams: ReadonlyArray<Topology.StreamKeys>): ReadonlyArray<Queue> =>
      Array.from(new Map(streams.map((stream) => [stream.dlq, { key: stream.dlq, stream }])).values())
    const layout = Topology.of(settings)
    const known = queuesOf(Topology.allStreams(settings))
    // Under `family`, the DLQs of streams other catalogs publish to too (the stream registry).
    const queuesNow = layout.open ? Effect.map(StreamRegistry.all(redis, settings), queuesOf) : Effect.succeed(known)
    // With one DLQ, entry ids are its stream ids (as in 0.1); with several (or under `family`,
    // where more can appear), `<stream name>:<id>`.
    const composite = known.length > 1 || layout.open
    const idOf = (queue: Queue, entryId: string) => composite ? `${queue.stream.name}:${entryId}` : entryId
    const locate = (id: string): { readonly queue: Queue; readonly entryId: string } | undefined => {
      if (!composite) return known[0] === undefined ? undefined : { queue: known[0], entryId: id }
      const colon = id.lastIndexOf(":")
      if (colon === -1) return undefined
      const name = id.slice(0, colon)
      const stream = known.find((q) => q.stream.name === name)?.stream ?? layout.named(name)
      return stream === undefined ? undefined : { queue: { key: stream.dlq, stream }, entryId: id.slice(colon + 1) }
    }
    const decodeEntry = Schema.decodeUnknownOption(DlqEntry)

    const toEntry = (queue: Queue, raw: RedisStream.Entry): DlqEntry | undefined => {
      const letter = DlqLayout.decode(raw)
      if (letter === undefined) return undefined
      const present: Record<string, unknown> = {}
      for (const [field, value] of Object.entries(letter)) if (value !== undefined) present[field] = value
      present["id"] = idOf(queue, raw.id)
      return Option.getOrUndefined(decodeEntry(present))
    }

    const matches = (entry: DlqEntry, filter: Filter | undefined) =>
      filter === undefined ||
      ((filter.type === undefined || entry.type === filter.type) &&
        (filter.group === undefined || entry.group === filter.group) &&
        // Compared in the one encoding the fields are written in (see internal/indexField.ts).
        (filter.tenantId === undefined || entry.tenantId === indexField(filter.tenantId)))

    const scanBatch = 500

    /** Up to `limit` matching entries of one DLQ from `start` on, in id order. */
    const scan = Effect.fnUntraced(function*(queue: Queue, start: string, limit: number, filter: Filter | undefined) {
      const out: Array<{ readonly entryId: string; readonly entry: DlqEntry }> = []
      while (true) {
        const batch = yield* redis.range({ key: queue.key, start, end: "+", count: scanBatch })
        for (const raw of batch) {
          const entry = toEntry(queue, raw)
          if (entry !== undefined && matches(entry, filter)) {
            out.push({ entryId: raw.id, entry })
            if (out.length === limit) return out
          }
        }
        if (batch.length < scanBatch) return out
        start = RedisStream.nextEntryId(batch[batch.length - 1]!.id)
      }
    })

    // Pages are in (entry id, stream name) order over every DLQ: each DLQ gives its next `limit`
    // matches after the cursor, and the page takes the first `limit` of them merged.
    const list = Effect.fnUntraced(function*(options?: {
      readonly filter?: Filter | undefined
      readonly cursor?: string | undefined
      readonly limit?: number | undefined
    }) {
      const limit = Math.max(1, Math.min(options?.limit ?? 50, 1000))
      const cursor = options?.cursor === undefined ? undefined : locate(options.cursor)
      if (options?.cursor !== undefined && cursor === undefined) return { entries: [], next: undefined } satisfies Page
      const found: Array<{ readonly entryId: string; readonly name: string; readonly entry: DlqEntry }> = []
      let more = false
      for (const queue of yield* queuesNow) {
        const start = cursor === undefined ?
          "-" :
          queue.stream.name > cursor.queue.stream.name ?
          cursor.entryId :
          RedisStream.nextEntryId(cursor.entryId)
        const got = yield* scan(queue, start, limit, options?.filter)
        if (got.length === limit) more = true
        for (const one of got) found.push({ ...one, name: queue.stream.name })
      }
      found.sort((a, b) => RedisStream.compareEntryIds(a.entryId, b.entryId) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      const entries = found.slice(0, limit).map((one) => one.entry)
      const next = found.length > limit || more ? entries[entries.length - 1]?.id : undefined
      return { entries, next } satisfies Page
    })

    // Every entry matching a filter, DLQ by DLQ, scanned in batches so a large DLQ is never read at once.
    const forEachMatching = <E>(filter: Filter | undefined, f: (queue: Queue, entry: DlqEntry, entryId: string) => Effect.Effect<void, E>) =>
      Effect.flatMap(queuesNow, (queues) => Effect.forEach(queues, (queue) =>
        Effect.gen(function*() {
          let start = "-"
          while (true) {
            const batch = yield* redis.range({ key: queue.key, start, end: "+", count: scanBatch })
            for (const raw of batch) {
              const entry = toEntry(queue, raw)
              if (entry !== undefined && matches(entry, filter)) yield* f(queue, entry, raw.id)
            }
            if (batch.length < scanBatch) return
            start = RedisStream.nextEntryId(batch[batch.length - 1]!.id)
          }
        }), { discard: true }))

    const get = (id: string) => {
      const at = locate(id)
      if (at === undefined) return Effect.succeed(Option.none<DlqEntry>())
      return Effect.map(redis.range({ key: at.queue.key, start: at.entryId, end: at.entryId, count: 1 }), (entries) =>
        Option.fromUndefinedOr(entries[0] === undefined ? undefined : toEntry(at.queue, entries[0])))
    }

    // Re-driven into the redeliver stream of the stream whose DLQ holds the entry: same hash tag,
    // so the append and the removal are one step.
    const redrive = Effect.fnUntraced(function*(queue: Queue, entryId: string, entry: DlqEntry, group: string) {
      const target = queue.stream.redeliver(group)
      yield* redis.createGroup(target, group, "0")
      // The event first, as every appended entry (the NestJS consumer parses `fields[1]`).
      const fields: Record<string, string> = { event: entry.event }
      if (entry.type !== undefined) fields["type"] = entry.type
      if (entry.tenantId !== undefined) fields["tenant"] = entry.tenantId
      const [newId] = yield* redis.transaction([
        // The event byte for byte, as the DLQ keeps it.
        { _tag: "XAdd", key: target, fields, copyFrom: { key: queue.key, id: entryId, fields: ["event"] } },
        { _tag: "XDel", key: queue.key, ids: [entryId] }
      ])
      yield* Effect.logInfo("DLQ entry re-driven").pipe(
        Effect.annotateLogs({ dlqId: entry.id, group, newEntryId: newId, type: entry.type })
      )
      return String(newId)
    })

    const retryOne = Effect.fnUntraced(function*(id: string, options?: { readonly group?: string | undefined }) {
      const at = locate(id)
      const entry = yield* get(id)
      if (at === undefined || Option.isNone(entry)) return yield* new DlqEntryNotFound({ id })
      const group = entry.value.group ?? options?.group
      if (group === undefined) return yield* new DlqGroupRequired({ id })
      return yield* redrive(at.queue, at.entryId, entry.value, group)
    })

    const retryAll = (filter?: Filter, options?: { readonly group?: string | undefined }) =>
      Effect.gen(function*() {
        let count = 0
        yield* forEachMatching(filter, (queue, entry, entryId) => {
          const group = entry.group ?? options?.group
          if (group === undefined) return Effect.void
          return Effect.map(redrive(queue, entryId, entry, group), () => {
            count++
          })
        })
        return count
      })

    const size = Effect.map(
      Effect.flatMap(queuesNow, (queues) => Effect.forEach(queues, (queue) => redis.length(queue.key))),
      (sizes) => sizes.reduce((a, b) => a + b, 0)
    )

    const purge = (filter?: Filter) =>
      Effect.gen(function*() {
        let count = 0
        yield* forEachMatching(filter, (queue, _entry, entryId) =>
          Effect.map(redis.delete(queue.key, [entryId]), (deleted) => {
            count += deleted
          }))
        yield* Metrics.dlqLength(yield* size)
        return count
      })

    const stats = Effect.gen(function*() {
      const byType: Record<string, number> = {}
      const byGroup: Record<string, number> = {}
      let total = 0
      let oldest: string | undefined
      let newest: string | undefined
      yield* forEachMatching(undefined, (_queue, entry) =>
        Effect.sync(() => {
          total++
          if (oldest === undefined || entry.movedAt < oldest) oldest = entry.movedAt
          if (newest === undefined || entry.movedAt > newest) newest = entry.movedAt
          const type = entry.type ?? "(unknown)"
          byType[type] = (byType[type] ?? 0) + 1
          const group = entry.group ?? "(unknown)"
          byGroup[group] = (byGroup[group] ?? 0) + 1
        }))
      return {
        size: total,
        maxLength: settings.dlqMaxLength,
        usage: total / settings.dlqMaxLength,
        byType,
        byGroup,
        oldest,
        newest
      } satisfies Stats
    })

    const deleteOne = (id: string) => {
      const at = locate(id)
      return at === undefined ? Effect.succeed(false) : Effect.map(redis.delete(at.queue.key, [at.entryId]), (n) => n > 0)
    }

    return Dlq.of({ list, get, retry: retryOne, retryAll, delete: deleteOne, purge, size, stats })
  }
)

// One DLQ stream and the stream it belongs to.
interface Queue {
  readonly key: string
  readonly stream: Topology.StreamKeys
}

/**
 * Provides the DLQ service; needs `RedisStream` and `BusConfig`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Dlq, never, RedisStream.RedisStream | BusConfig.BusConfig> = Layer.effect(Dlq, make)
