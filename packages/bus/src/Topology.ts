/**
 * How events are spread over streams, and the name of every key that belongs to one stream.
 *
 * Three topologies, chosen by configuration (`BusConfig.topology`, `HYVVE_TOPOLOGY`):
 *
 * - `single` (the default): every event in one stream, `<prefix>:events:main`, with exactly the
 *   key names of 0.1 and of the NestJS seeds (`<prefix>:events:dlq`,
 *   `<prefix>:events:redeliver:<group>`, ...), so both implementations and existing data keep
 *   working;
 * - `family`: one stream per event family, the first segment of the type name (`approval`,
 *   `user`, ...). A subscription reads only the streams of the families its types belong to, so a
 *   handler of `approval.*` never reads (and acks unread) the `user` events. The families are
 *   open-ended (any publisher's catalog may add one): publishers record every stream they write
 *   in the stream registry (`registryKey`), which wildcard-first patterns (`**`, `*.approved`) and
 *   the operators' views read, picking up new streams while running;
 * - `partitioned:N[:tenant|aggregate]`: N streams, an event going to the partition its key hashes
 *   to: the tenant id (default), or with `aggregate` the `partitionKey` given at publish time
 *   (an aggregate id), falling back to the tenant id. Events of one key stay in one stream, so a
 *   handler at concurrency 1 (one per stream) handles them in publish order.
 *
 * **Keys derive from the stream.** Every key one atomic step touches is named from its stream's
 * key: the retry schedules and failure records (`<stream>:retry:<group>`,
 * `<stream>:failures:<group>`, as in 0.1), and, in every layout but plain `single`, the done
 * markers (`<stream>:done:<group>`), the redeliver streams (`<stream>:redeliver:<group>`) and the
 * DLQ (`<stream>:dlq`). Anything built on a stream (a per-application inbox, say) derives its keys
 * the same way and inherits the stream's hash tag.
 *
 * **Hash tags.** `family` and `partitioned` streams are named `<prefix>:events:{<prefix>:<name>}`:
 * the part in braces is the Redis Cluster hash tag, so all of a stream's keys live in one slot
 * (settling an entry is one atomic step over the stream, its schedules, markers and DLQ) while
 * different streams land on different slots and can live on different nodes. The prefix is part
 * of the tag so two buses sharing a cluster do not pile onto the same slots. `single` is tagged
 * too when `hashTags` is on (a single stream on a cluster: `<prefix>:events:{<prefix>:main}`);
 * that renames its keys, which the NestJS bus does not follow. A partition's tag may carry a
 * `~<n>` suffix that places it in its share of the slots, so partitions spread over the masters.
 *
 * Consequently no atomic step may touch two streams' keys: the DLQ is per stream in tagged
 * layouts (`Dlq` reads across them), and `Publisher.publishBatch` is atomic per stream.
 *
 * **Migration.** `previous` (`HYVVE_TOPOLOGY_PREVIOUS`) names the layout being left: publishers
 * write the new layout only, subscriptions also read the previous layout's streams (with their own
 * pending entries and scheduled retries there) until those are drained. See the README.
 *
 * @since 0.3.0
 */
import type { Catalog, EventType } from "@hyvve/schema"
import * as Keys from "./Keys.ts"
import * as Slot from "./internal/slot.ts"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * What a partitioned topology hashes: the event's tenant id, or the `partitionKey` given at
 * publish time (an aggregate id; the tenant id when none is given).
 *
 * @category models
 * @since 0.3.0
 */
export type PartitionBy = "tenant" | "aggregate"

/**
 * A topology: how events are spread over streams.
 *
 * @category models
 * @since 0.3.0
 */
export type Topology =
  | { readonly _tag: "Single" }
  | { readonly _tag: "Family" }
  | { readonly _tag: "Partitioned"; readonly partitions: number; readonly by: PartitionBy }

/**
 * Every event in one stream (the default; the 0.1 and NestJS key names).
 *
 * @category constructors
 * @since 0.3.0
 */
export const single: Topology = { _tag: "Single" }

/**
 * One stream per event family (the first segment of the type name).
 *
 * @category constructors
 * @since 0.3.0
 */
export const family: Topology = { _tag: "Family" }

/**
 * `partitions` streams, by tenant (default) or by the publish-time `partitionKey`.
 *
 * @category constructors
 * @since 0.3.0
 */
