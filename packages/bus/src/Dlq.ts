/**
 * The dead-letter queue: a stream (`Keys.dlq`) of entries a group gave up on, each with the
 * original event (raw when it could not be decoded), the error, the group, attempts and times.
 *
 * Moving an entry here is atomic with acknowledging it in its group (one `MULTI`): it is in the
 * DLQ and acked, or neither. Retention is by time (90 days by default); the configured maximum
 * length is an alarm, never a silent drop: at 80 % a warning is logged and counted, at 100 % an
 * error. Operators list (cursor pages, filters), inspect, re-drive to the failed group only,
 * delete and purge.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Layer, Option, Schema } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as Keys from "./Keys.ts"
import * as Metrics from "./Metrics.ts"
import * as RedisStream from "./RedisStream.ts"
import * as Retry from "./Retry.ts"

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
  /** The event type, when the entry named one. */
  type: Schema.optionalKey(Schema.String),
  tenantId: Schema.optionalKey(Schema.String),
  /** The event id, when the envelope could be read. */
  eventId: Schema.optionalKey(Schema.String),
  /** The group whose handler gave up. */
  group: Schema.String,
  /** The stream the entry was read from, and its id there. */
  stream: Schema.String,
  originalEntryId: Schema.String,
  /** The envelope JSON as published, or the raw entry fields as JSON when it had no envelope. */
  event: Schema.String,
  error: Retry.FailureInfo,
  attempts: Schema.Int,
  firstFailedAt: Schema.String,
  lastFailedAt: Schema.String,
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

