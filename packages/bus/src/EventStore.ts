/**
 * The history of the bus: every published event, every delivery outcome per group, replay jobs
 * and an audit log of operator actions, on PostgreSQL (`layerPg`, through `@effect/sql-pg`) or in
 * memory (`layerMemory`, for unit tests under `TestClock`). One service interface serves both, and
 * the queries an operator needs: an event with its per-group deliveries, the trace of a
 * correlation id (the causation tree), events by tenant / type / pattern / time in cursor pages,
 * and status counts per group.
 *
 * Off the hot path: publishing never waits on the store. The **archiver** (`Archiver` below, a
 * consumer group of its own on the main stream) writes events in batches, idempotent on the event
 * id; delivery statuses arrive through `DeliveryLog` in batches (the status writer). Both back off
 * while the store is unavailable and catch up after; nothing is acked before it is written.
 *
 * Retention versus the archiver: the main stream is trimmed by time on every append, whoever
 * publishes, so the archiver cannot hold trimming back. Instead the store **records the gap**: the
 * archiver remembers when it last had read everything; if it falls behind by more than the
 * retention, entries may have been trimmed unread, and it records the id range it may have missed
 * (`gaps`), logs an error and counts it (`hyvve_store_gaps_total`).
 *
 * `layerNone` is the store when none is configured: queries fail with `EventStoreError`
 * (`NotConfigured`), and `Replay` keeps its jobs in Redis and reads Redis only.
 *
 * @since 0.2.0
 */
import { EventPattern } from "@hyvve/schema"
import type { EventError } from "@hyvve/schema"
import type { Duration, Option } from "effect"
import { Config, Context, Effect, Layer, Schema } from "effect"
import type * as DeliveryLog from "./DeliveryLog.ts"
import * as Memory from "./internal/store/memory.ts"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * Where a delivery stands, per event and group (`PENDING`: queued by a replay, not handed out).
 *
 * @category models
 * @since 0.2.0
 */
export const DeliveryStatus = Schema.Literals(["PENDING", "PROCESSING", "COMPLETED", "FAILED", "DLQ"])

/**
 * @category models
 * @since 0.2.0
 */
export type DeliveryStatus = typeof DeliveryStatus.Type

/**
 * One archived event: the envelope's header, its payload, and where it stood in the main stream.
 * Times are milliseconds since the epoch.
 *
 * @category models
 * @since 0.2.0
 */
export const StoredEvent = Schema.Struct({
  id: Schema.String,
  /**
   * The main-stream entry id (`<ms>-<seq>`); events are ordered by it. Unique within one stream
   * only: events of several streams (a multi-stream topology) can share one, in no given order.
   */
  entryId: Schema.String,
  type: Schema.String,
  version: Schema.String,
  source: Schema.String,
  tenantId: Schema.String,
  userId: Schema.String,
  correlationId: Schema.String,
  causationId: Schema.optionalKey(Schema.String),
  traceparent: Schema.optionalKey(Schema.String),
  replay: Schema.optionalKey(Schema.Struct({ jobId: Schema.String, originalEventId: Schema.String })),
  /** The envelope's `timestamp`, in ms. */
  occurredAt: Schema.Finite,
  /** The encoded payload, as published. */
  data: Schema.Unknown
})

/**
 * @category models
 * @since 0.2.0
 */
export type StoredEvent = typeof StoredEvent.Type

/**
 * An archived event ready to be delivered again by a replay: its envelope JSON with the replay
 * marker set (`json`, the envelope's field order, `replay` last) and the fields a replay routes by.
 *
 * @category models
 * @since 0.2.0
 */
export interface MarkedEvent {
  readonly entryId: string
  readonly id: string
  readonly type: string
  readonly tenantId: string
  readonly json: string
}

/**
 * What happened to one event in one group.
 *
 * @category models
 * @since 0.2.0
 */