export const partitioned = (partitions: number, by: PartitionBy = "tenant"): Topology => ({
  _tag: "Partitioned",
  partitions,
  by
})

/**
 * The most partitions a topology may have (each is a stream every subscription reads).
 *
 * @category configuration
 * @since 0.3.0
 */
export const maxPartitions = 1024

/**
 * The accepted text forms, as configuration errors name them.
 *
 * @category configuration
 * @since 0.3.0
 */
export const expected = `single, family or partitioned:N[:tenant|aggregate] with N from 1 to ${maxPartitions}`

/**
 * Reads a topology from its text form (`single`, `family`, `partitioned:16`,
 * `partitioned:16:aggregate`); undefined when the text is none of them.
 *
 * @category constructors
 * @since 0.3.0
 */
export const parse = (text: string): Topology | undefined => {
  const parts = text.trim().split(":")
  if (parts.length === 1 && parts[0] === "single") return single
  if (parts.length === 1 && parts[0] === "family") return family
  if (parts[0] !== "partitioned" || parts.length < 2 || parts.length > 3) return undefined
  if (!/^\d+$/.test(parts[1] ?? "")) return undefined
  const by = parts[2] ?? "tenant"
  if (by !== "tenant" && by !== "aggregate") return undefined
  const topology = partitioned(Number(parts[1]), by)
  return isValid(topology) ? topology : undefined
}

/**
 * Whether a topology given in code is usable (a partition count from 1 to `maxPartitions`).
 *
 * @category predicates
 * @since 0.3.0
 */
export const isValid = (topology: Topology): boolean =>
  topology._tag !== "Partitioned" ||
  (Number.isSafeInteger(topology.partitions) && topology.partitions >= 1 && topology.partitions <= maxPartitions &&
    (topology.by === "tenant" || topology.by === "aggregate"))

/**
 * The text form of a topology (what `parse` reads).
 *
 * @category formatting
 * @since 0.3.0
 */
export const format = (topology: Topology): string =>
  topology._tag === "Single" ?
    "single" :
    topology._tag === "Family" ?
    "family" :
    `partitioned:${topology.partitions}:${topology.by}`

/**
 * The keys of one stream. Every key derives from `key` (and shares its hash tag when it has one).
 *
 * @category models
 * @since 0.3.0
 */
export interface StreamKeys {
  /** `main`, the family (`approval`) or the partition (`partition-3-of-16`). */
  readonly name: string
  /** The stream itself. */
  readonly key: string
  /** Where this stream's entries go when a group gives up on them. */
  readonly dlq: string
  /** The stream of entries re-driven from the DLQ to `group` only. */
  readonly redeliver: (group: string) => string
  /** The event ids `group` completed (idempotent handling), scored by expiry. */
  readonly done: (group: string) => string
}

/**
 * A topology applied to a prefix and a catalog: which streams exist, where an event goes, and
 * which streams a subscription reads.
 *
 * @category models
 * @since 0.3.0
 */
export interface Layout {
  readonly topology: Topology
  /** Whether stream keys carry a hash tag. */
  readonly tagged: boolean
  /**
   * Every stream of the layout: the one stream, every family of the catalog, every partition.
   * (A `family` layout also routes events of families the catalog does not list; those streams
   * are not listed here, but in the stream registry, see `registryKey`.)
   */
  readonly streams: ReadonlyArray<StreamKeys>
  /** The stream an event goes to. */
  readonly route: (event: { readonly type: string; readonly tenantId: string; readonly partitionKey?: string | undefined }) => StreamKeys
  /** The streams that can hold events of these type names (every partition, for partitioned). */
  readonly streamsFor: (types: Iterable<string>) => ReadonlyArray<StreamKeys>
  /** The stream whose key is `key`, if it is one of this layout's. */
  readonly find: (key: string) => StreamKeys | undefined
  /**
   * Whether streams beyond `streams` can exist (`family`: one per family any publisher's catalog
   * has). Publishers record those in the stream registry (`registryKey`), which `**` and the
   * operators' views read.
   */
  readonly open: boolean
  /** The stream named `name` (a family, `main`, a partition), if the layout can have it. */
  readonly named: (name: string) => StreamKeys | undefined
}

// ---------------------------------------------------------------------------------------------
// layouts
// ---------------------------------------------------------------------------------------------

/**
 * The family of an event type name: its first segment (`approval` for `approval.approved`).
 *
 * @category constructors
 * @since 0.3.0
 */
