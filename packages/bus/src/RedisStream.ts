/**
 * The one service that speaks Redis: stream appends with time-based trimming, consumer groups,
 * pending-entry lists, claims, sorted-set retry schedules and small atomic transactions.
 * Everything else in `@hyvve/bus` depends on this contract and never on ioredis.
 *
 * Backends: `IoRedisStream.layer` / `IoRedisStream.layerConfig` (a single Redis node through
 * ioredis, in a module of its own so that importing this one loads no driver),
 * `IoRedisClusterStream.layer` / `layerConfig` (a Redis Cluster, same driver) and `layerMemory`
 * (an in-memory engine with the same semantics: groups, pending entries with delivery counts and
 * idle times, claims, trimming by minimum id, lag; it reads time through `Clock`, so `TestClock`
 * drives it).
 *
 * `copyForReplay` copies a replay batch inside the server. Given `firstAtMost` it first checks,
 * in the same atomic step, that the stream's first entry is at or before that id (trimming
 * removes a prefix, so nothing from the caller's position on is gone); otherwise it copies
 * nothing and stops with `Trimmed`, and a caller that keeps older entries elsewhere (Replay's
 * archive) reads the gap there. The memory backend does the same.
 *
 * @since 0.1.0
 */
import type { Duration, Effect } from "effect"
import { Context, Layer, Redacted, Schema } from "effect"
import * as internalMemory from "./internal/memoryStream.ts"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * A Redis stream entry id, `<ms>-<seq>`. Ids are ms timestamps, which is what makes trimming by
 * time possible (`MINID`).
 *
 * @category models
 * @since 0.1.0
 */
export type EntryId = string

/**
 * The field/value pairs of one stream entry, in insertion order.
 *
 * @category models
 * @since 0.1.0
 */
export type Fields = Readonly<Record<string, string>>

/**
 * One stream entry as read from a key.
 *
 * @category models
 * @since 0.1.0
 */
export interface Entry {
  readonly key: string
  readonly id: EntryId
  readonly fields: Fields
}

/**
 * An entry read through a consumer group: `deliveries` is the delivery count of the entry in
 * that group's pending-entries list after this read (1 on the first delivery).
 *
 * @category models
 * @since 0.1.0
 */
export interface GroupEntry extends Entry {
  readonly deliveries: number
}

/**
 * How an append trims its stream. `minId` drops entries older than that id (time-based
 * retention: `now - retention`), `maxLen` caps the length. Trimming is approximate (`~`) unless
 * `exact` is set.
 *
 * @category models
 * @since 0.1.0
 */
export interface Trim {
  readonly minId?: EntryId | undefined
  readonly maxLen?: number | undefined
  readonly exact?: boolean | undefined
}

/**
 * One command inside an atomic `transaction`.
 *
 * @category models
 * @since 0.1.0
 */
export type Command =
  | {
    readonly _tag: "XAdd"
    readonly key: string
    readonly fields: Fields
    readonly trim?: Trim | undefined
    /**
     * Takes the values of these fields from entry `id` of stream `key`, byte for byte, inside the
     * transaction (the given values stay where that entry or field is gone). A copy keeps bytes a
     * client would alter when it reads them as text (invalid UTF-8).
     */
    readonly copyFrom?: { readonly key: string; readonly id: EntryId; readonly fields: ReadonlyArray<string> } | undefined
  }
  | { readonly _tag: "XAck"; readonly key: string; readonly group: string; readonly ids: ReadonlyArray<EntryId> }
  | { readonly _tag: "XDel"; readonly key: string; readonly ids: ReadonlyArray<EntryId> }
  | { readonly _tag: "ZAdd"; readonly key: string; readonly score: number; readonly member: string }
  /** Adds every member with one score, as one `ZADD` (a batch of done-markers, say). Replies the number added. */
  | { readonly _tag: "ZAddMany"; readonly key: string; readonly score: number; readonly members: ReadonlyArray<string> }
  | { readonly _tag: "ZRem"; readonly key: string; readonly members: ReadonlyArray<string> }
  | { readonly _tag: "ZRemRangeByScore"; readonly key: string; readonly max: number }
  | { readonly _tag: "HSet"; readonly key: string; readonly field: string; readonly value: string }
  | { readonly _tag: "HDel"; readonly key: string; readonly fields: ReadonlyArray<string> }
  | { readonly _tag: "Set"; readonly key: string; readonly value: string; readonly ttlMs: number }