export const Delivery = Schema.Struct({
  eventId: Schema.String,
  group: Schema.String,
  status: DeliveryStatus,
  attempts: Schema.Int,
  type: Schema.optionalKey(Schema.String),
  tenantId: Schema.optionalKey(Schema.String),
  errorTag: Schema.optionalKey(Schema.String),
  errorMessage: Schema.optionalKey(Schema.String),
  firstAttemptAt: Schema.Finite,
  lastAttemptAt: Schema.Finite,
  /** When it completed or was dead-lettered. */
  processedAt: Schema.optionalKey(Schema.Finite)
})

/**
 * @category models
 * @since 0.2.0
 */
export type Delivery = typeof Delivery.Type

/**
 * An event with its deliveries, one per group.
 *
 * @category models
 * @since 0.2.0
 */
export interface EventDetail {
  readonly event: StoredEvent
  readonly deliveries: ReadonlyArray<Delivery>
}

/**
 * One node of a causation tree: an event, its deliveries, and the events published while
 * handling it.
 *
 * @category models
 * @since 0.2.0
 */
export interface TraceNode {
  readonly event: StoredEvent
  readonly deliveries: ReadonlyArray<Delivery>
  readonly children: ReadonlyArray<TraceNode>
}

/**
 * Everything that happened under one correlation id: the roots (events caused by no archived
 * event of the trace) with their causation trees, in stream order.
 *
 * @category models
 * @since 0.2.0
 */
export interface Trace {
  readonly correlationId: string
  readonly roots: ReadonlyArray<TraceNode>
  readonly size: number
}

/**
 * Selects archived events; every given field must match. `from`/`to` bound the event's time
 * (ms, inclusive); `pattern` is an event pattern (`approval.*`); `types` exact names.
 *
 * @category models
 * @since 0.2.0
 */
export interface EventFilter {
  readonly tenantId?: string | undefined
  readonly types?: ReadonlyArray<string> | undefined
  readonly pattern?: string | undefined
  readonly from?: number | undefined
  readonly to?: number | undefined
}

/**
 * One page of events, in stream order (ties between streams by event id); `next` is the cursor of
 * the following page (absent on the last page).
 *
 * @category models
 * @since 0.2.0
 */
export interface EventPage {
  readonly events: ReadonlyArray<StoredEvent>
  readonly next: string | undefined
}

/**
 * How many deliveries of a group stand in each status.
 *
 * @category models
 * @since 0.2.0
 */
export interface StatusCount {
  readonly group: string
  readonly status: DeliveryStatus
  readonly count: number
}

/**
 * Main-stream entries the archiver may have missed: `(afterEntryId, beforeEntryId)`, exclusive.
 *
 * @category models
 * @since 0.2.0
 */
export const Gap = Schema.Struct({
  stream: Schema.String,
  afterEntryId: Schema.String,
  beforeEntryId: Schema.String,
  detectedAt: Schema.Finite
})

/**
 * @category models
 * @since 0.2.0
 */
export type Gap = typeof Gap.Type

/**
 * One operator action: who did what, with which filters, and how many events it touched.
 *
 * @category models
 * @since 0.2.0
 */
export const AuditEntry = Schema.Struct({
  at: Schema.Finite,
  actor: Schema.String,
  action: Schema.String,
  subject: Schema.String,
  details: Schema.Unknown
})

/**
 * @category models
 * @since 0.2.0
 */
export type AuditEntry = typeof AuditEntry.Type

/**
 * A replay job as stored (`Replay` owns its shape; the store keeps it as a document).
 *
 * @category models
 * @since 0.2.0
 */
export interface JobRecord {
  readonly id: string
  readonly status: string
  readonly createdAt: number
  readonly document: unknown
}

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/**
 * A store operation failed: `Unavailable` (the database cannot be reached: retry later),
 * `NotConfigured` (no store: set `DATABASE_URL`), `Failed` (the database rejected it), `BadCursor`.
 *
 * @category errors
 * @since 0.2.0
 */