/**
 * What to dead-letter: an entry of `stream` pending in `group`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Move {
  readonly stream: string
  readonly group: string
  readonly entry: RedisStream.Entry
  readonly eventId?: string | undefined
  readonly attempts: number
  readonly error: Retry.FailureInfo
  readonly firstFailedAt: number
  readonly lastFailedAt: number
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
    /** Moves an entry to the DLQ and acks it in its group, atomically. Returns the DLQ id. */
    readonly move: (move: Move) => Effect.Effect<string, RedisStream.RedisStreamError>
    /** A page of entries matching `filter`, oldest first, after `cursor`. `limit` defaults to 50. */
    readonly list: (options?: {
      readonly filter?: Filter | undefined
      readonly cursor?: string | undefined
      readonly limit?: number | undefined
    }) => Effect.Effect<Page, RedisStream.RedisStreamError>
    /** One entry by DLQ id. */
    readonly get: (id: string) => Effect.Effect<Option.Option<DlqEntry>, RedisStream.RedisStreamError>
    /**
     * Re-delivers an entry to the group that failed it (only that group), as a first attempt,
     * and removes it from the DLQ. Returns the new delivery's entry id.
     */
    readonly retry: (id: string) => Effect.Effect<string, RedisStream.RedisStreamError | DlqEntryNotFound>
    /** Re-drives every entry matching `filter`; returns how many. */
    readonly retryAll: (filter?: Filter) => Effect.Effect<number, RedisStream.RedisStreamError>
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
export const make: Effect.Effect<Dlq["Service"], never, RedisStream.RedisStream | BusConfig.BusConfig | Retry.Retry> =
  Effect.gen(function*() {
    const redis = yield* RedisStream.RedisStream
    const settings = yield* BusConfig.BusConfig
    const retry = yield* Retry.Retry
    const key = Keys.dlq(settings.prefix)
    const retentionMs = Duration.toMillis(settings.dlqRetention)
    const decodeEntry = Schema.decodeUnknownOption(DlqEntry)

    const checkLimit = Effect.gen(function*() {
      const size = yield* redis.length(key)
      yield* Metrics.dlqLength(size)
      const usage = size / settings.dlqMaxLength
      if (usage >= 1) {
        yield* Metrics.dlqWarning
        yield* Effect.logError("DLQ at or over its maximum length: entries are kept, act now").pipe(
          Effect.annotateLogs({ size, maxLength: settings.dlqMaxLength })
        )
      } else if (usage >= 0.8) {
        yield* Metrics.dlqWarning
        yield* Effect.logWarning("DLQ near its maximum length").pipe(
          Effect.annotateLogs({ size, maxLength: settings.dlqMaxLength, usage: Math.round(usage * 100) / 100 })
        )
      }
    })

    const move = Effect.fnUntraced(function*(move: Move) {
      const now = yield* Clock.currentTimeMillis
      const fields = move.entry.fields
      const dlqFields: Record<string, string> = {
        group: move.group,
        stream: move.stream,
        originalEntryId: move.entry.id,
        event: fields["event"] ?? JSON.stringify(fields),
        error: JSON.stringify(move.error),
        attempts: String(move.attempts),
        firstFailedAt: iso(move.firstFailedAt),
        lastFailedAt: iso(move.lastFailedAt),
        movedAt: iso(now)
      }
      if (fields["type"] !== undefined) dlqFields["type"] = fields["type"]
      if (fields["tenant"] !== undefined) dlqFields["tenantId"] = fields["tenant"]
      if (move.eventId !== undefined) dlqFields["eventId"] = move.eventId
      const [dlqId] = yield* redis.transaction([
        { _tag: "XAdd", key, fields: dlqFields, trim: { minId: `${Math.max(0, now - retentionMs)}-0` } },
        { _tag: "XAck", key: move.stream, group: move.group, ids: [move.entry.id] },
        ...retry.clearCommands(move.stream, move.group, [move.entry.id])
      ])
      yield* Metrics.deadLettered(move.group)
      yield* Effect.logWarning("dead-lettered").pipe(
        Effect.annotateLogs({
          group: move.group,
          entryId: move.entry.id,
          eventId: move.eventId,
          type: fields["type"],
          attempts: move.attempts,
          error: move.error.tag
        })
      )
      yield* checkLimit
      return String(dlqId)
    })

    const toEntry = (entry: RedisStream.Entry): DlqEntry | undefined => {
      const f = entry.fields
      const error = Option.getOrUndefined(Schema.decodeUnknownOption(Schema.fromJsonString(Retry.FailureInfo))(f["error"] ?? ""))
      if (error === undefined) return undefined
      return Option.getOrUndefined(
        decodeEntry({
          id: entry.id,
          ...(f["type"] === undefined ? {} : { type: f["type"] }),
          ...(f["tenantId"] === undefined ? {} : { tenantId: f["tenantId"] }),
          ...(f["eventId"] === undefined ? {} : { eventId: f["eventId"] }),
          group: f["group"],
          stream: f["stream"],
          originalEntryId: f["originalEntryId"],
          event: f["event"],
          error,
          attempts: Number(f["attempts"]),
          firstFailedAt: f["firstFailedAt"],
          lastFailedAt: f["lastFailedAt"],
          movedAt: f["movedAt"]
        })
      )
    }

    const matches = (entry: DlqEntry, filter: Filter | undefined) =>
      filter === undefined ||
      ((filter.type === undefined || entry.type === filter.type) &&
        (filter.group === undefined || entry.group === filter.group) &&
        (filter.tenantId === undefined || entry.tenantId === filter.tenantId))

    const scanBatch = 500

    const list = Effect.fnUntraced(function*(options?: {
      readonly filter?: Filter | undefined
      readonly cursor?: string | undefined
      readonly limit?: number | undefined
    }) {
      const limit = Math.max(1, Math.min(options?.limit ?? 50, 1000))
      const out: Array<DlqEntry> = []
      let start = options?.cursor === undefined ? "-" : RedisStream.nextEntryId(options.cursor)
      while (out.length < limit) {
        const batch = yield* redis.range({ key, start, end: "+", count: scanBatch })
        for (const raw of batch) {
          const entry = toEntry(raw)
          if (entry !== undefined && matches(entry, options?.filter)) {
            out.push(entry)
            if (out.length === limit) return { entries: out, next: entry.id } satisfies Page
          }
        }
        if (batch.length < scanBatch) return { entries: out, next: undefined } satisfies Page
        start = RedisStream.nextEntryId(batch[batch.length - 1]!.id)
      }
      return { entries: out, next: out[out.length - 1]?.id } satisfies Page
    })

    // Every entry matching a filter, scanned in batches so a large DLQ is never read at once.
    const forEachMatching = (filter: Filter | undefined, f: (entry: DlqEntry) => Effect.Effect<void, RedisStream.RedisStreamError>) =>
      Effect.gen(function*() {
        let start = "-"
        while (true) {
          const batch = yield* redis.range({ key, start, end: "+", count: scanBatch })
          for (const raw of batch) {
            const entry = toEntry(raw)
            if (entry !== undefined && matches(entry, filter)) yield* f(entry)
          }
          if (batch.length < scanBatch) return
          start = RedisStream.nextEntryId(batch[batch.length - 1]!.id)
        }
      })

    const get = (id: string) =>
      Effect.map(redis.range({ key, start: id, end: id, count: 1 }), (entries) =>
        Option.fromUndefinedOr(entries[0] === undefined ? undefined : toEntry(entries[0])))

    const redrive = Effect.fnUntraced(function*(entry: DlqEntry) {
      const target = Keys.redeliver(settings.prefix, entry.group)
      yield* redis.createGroup(target, entry.group, "0")
      const fields: Record<string, string> = { event: entry.event }
      if (entry.type !== undefined) fields["type"] = entry.type
      if (entry.tenantId !== undefined) fields["tenant"] = entry.tenantId
      const [newId] = yield* redis.transaction([
        { _tag: "XAdd", key: target, fields },
        { _tag: "XDel", key, ids: [entry.id] }
      ])
      yield* Effect.logInfo("DLQ entry re-driven").pipe(
        Effect.annotateLogs({ dlqId: entry.id, group: entry.group, newEntryId: newId, type: entry.type })
      )
      return String(newId)
    })

    const retryOne = Effect.fnUntraced(function*(id: string) {
      const entry = yield* get(id)
      if (Option.isNone(entry)) return yield* new DlqEntryNotFound({ id })
      return yield* redrive(entry.value)
    })

    const retryAll = (filter?: Filter) =>
      Effect.gen(function*() {
        let count = 0
        yield* forEachMatching(filter, (entry) =>
          Effect.map(redrive(entry), () => {
            count++
          }))
        return count
      })

    const purge = (filter?: Filter) =>
      Effect.gen(function*() {
        let count = 0
        yield* forEachMatching(filter, (entry) =>
          Effect.map(redis.delete(key, [entry.id]), (deleted) => {
            count += deleted
          }))
        yield* Metrics.dlqLength(yield* redis.length(key))
        return count
      })

    const stats = Effect.gen(function*() {
      const byType: Record<string, number> = {}
      const byGroup: Record<string, number> = {}
      let size = 0
      let oldest: string | undefined
      let newest: string | undefined
      yield* forEachMatching(undefined, (entry) =>
        Effect.sync(() => {
          size++
          oldest ??= entry.movedAt
          newest = entry.movedAt
          const type = entry.type ?? "(unknown)"
          byType[type] = (byType[type] ?? 0) + 1
          byGroup[entry.group] = (byGroup[entry.group] ?? 0) + 1
        }))
      return { size, maxLength: settings.dlqMaxLength, usage: size / settings.dlqMaxLength, byType, byGroup, oldest, newest } satisfies Stats
    })

    return Dlq.of({
      move,
      list,
      get,
      retry: retryOne,
      retryAll,
      delete: (id) => Effect.map(redis.delete(key, [id]), (n) => n > 0),
      purge,
      size: redis.length(key),
      stats
    })
  })

/**
 * Provides the DLQ service; needs `RedisStream`, `BusConfig` and `Retry`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Dlq, never, RedisStream.RedisStream | BusConfig.BusConfig | Retry.Retry> = Layer
  .effect(Dlq, make)

// --- internal ---

const iso = (millis: number): string => new Date(millis).toISOString()