/**
 * An entry taken from a retry schedule by `takeDue`: `record` is the value of its field in the
 * schedule's companion hash (what the caller stored with the retry), if any.
 *
 * @category models
 * @since 0.2.0
 */
export interface DueEntry extends GroupEntry {
  readonly record: string | undefined
}

/**
 * The reply of one transaction command, in order: the new id for `XAdd`, a count otherwise
 * (`Set` replies 1).
 *
 * @category models
 * @since 0.1.0
 */
export type CommandReply = EntryId | number

/**
 * What `copyForReplay` copies: entries of `key` with ids from `start` through `end` (at most
 * `count` read), each to the streams of `targets` its `type` field routes it to.
 *
 * @category models
 * @since 0.2.0
 */
export interface ReplayCopy {
  readonly key: string
  readonly start: EntryId
  readonly end: EntryId
  readonly count: number
  readonly targets: ReadonlyArray<string>
  /**
   * The indices into `targets` each known `type` goes to (none: skipped). An entry of a type not
   * listed stops the copy before it (`stop: UnknownType`), so the caller can route it and go on.
   */
  readonly routes: ReadonlyMap<string, ReadonlyArray<number>>
  /** Only entries whose `tenant` field is this one are copied (the others are skipped). */
  readonly tenant?: string | undefined
  /** Set as the copies' `replay` field, from which readers derive the event's replay marker. */
  readonly jobId: string
  /**
   * Written with the copies, in the same atomic step: field `field` of hash `key` becomes
   * `{"cursor","scanned","matched"}` (JSON), the counts being these plus the entries passed and copied.
   */
  readonly progress: { readonly key: string; readonly field: string; readonly scanned: number; readonly matched: number }
  /**
   * Copies only if no entry from `start` on can have been trimmed away: the stream's first entry
   * must be at or before this id (the first entry the caller saw, or `start`). Otherwise (trimmed
   * since, or the stream is empty) nothing is copied or recorded and `stop` is `Trimmed`: a caller
   * that reads older entries elsewhere (the archive) goes back there for the gap. Checked in the
   * same atomic step as the copy.
   *
   * @since 0.3.0
   */
  readonly firstAtMost?: EntryId | undefined
}

/**
 * The outcome of `copyForReplay`: `passed` entries were looked at (copied or skipped), the last
 * of them `cursor`; `copied` are the envelopes' event id, type and tenant of the entries copied;
 * `exhausted` when the range had no more entries. `stop` is why it stopped early: an entry of a
 * type not in `routes`, or an entry it cannot copy as bytes (no `type`, `tenant` or `event`
 * field, an envelope that does not start with its `id` or already has a `replay` marker), which
 * the caller reads and copies itself, or (`Trimmed`, only with `firstAtMost`) the stream's first
 * entry is past `firstAtMost` (`first`, undefined when the stream is empty) and nothing was copied.
 *
 * @category models
 * @since 0.2.0
 */
export interface ReplayCopied {
  readonly passed: number
  readonly cursor: EntryId | undefined
  readonly copied: ReadonlyArray<{ readonly eventId: string; readonly type: string; readonly tenant: string }>
  readonly exhausted: boolean
  readonly stop:
    | { readonly _tag: "UnknownType"; readonly type: string }
    | { readonly _tag: "Entry"; readonly id: EntryId }
    | { readonly _tag: "Trimmed"; readonly first: EntryId | undefined }
    | undefined
}

/**
 * One row of a pending-entries list (`XPENDING` extended form).
 *
 * @category models
 * @since 0.1.0
 */