export class EventStoreError extends Schema.TaggedError<EventStoreError>("@hyvve/bus/EventStoreError")(
  "EventStoreError",
  {
    operation: Schema.String,
    kind: Schema.Literals(["Unavailable", "NotConfigured", "Failed", "BadCursor"]),
    detail: Schema.String
  }
) {
  override get message(): string {
    return `event store ${this.operation} failed (${this.kind}): ${this.detail}`
  }
  /** True when the same operation may succeed later (the database is down or restarting). */
  get isRetryable(): boolean {
    return this.kind === "Unavailable"
  }
}

// ---------------------------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------------------------

/**
 * The event store.
 *
 * @category services
 * @since 0.2.0
 */
export class EventStore extends Context.Service<
  EventStore,
  {
    /** `"postgres"`, `"memory"`, or `"none"` (`layerNone`: every operation fails `NotConfigured`). */
    readonly backend: "postgres" | "memory" | "none"
    /** Writes events, ignoring ids already stored; returns how many were new. */
    readonly archive: (events: ReadonlyArray<StoredEvent>) => Effect.Effect<number, EventStoreError>
    /**
     * Writes main-stream entries as they were read (entry id and envelope JSON), ignoring ids
     * already stored; returns how many were new. The archiver's path: the envelope is parsed by
     * the store (PostgreSQL parses it server-side), not in the publishing process. A batch with
     * an unreadable envelope fails with `Failed` (the caller retries entry by entry).
     */
    readonly archiveEntries: (
      entries: ReadonlyArray<{ readonly entryId: string; readonly envelope: string }>
    ) => Effect.Effect<number, EventStoreError>
    /** Applies delivery outcomes (in order; the latest outcome of a delivery wins). */
    readonly recordDeliveries: (outcomes: ReadonlyArray<DeliveryLog.Outcome>) => Effect.Effect<void, EventStoreError>
    /** Records deliveries a replay queued (`PENDING`) for `group`. */
    readonly recordPending: (
      group: string,
      events: ReadonlyArray<Pick<StoredEvent, "id" | "type" | "tenantId">>,
      at: number
    ) => Effect.Effect<void, EventStoreError>
    /** Records entries the archiver may have missed. */
    readonly recordGap: (gap: Gap) => Effect.Effect<void, EventStoreError>
    /** The archiver's saved state: when it last had read everything (ms). */
    readonly archiverState: (stream: string) => Effect.Effect<{ readonly caughtUpAt: number } | undefined, EventStoreError>
    readonly saveArchiverState: (stream: string, caughtUpAt: number) => Effect.Effect<void, EventStoreError>

    /** An event with its deliveries. */
    readonly event: (id: string) => Effect.Effect<Option.Option<EventDetail>, EventStoreError>
    /** Every event of a correlation id, as causation trees. */
    readonly trace: (correlationId: string) => Effect.Effect<Trace, EventStoreError>
    /**
     * Events matching `filter`, in stream order, a page at a time (default 100, at most 1000).
     * Events of several streams that share an entry id come in event id order; the cursor
     * (`<entryId>:<eventId>`, opaque to callers) names the last event, so no page skips one.
     */
    readonly events: (
      filter: EventFilter,
      page?: { readonly cursor?: string | undefined; readonly limit?: number | undefined }
    ) => Effect.Effect<EventPage, EventStoreError | EventError.InvalidPattern>
    /**
     * Events matching `filter` with entry ids after `after` (exclusive) up to `through`
     * (inclusive), in stream order, at most `limit`: the archive side of a replay.
     */
    readonly scan: (options: {
      readonly filter: EventFilter
      readonly after: string
      readonly through: string
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<StoredEvent>, EventStoreError | EventError.InvalidPattern>
    /**
     * `scan` for a replay that appends to streams: each event as its envelope JSON with the
     * marker of `jobId` set (`originalEventId`: the event's own, or the one it already carries),
     * built by the store (PostgreSQL writes the text, so this process neither parses nor
     * serialises the events).
     */
    readonly scanMarked: (options: {
      readonly filter: EventFilter
      readonly after: string
      readonly through: string
      readonly limit: number
      readonly jobId: string
    }) => Effect.Effect<ReadonlyArray<MarkedEvent>, EventStoreError | EventError.InvalidPattern>
    /** Delivery counts per group and status (one group, or all). */
    readonly statusCounts: (group?: string) => Effect.Effect<ReadonlyArray<StatusCount>, EventStoreError>
    /** Recorded gaps, oldest first. */
    readonly gaps: Effect.Effect<ReadonlyArray<Gap>, EventStoreError>

    /** Appends to the audit log. */
    readonly audit: (entry: AuditEntry) => Effect.Effect<void, EventStoreError>
    /** The audit log, newest first, at most `limit` (default 100). */
    readonly auditLog: (options?: { readonly subject?: string | undefined; readonly limit?: number | undefined }) => Effect.Effect<
      ReadonlyArray<AuditEntry>,
      EventStoreError
    >

    /** Replay jobs: insert (fails `Failed` when the id exists), update, get, list newest first. */
    readonly jobs: {
      readonly insert: (job: JobRecord) => Effect.Effect<void, EventStoreError>
      readonly update: (job: JobRecord) => Effect.Effect<void, EventStoreError>
      readonly get: (id: string) => Effect.Effect<Option.Option<JobRecord>, EventStoreError>
      readonly list: (limit: number) => Effect.Effect<ReadonlyArray<JobRecord>, EventStoreError>
    }
  }
>()("@hyvve/bus/EventStore") {}

// ---------------------------------------------------------------------------------------------
// helpers shared by the backends
// ---------------------------------------------------------------------------------------------

/**
 * Compares two stream entry ids (`<ms>-<seq>`) by position.
 *
 * @category utils
 * @since 0.2.0
 */
export const compareEntryIds = (a: string, b: string): number => {
  const [am, as] = splitId(a)
  const [bm, bs] = splitId(b)
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1
}

const splitId = (id: string): readonly [number, number] => {
  const dash = id.indexOf("-")
  return dash < 0 ? [Number(id), 0] : [Number(id.slice(0, dash)), Number(id.slice(dash + 1))]
}

/**
 * Compiles a filter's pattern (fails with `InvalidPattern`) into a predicate over event types.
 *
 * @category utils
 * @since 0.2.0
 */
export const typeMatcher = (
  filter: EventFilter
): Effect.Effect<(type: string) => boolean, EventError.InvalidPattern> =>
  Effect.map(
    filter.pattern === undefined ? Effect.succeed(undefined) : EventPattern.make(filter.pattern),
    (pattern) => {
      const types = filter.types === undefined ? undefined : new Set(filter.types)
      return (type) =>
        (types === undefined || types.has(type)) && (pattern === undefined || EventPattern.matches(pattern, type))
    }
  )

/**
 * The same pattern as a POSIX regular expression (PostgreSQL `~`), anchored: `*` is one segment,
 * `**` any number of segments.
 *
 * @category utils
 * @since 0.2.0
 */
export const patternRegex = (pattern: EventPattern.EventPattern): string => {
  const segments = pattern.segments
  let re = "^"
  let needDot = false
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1
    if (segment === "**") {
      if (last) re += segments.length === 1 ? ".*" : "(\\.[^.]+)*"
      else {
        if (needDot) re += "\\."
        re += "([^.]+\\.)*"
        needDot = false
      }
    } else {
      if (needDot) re += "\\."
      re += segment === "*" ? "[^.]+" : segment
      needDot = true
    }
  })
  return `${re}$`
}