export const familyOf = (type: string): string => {
  const dot = type.indexOf(".")
  return dot === -1 ? type : type.slice(0, dot)
}

/**
 * The partition of a key among `partitions`: its CRC16 (the Redis Cluster hash), so every
 * implementation can compute it.
 *
 * @category constructors
 * @since 0.3.0
 */
export const partitionOf = (key: string, partitions: number): number => Slot.crc16(key) % partitions

/** The 0.1 and NestJS names: untagged, the DLQ and per-group keys under the prefix. */
const legacy = (prefix: string): StreamKeys => ({
  name: "main",
  key: Keys.main(prefix),
  dlq: Keys.dlq(prefix),
  redeliver: (group) => Keys.redeliver(prefix, group),
  done: (group) => Keys.done(prefix, group)
})

/** A tagged stream: every key starts with the stream's key, so shares its `{tag}`. */
const tagged = (prefix: string, name: string, tag = `${prefix}:${name}`): StreamKeys => {
  const key = `${prefix}:events:{${tag}}`
  return {
    name,
    key,
    dlq: `${key}:dlq`,
    redeliver: (group) => `${key}:redeliver:${group}`,
    done: (group) => `${key}:done:${group}`
  }
}

/**
 * The hash tags of the partitions: each one's name, with a `~<salt>` suffix when needed so that
 * partition `i`'s slot falls in the `i`-th share of `min(partitions, 128)` equal slot ranges. Names that
 * differ in a digit or two hash to nearby slots (CRC16), so plain names left masters unused: with
 * three masters splitting the slots evenly, `partitioned:3` and `:6` never used all three. In order
 * of the ranges, the partitions spread evenly over masters that hold equal contiguous ranges (what
 * `redis-cli --cluster create` sets up).
 */
const partitionTags = (prefix: string, partitions: number): ReadonlyArray<string> => {
  const ranges = Math.min(partitions, 128)
  // No two partitions on one slot, so each can move to a node of its own.
  const used = new Set<number>()
  return Array.from({ length: partitions }, (_, index) => {
    const name = `${prefix}:partition-${index}-of-${partitions}`
    const range = Math.floor((index * ranges) / partitions)
    for (let salt = 0;; salt++) {
      const tag = salt === 0 ? name : `${name}~${salt}`
      const slot = Slot.crc16(tag) % Slot.slots
      if (Math.floor((slot * ranges) / Slot.slots) === range && !used.has(slot)) {
        used.add(slot)
        return tag
      }
    }
  })
}

/**
 * Applies a topology to a key prefix (and, for `family`, the catalog whose families exist).
 * `hashTags` tags a `single` stream too (the others always are).
 *
 * @category constructors
 * @since 0.3.0
 */
export const layout = (
  topology: Topology,
  options: { readonly prefix: string; readonly hashTags: boolean; readonly catalog: Catalog.Catalog<EventType.Any> }
): Layout => {
  const { prefix } = options
  switch (topology._tag) {
    case "Single": {
      const stream = options.hashTags ? tagged(prefix, "main") : legacy(prefix)
      return fixed(topology, options.hashTags, [stream], () => stream)
    }
    case "Partitioned": {
      const { by, partitions } = topology
      const tags = partitionTags(prefix, partitions)
      const streams = tags.map((tag, i) => tagged(prefix, `partition-${i}-of-${partitions}`, tag))
      return fixed(topology, true, streams, (event) => {
        const key = by === "aggregate" ? event.partitionKey ?? event.tenantId : event.tenantId
        return streams[partitionOf(key, partitions)]!
      })
    }
    case "Family": {
      const byFamily = new Map<string, StreamKeys>()
      const streamOf = (family: string) => {
        let stream = byFamily.get(family)
        if (stream === undefined) {
          stream = tagged(prefix, family)
          byFamily.set(family, stream)
        }
        return stream
      }
      const known: Array<StreamKeys> = []
      for (const name of options.catalog.names) {
        const stream = streamOf(familyOf(name))
        if (!known.includes(stream)) known.push(stream)
      }
      return {
        topology,
        tagged: true,
        streams: known,
        route: (event) => streamOf(familyOf(event.type)),
        streamsFor: (types) => unique(Array.from(types, (type) => streamOf(familyOf(type)))),
        find: (key) => Array.from(byFamily.values()).find((stream) => stream.key === key),
        open: true,
        // A family is a type name's first segment: no dot, and no brace (it would move the tag).
        named: (name) => name.length === 0 || /[.{}]/.test(name) ? undefined : streamOf(name)
      }
    }
  }
}