export interface PendingEntry {
  readonly id: EntryId
  readonly consumer: string
  /** Milliseconds since the entry was last delivered (or claimed) to `consumer`. */
  readonly idleMs: number
  readonly deliveries: number
}

/**
 * The summary form of `XPENDING`.
 *
 * @category models
 * @since 0.1.0
 */
export interface PendingSummary {
  readonly count: number
  readonly minId: EntryId | undefined
  readonly maxId: EntryId | undefined
  readonly consumers: ReadonlyArray<{ readonly name: string; readonly pending: number }>
}

/**
 * `XINFO STREAM` (the parts the bus uses).
 *
 * @category models
 * @since 0.1.0
 */
export interface StreamInfo {
  readonly length: number
  readonly lastGeneratedId: EntryId
  readonly firstEntry: Entry | undefined
  readonly lastEntry: Entry | undefined
}

/**
 * `XINFO GROUPS` (one row). `lag` is undefined when Redis cannot compute it (after deletions).
 *
 * @category models
 * @since 0.1.0
 */
export interface GroupInfo {
  readonly name: string
  readonly consumers: number
  readonly pending: number
  readonly lastDeliveredId: EntryId
  readonly lag: number | undefined
}

/**
 * `XINFO CONSUMERS` (one row).
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsumerInfo {
  readonly name: string
  readonly pending: number
  readonly idleMs: number
}

/**
 * What went wrong with a Redis command: `Unavailable` (connection refused, closed or timed out,
 * a cluster failing over, or a write not confirmed by the replicas asked for: retry later),
 * `NoGroup` (the group or stream does not exist), `Aborted` (a transaction was discarded),
 * `Command` (Redis rejected the command), `CrossSlot` (one atomic step names keys of several
 * Redis Cluster slots: nothing was sent; the keys need a shared `{hash tag}`).
 *
 * @category models
 * @since 0.1.0
 */
export const ErrorKind = Schema.Literals(["Unavailable", "NoGroup", "Aborted", "Command", "CrossSlot"])

/**
 * @category models
 * @since 0.1.0
 */
export type ErrorKind = typeof ErrorKind.Type

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/**
 * A Redis command failed. Names the command; `kind` tells whether retrying can help. No raw
 * driver error escapes this module.
 *
 * @category errors
 * @since 0.1.0
 */
export class RedisStreamError extends Schema.TaggedError<RedisStreamError>("@hyvve/bus/RedisStreamError")(
  "RedisStreamError",
  {
    command: Schema.String,
    kind: ErrorKind,
    detail: Schema.String
  }
) {
  override get message(): string {
    return `Redis ${this.command} failed (${this.kind}): ${this.detail}`
  }
  /** True when the same command may succeed later (Redis down or restarting). */
  get isRetryable(): boolean {
    return this.kind === "Unavailable"
  }
}

// ---------------------------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------------------------

/**
 * Appends, reads, acknowledges and claims Redis Stream entries through consumer groups.
 *
 * @category services
 * @since 0.1.0
 */