// ---------------------------------------------------------------------------------------------
// layers
// ---------------------------------------------------------------------------------------------

/**
 * An in-memory store with the same semantics (reads time through `Clock`); `unavailable` lets a
 * test take it down and bring it back. Each build is empty.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerMemory: Layer.Layer<EventStore | MemoryControl> = Layer.effectContext(
  Effect.sync(() => {
    const store = Memory.make()
    return Context.make(EventStore, EventStore.of(store.service)).pipe(
      Context.add(MemoryControl, { setAvailable: store.setAvailable, snapshot: store.snapshot })
    )
  })
)

/**
 * Takes the in-memory store down and back up (tests of outages).
 *
 * @category services
 * @since 0.2.0
 */
export class MemoryControl extends Context.Service<
  MemoryControl,
  {
    readonly setAvailable: (available: boolean) => void
    readonly snapshot: () => { readonly events: number; readonly deliveries: number }
  }
>()("@hyvve/bus/EventStore/MemoryControl") {}

const notConfigured = (operation: string) =>
  Effect.fail(
    new EventStoreError({ operation, kind: "NotConfigured", detail: "no event store: set DATABASE_URL (or provide one)" })
  )

/**
 * No store: every operation fails with `NotConfigured`.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerNone: Layer.Layer<EventStore> = Layer.succeed(EventStore)(EventStore.of({
  backend: "none",
  archive: () => notConfigured("archive"),
  archiveEntries: () => notConfigured("archiveEntries"),
  recordDeliveries: () => notConfigured("recordDeliveries"),
  recordPending: () => notConfigured("recordPending"),
  recordGap: () => notConfigured("recordGap"),
  archiverState: () => notConfigured("archiverState"),
  saveArchiverState: () => notConfigured("saveArchiverState"),
  event: () => notConfigured("event"),
  trace: () => notConfigured("trace"),
  events: () => notConfigured("events"),
  scan: () => notConfigured("scan"),
  scanMarked: () => notConfigured("scanMarked"),
  statusCounts: () => notConfigured("statusCounts"),
  gaps: notConfigured("gaps"),
  audit: () => notConfigured("audit"),
  auditLog: () => notConfigured("auditLog"),
  jobs: {
    insert: () => notConfigured("jobs.insert"),
    update: () => notConfigured("jobs.update"),
    get: () => notConfigured("jobs.get"),
    list: () => notConfigured("jobs.list")
  }
}))

/**
 * Options of the PostgreSQL store.
 *
 * @category models
 * @since 0.2.0
 */