/** A layout whose streams are known up front (single, partitioned): any type may be in any. */
const fixed = (
  topology: Topology,
  isTagged: boolean,
  streams: ReadonlyArray<StreamKeys>,
  route: Layout["route"]
): Layout => ({
  topology,
  tagged: isTagged,
  streams,
  route,
  streamsFor: () => streams,
  find: (key) => streams.find((stream) => stream.key === key),
  open: false,
  named: (name) => streams.find((stream) => stream.name === name)
})

const unique = (streams: ReadonlyArray<StreamKeys>): ReadonlyArray<StreamKeys> => Array.from(new Set(streams))

/**
 * What a layout is made from: the bus settings (`BusConfig.BusSettings`) have these fields.
 *
 * @category models
 * @since 0.3.0
 */
export interface Settings {
  readonly prefix: string
  readonly topology: Topology
  readonly previousTopology: Topology | undefined
  readonly hashTags: boolean
  readonly catalog: Catalog.Catalog<EventType.Any>
}

const current = new WeakMap<Settings, Layout>()
const previous = new WeakMap<Settings, Layout | undefined>()

/**
 * The layout the bus's settings describe (computed once per settings object).
 *
 * @category constructors
 * @since 0.3.0
 */
export const of = (settings: Settings): Layout => {
  let out = current.get(settings)
  if (out === undefined) {
    out = layout(settings.topology, settings)
    current.set(settings, out)
  }
  return out
}

/**
 * The layout being migrated from (`previousTopology`), if any and if it differs from the current
 * one.
 *
 * @category constructors
 * @since 0.3.0
 */
export const previousOf = (settings: Settings): Layout | undefined => {
  if (previous.has(settings)) return previous.get(settings)
  const before = settings.previousTopology === undefined ? undefined : layout(settings.previousTopology, settings)
  const now = of(settings)
  const out = before === undefined || sameStreams(before, now) ? undefined : before
  previous.set(settings, out)
  return out
}

/**
 * The streams of the current layout followed by those of the previous one (during a migration)
 * that are not also current: what operators' views (DLQ, health, groups) read.
 *
 * @category constructors
 * @since 0.3.0
 */
export const allStreams = (settings: Settings): ReadonlyArray<StreamKeys> => {
  const now = of(settings).streams
  const before = previousOf(settings)?.streams ?? []
  const keys = new Set(now.map((s) => s.key))
  return [...now, ...before.filter((s) => !keys.has(s.key))]
}

/**
 * The stream registry of a prefix: a hash of the streams publishers have written under an open
 * layout (`family`), stream name → stream key. A publisher records a stream before its first
 * append to it (once per stream per process), so a stream of a family no subscriber's catalog
 * lists is still found by `**` subscriptions and the operators' views (DLQ, health, groups). Only
 * single-key commands touch it (`HSET`, `HKEYS`), never together with a stream's keys, so its
 * slot on a cluster does not matter; the streams it names keep their own hash tags.
 *
 * @category constructors
 * @since 0.3.0
 */
export const registryKey = (prefix: string): string => `${prefix}:events:streams`

const sameStreams = (a: Layout, b: Layout): boolean =>
  a.streams.length === b.streams.length && a.streams.every((s, i) => s.key === b.streams[i]?.key)

/**
 * The streams a subscription to event types named `types` reads: the current topology's, then
 * (during a migration) the previous topology's that are not also current. `migrating` marks the
 * current streams while a previous topology is set: publishers may write them before a group
 * exists there, so a group created on them starts at their beginning.
 *
 * @category constructors
 * @since 0.3.0
 */
export const streamsToRead = (
  settings: Settings,
  types: ReadonlyArray<string>
): ReadonlyArray<{ readonly stream: StreamKeys; readonly migrating: boolean }> => {
  const previous = previousOf(settings)
  const now = of(settings).streamsFor(types)
  const before = previous?.streamsFor(types) ?? []
  const keys = new Set(now.map((stream) => stream.key))
  return [
    ...now.map((stream) => ({ stream, migrating: previous !== undefined })),
    ...before.filter((stream) => !keys.has(stream.key)).map((stream) => ({ stream, migrating: false }))
  ]
}