export class RedisStream extends Context.Service<
  RedisStream,
  {
    /** Appends one entry (`XADD key * ...`), trimming as asked, and returns its id. */
    readonly append: (key: string, fields: Fields, trim?: Trim) => Effect.Effect<EntryId, RedisStreamError>
    /**
     * Runs the commands atomically: all of them take effect or none does (the Redis backend runs
     * one Lua script that checks every key's type and argument before its first write, which
     * `MULTI`/`EXEC` cannot promise). Replies come back in order.
     */
    readonly transaction: (
      commands: ReadonlyArray<Command>
    ) => Effect.Effect<ReadonlyArray<CommandReply>, RedisStreamError>
    /**
     * Creates a consumer group (and the stream, `MKSTREAM`) if it does not exist yet. `startId`
     * is where a new group starts reading: `"$"` (only new entries, the default) or `"0"` (all
     * retained entries). Idempotent.
     */
    readonly createGroup: (key: string, group: string, startId?: EntryId) => Effect.Effect<void, RedisStreamError>
    /** Removes a consumer group and its pending-entries list. Returns whether it existed. */
    readonly destroyGroup: (key: string, group: string) => Effect.Effect<boolean, RedisStreamError>
    /**
     * Reads up to `count` entries never delivered to the group (`>`) from each of `keys`, waiting
     * at most `block` when none is there. An empty array means the wait timed out. The backend
     * multiplexes waiting readers: many concurrent `readGroup` calls do not each hold a
     * connection. Interrupting a waiting read returns promptly.
     */
    readonly readGroup: (options: {
      readonly keys: ReadonlyArray<string>
      readonly group: string
      readonly consumer: string
      readonly count: number
      readonly block: Duration.Input
    }) => Effect.Effect<ReadonlyArray<GroupEntry>, RedisStreamError>
    /**
     * Appends `count` entries to `key` in one atomic step: entry i takes line i of each text of
     * `lines` (each exactly `count` lines joined by `"\n"`) and every field of `fields`. With
     * `hashSet`, that hash field is set in the same step (its key must share a Redis Cluster slot
     * with `key`). A few long arguments instead of several per entry: a replay from the archive
     * sends the envelopes PostgreSQL wrote this way. Returns `count`.
     */
    readonly appendLines: (options: {
      readonly key: string
      readonly count: number
      readonly lines: Fields
      readonly fields: Fields
      readonly hashSet?: { readonly key: string; readonly field: string; readonly value: string } | undefined
    }) => Effect.Effect<number, RedisStreamError>
    /**
     * Lists entries already pending on `consumer`, with their fields, oldest first, after `after`
     * (exclusive, default from the start). A consumer restarting under the same name resumes with
     * these. Unlike `XREADGROUP ... 0` it changes neither delivery counts nor idle times, and it
     * skips entries deleted from the stream.
     */
    readonly readOwnPending: (options: {
      readonly key: string
      readonly group: string
      readonly consumer: string
      readonly count: number
      readonly after?: EntryId | undefined
    }) => Effect.Effect<ReadonlyArray<Entry>, RedisStreamError>
    /** Acknowledges ids in a group (`XACK`), returning how many were pending. */
    readonly ack: (key: string, group: string, ids: ReadonlyArray<EntryId>) => Effect.Effect<number, RedisStreamError>
    /** The summary of a group's pending-entries list. */
    readonly pendingSummary: (key: string, group: string) => Effect.Effect<PendingSummary, RedisStreamError>
    /** Rows of a group's pending-entries list, oldest first, optionally only idle ≥ `minIdle`. */
    readonly pending: (options: {
      readonly key: string
      readonly group: string
      readonly count: number
      readonly start?: EntryId | undefined
      readonly consumer?: string | undefined
      readonly minIdle?: Duration.Input | undefined
    }) => Effect.Effect<ReadonlyArray<PendingEntry>, RedisStreamError>
    /**
     * Transfers pending entries idle ≥ `minIdle` to `consumer` (`XCLAIM`), resetting their idle
     * time. Without `justId` the delivery count is incremented and the entries are returned;
     * with it (a heartbeat for entries the consumer still handles) counts are unchanged and
     * the entries come back with empty fields. Entries deleted from the stream meanwhile are
     * dropped from the pending list and not returned.
     */
    readonly claim: (options: {
      readonly key: string
      readonly group: string
      readonly consumer: string
      readonly minIdle: Duration.Input
      readonly ids: ReadonlyArray<EntryId>
      readonly justId?: boolean | undefined
    }) => Effect.Effect<ReadonlyArray<GroupEntry>, RedisStreamError>
    /**
     * Scans the pending list from `start` and claims up to `count` entries idle ≥ `minIdle`
     * (`XAUTOCLAIM`). `next` is the cursor for the next call (`"0-0"` when the scan is done);
     * `deleted` lists pending ids whose entries no longer exist (removed from the list).
     */
    readonly autoClaim: (options: {
      readonly key: string
      readonly group: string
      readonly consumer: string
      readonly minIdle: Duration.Input
      readonly start: EntryId
      readonly count: number
    }) => Effect.Effect<
      { readonly next: EntryId; readonly entries: ReadonlyArray<GroupEntry>; readonly deleted: ReadonlyArray<EntryId> },
      RedisStreamError
    >
    /** Entries with ids in `[start, end]` (`-` and `+` are the ends), oldest first. */
    readonly range: (options: {
      readonly key: string
      readonly start: EntryId
      readonly end: EntryId
      readonly count?: number | undefined
      readonly reverse?: boolean | undefined
    }) => Effect.Effect<ReadonlyArray<Entry>, RedisStreamError>
    /** Number of entries in the stream (0 when it does not exist). */
    readonly length: (key: string) => Effect.Effect<number, RedisStreamError>
    /** Stream facts, or undefined when the stream does not exist. */
    readonly info: (key: string) => Effect.Effect<StreamInfo | undefined, RedisStreamError>
    /** The stream's consumer groups with pending count and lag (empty when no stream). */
    readonly groups: (key: string) => Effect.Effect<ReadonlyArray<GroupInfo>, RedisStreamError>
    /** A group's consumers with their pending count and idle time. */
    readonly consumers: (key: string, group: string) => Effect.Effect<ReadonlyArray<ConsumerInfo>, RedisStreamError>
    /** Deletes entries by id (`XDEL`), returning how many existed. */
    readonly delete: (key: string, ids: ReadonlyArray<EntryId>) => Effect.Effect<number, RedisStreamError>
    /** Trims the stream (`XTRIM`), returning how many entries were removed. */
    readonly trim: (key: string, trim: Trim) => Effect.Effect<number, RedisStreamError>
    /** Scores of `members` in a sorted set (undefined for absent members), in order. */
    readonly scores: (
      key: string,
      members: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyArray<number | undefined>, RedisStreamError>
    /**
     * Atomically takes up to `count` members of the sorted set `scheduleKey` with score ≤ `now`
     * and claims each, as an entry of stream `key`, to `consumer` in `group` (incrementing its
     * delivery count), returning with each the member's field in the hash `recordsKey`. Each due
     * member is taken by exactly one caller, whichever process asks first. Members whose entry is
     * no longer pending are dropped. `nextDueAt` is the lowest score left in the schedule, so the
     * caller can sleep until then.
     */
    readonly takeDue: (options: {
      readonly scheduleKey: string
      readonly recordsKey: string
      readonly key: string
      readonly group: string
      readonly consumer: string
      readonly now: number
      readonly count: number
    }) => Effect.Effect<
      { readonly entries: ReadonlyArray<DueEntry>; readonly nextDueAt: number | undefined },
      RedisStreamError
    >
    /**
     * Removes the consumers of a group that own no pending entry and have been idle for at least
     * `minIdle`, except `keep` (`XGROUP DELCONSUMER`, checked and done atomically so a consumer
     * that gets an entry meanwhile is kept). Returns the names removed.
     */
    readonly removeIdleConsumers: (options: {
      readonly key: string
      readonly group: string
      readonly minIdle: Duration.Input
      readonly keep: string
    }) => Effect.Effect<ReadonlyArray<string>, RedisStreamError>
    /**
     * Copies a replay batch inside the server (`ReplayCopy`): each entry whose `type` routes it to
     * some targets (and whose `tenant` matches) is appended to them with its `event` (byte for
     * byte), `type` and `tenant` fields and `replay: jobId`, and the progress is written, all
     * atomically: the payloads never travel to the client and back. Readers give such an entry's
     * event the marker `{ jobId, originalEventId: <its id> }` (the event keeps its id).
     */
    readonly copyForReplay: (options: ReplayCopy) => Effect.Effect<ReplayCopied, RedisStreamError>
    /** Values of `fields` in the hash `key` (`HMGET`), undefined where absent, in order. */
    readonly hashGet: (
      key: string,
      fields: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyArray<string | undefined>, RedisStreamError>
    /** The fields of the hash `key` (`HKEYS`), none when it does not exist; in no set order. */
    readonly hashFields: (key: string) => Effect.Effect<ReadonlyArray<string>, RedisStreamError>
    /** Sets `key` to `"1"` with a TTL if it is absent (`SET NX PX`); true when it was set. */
    readonly setMarker: (key: string, ttl: Duration.Input) => Effect.Effect<boolean, RedisStreamError>
    /** Which of `keys` exist, in order. */
    readonly markersExist: (keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<boolean>, RedisStreamError>
    /** Deletes plain keys (streams, sorted sets, markers). Returns how many existed. */
    readonly deleteKeys: (keys: ReadonlyArray<string>) => Effect.Effect<number, RedisStreamError>
    /** Round-trips to Redis (`PING`): the liveness probe used by health and circuit breakers. */
    readonly ping: Effect.Effect<void, RedisStreamError>
  }
>()("@hyvve/bus/RedisStream") {}

// ---------------------------------------------------------------------------------------------
// layers
// ---------------------------------------------------------------------------------------------

/**
 * Options of the ioredis backend (`IoRedisStream.layer`).
 *
 * @category configuration
 * @since 0.1.0
 */
export interface RedisStreamOptions {
  /** `redis://host:port/db` (with credentials if any). */
  readonly url: Redacted.Redacted<string>
  /** Prefix of the connection names shown by `CLIENT LIST`. Defaults to `"hyvve"`. */
  readonly connectionName?: string | undefined
  /**
   * A call without a reply for this long fails with kind `Unavailable` (a connection that hangs
   * without closing). A call is one command, or one batch sent together (a `publishBatch`'s MULTI).
   * Blocking reads are not affected. Defaults to 10 seconds.
   */
  readonly commandTimeout?: Duration.Input | undefined
}

/**
 * Provides `RedisStream` from an in-memory engine with Redis semantics, for unit tests and for
 * the demo when no Redis is reachable. Each build is a fresh, empty "server".
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<RedisStream> = Layer.effect(RedisStream, internalMemory.make())

/**
 * Options of the in-memory backend.
 *
 * @category configuration
 * @since 0.3.0
 */
export interface MemoryOptions {
  /**
   * Reject, as a Redis Cluster does (`CROSSSLOT`), every step that touches keys of more than one
   * cluster slot: a transaction, a read over several streams, a multi-key script or delete. Unit
   * tests turn it on to show that a layout is cluster-safe. Defaults to false.
   */
  readonly enforceSlots?: boolean | undefined
}

/**
 * `layerMemory` with options (e.g. `enforceSlots` to test cluster safety).
 *
 * @category layers
 * @since 0.3.0
 */
export const layerMemoryWith = (options: MemoryOptions): Layer.Layer<RedisStream> =>
  Layer.effect(RedisStream, internalMemory.make(options))

/**
 * Orders two entry ids (`<ms>-<seq>`) as the stream does: negative, zero or positive.
 *
 * @category utils
 * @since 0.3.0
 */
export const compareEntryIds = (a: EntryId, b: EntryId): number => {
  const [aMs = 0, aSeq = 0] = a.split("-").map(Number)
  const [bMs = 0, bSeq = 0] = b.split("-").map(Number)
  return aMs - bMs || aSeq - bSeq
}

/**
 * Returns the smallest entry id after `id`: an exclusive range start that every backend (and
 * every Redis version) understands.
 *
 * @category constructors
 * @since 0.1.0
 */
export const nextEntryId = (id: EntryId): EntryId => {
  const dash = id.indexOf("-")
  return `${id.slice(0, dash)}-${Number(id.slice(dash + 1)) + 1}`
}

/**
 * Builds the URL option from a plain string (tests and scripts).
 *
 * @category constructors
 * @since 0.1.0
 */
export const options = (url: string, connectionName?: string): RedisStreamOptions => ({
  url: Redacted.make(url),
  connectionName
})