export interface PgOptions {
  /** `postgres://user:pass@host:port/database`. */
  readonly url: string
  /** The PostgreSQL schema holding the tables (created if missing). Defaults to `"hyvve"`. */
  readonly schema?: string | undefined
  /** Pool size. Defaults to 4. */
  readonly maxConnections?: number | undefined
  /** Connect timeout. Defaults to 5 seconds. */
  readonly connectTimeout?: Duration.Input | undefined
}

/**
 * The store on PostgreSQL (≥ 14). Tables live in `schema`; migrations run at start (a database
 * that is down does not fail the layer: operations fail with `Unavailable` until it answers, and
 * migrations run then).
 *
 * @category layers
 * @since 0.2.0
 */
export const layerPg = (options: PgOptions): Layer.Layer<EventStore> =>
  // `@effect/sql-pg` is an optional peer: loaded when this layer is built, never on import.
  Layer.unwrap(
    Effect.tryPromise({
      try: () => import("./internal/store/pg.ts"),
      catch: (cause) =>
        new Error("@hyvve/bus: the PostgreSQL event store needs the `@effect/sql-pg` package (npm install @effect/sql-pg)", {
          cause
        })
    }).pipe(
      Effect.orDie,
      Effect.map((Pg) => Pg.layer(options))
    )
  )

/**
 * The store from the environment: `DATABASE_URL` (PostgreSQL) and optionally
 * `HYVVE_STORE_SCHEMA` (default `hyvve`). Without `DATABASE_URL` the bus runs without a store
 * (`layerNone`) and says so once at start.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerConfig = (
  overrides: Partial<PgOptions> = {}
): Layer.Layer<EventStore, Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const url = yield* Config.option(Config.String("DATABASE_URL"))
      const schema = yield* Config.option(Config.String("HYVVE_STORE_SCHEMA"))
      const resolved = url._tag === "Some" ? url.value : overrides.url
      if (resolved === undefined) {
        yield* Effect.logInfo(
          "no DATABASE_URL: running without an event store (no history or audit; replay reads Redis only)"
        ).pipe(Effect.annotateLogs({ package: "@hyvve/bus", module: "EventStore" }))
        return layerNone
      }
      return layerPg({ ...overrides, url: resolved, schema: schema._tag === "Some" ? schema.value : overrides.schema })
    })
  )
