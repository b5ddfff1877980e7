/**
 * Replay as an Effect program: re-deliver past events, selected by time, type or pattern and
 * tenant, to one consumer group, to every group whose subscription matches, or to a handler.
 *
 * - `start(options)` validates, records a job and runs it in the background (in the layer's
 *   scope); `run(options)` is the same job as one Effect that returns the final job (scripts,
 *   tests); `progress(jobId)` is a `Stream` of progress that ends with the final status;
 *   `cancel`, `resume`, `get`, `list`.
 * - **Never re-published to everyone**: events are appended to the target groups' private
 *   redeliver streams (the mechanism DLQ re-drives use), so other groups never see them. They
 *   keep their id and correlation id and carry the typed replay marker `{ jobId, originalEventId }`.
 *   On the wire the entry's `replay` field names the job; the envelope carries the marker too,
 *   except in copies made by the server (`RedisStream.copyForReplay`), whose envelopes stay as
 *   published and whose readers derive the marker from the field. Handlers that pass
 *   `replays: "skip"` ack them unhandled.
 * - **Source**: the Redis main stream within retention and the event store beyond it, in entry-id
 *   order, a batch at a time (`batchSize`, 200 by default): never a whole range in memory. `from`
 *   and `to` (ms, inclusive) are positions in the stream (entry ids are append times). A batch
 *   from the store ends on a whole entry id (a few more than `batchSize` then): streams number
 *   their entries independently, so the archive holds events of several streams under one id.
 *   The archive ends where the stream's first entry begins: retention may trim the stream after
 *   that boundary was chosen, so every read of Redis (the server copy in its own atomic step,
 *   `firstAtMost`; a read here by asking for the first entry after it) checks that nothing from
 *   the job's position on was trimmed, else the boundary is chosen again and the trimmed entries
 *   are read from the archive.
 * - **Several streams** (`family`, `partitioned`; see `Topology`): a job reads every stream its
 *   types or pattern can be in (the catalog's types a pattern matches; with a tenant and
 *   `partitioned:N:tenant`, the tenant's partition only; with a group target, the streams the
 *   group has a group on), one after the other, each in its own order: **there is no order
 *   across streams**. Each stream's events go to that stream's redeliver streams of the targets
 *   (which the groups read), every step within the stream's hash tag. The job keeps a cursor per
 *   stream (`Job.streams`) and resumes in the stream it was in; its counts and `percent` add the
 *   streams up (each an equal share). The archive holds every stream's events: each stream takes
 *   those the layout routes to it (`partitioned:N:aggregate` routes archived events by tenant:
 *   the store keeps no partition key). A bus migrating topology (`previousTopology`) refuses
 *   replays (`Topology`): the previous layout's streams and the archive would overlap.
 * - **Durable**: the job record (status, filters, cursor, counts, errors, who started it) lives in
 *   the event store when there is one, else in Redis. The cursors advance a batch at a time, after
 *   the batch was delivered: a job whose process died resumes from it (`resume`, once its
 *   heartbeat is older than `staleAfter`), and each event is delivered at most once more. What
 *   Redis copies (below) carries its progress in the same atomic step, as does every batch of a
 *   job kept in Redis under an untagged `single` layout: exactly once there.
 * - **Copied by Redis**: a batch of the main stream into group targets never comes to this
 *   process: `RedisStream.copyForReplay` reads it, filters it by the entries' `type` and `tenant`
 *   fields (each type routed here once), adds the marker to the envelope bytes and appends to the
 *   targets' redeliver streams. Handler targets and entries it cannot copy as bytes are
 *   delivered from here. `PENDING` rows (with a store) are written in the background.
 * - **From the archive**: for group targets on a one-stream layout PostgreSQL writes the marked
 *   envelopes (`EventStore.scanMarked`), so no event is parsed or serialised here (several
 *   streams need the events to route them, and take the events' path); into one group a batch
 *   goes to Redis as one text (`RedisStream.appendLines`), with its progress in the same step, and
 *   the job record is then saved at most once a second, as for the copies above.
 * - **Cancel from anywhere**: `cancel` stops the runner of the job wherever it runs (it checks
 *   before every batch and while waiting for `rate`) and returns once the job is `cancelled`.
 * - **Audited**: every start, cancel and resume goes to the store's audit log (or an Info log
 *   line without a store).
 *
 * Bad input fails before anything is written: `InvalidReplay` (range, unknown type or group,
 * options), `InvalidPattern`; `JobNotFound`, `JobAlreadyRunning`, `JobFinished` for job ids.
 *
 * @since 0.2.0
 */
import { Catalog, EventPattern, EventType } from "@hyvve/schema"
import type { Envelope, EventError } from "@hyvve/schema"
import { randomUUID } from "node:crypto"
import {
  type Cause,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberMap,
  FiberSet,
  Layer,
  Option,
  Queue,
  Schedule,
  Schema,
  Stream
} from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as EventStore from "./EventStore.ts"
import * as History from "./History.ts"
import * as Keys from "./Keys.ts"
import * as Topology from "./Topology.ts"
import * as RedisStream from "./RedisStream.ts"
import * as Registry from "./internal/registry.ts"
import * as Shared from "./internal/store/shared.ts"
import * as Supervision from "./internal/supervision.ts"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * Where replayed events go: one named group, or every group whose subscription matches the
 * event (`Handler` is recorded for jobs run with `run({ handler })`).
 *
 * @category models
 * @since 0.2.0
 */
export const Target = Schema.Union([
  Schema.TaggedStruct("Group", { group: Schema.String }),
  Schema.TaggedStruct("Matching", {}),
  Schema.TaggedStruct("Handler", {})
])

/**
 * @category models
 * @since 0.2.0
 */
export type Target = typeof Target.Type

/**
 * Targets one named group.
 *
 * @category constructors
 * @since 0.2.0
 */
export const group = (name: string): Target => ({ _tag: "Group", group: name })

/**
 * Targets every group whose subscription matches the event.
 *
 * @category constructors
 * @since 0.2.0
 */
export const matching: Target = { _tag: "Matching" }

/**
 * The status of a job.
 *
 * @category models
 * @since 0.2.0
 */
export const JobStatus = Schema.Literals(["pending", "running", "completed", "failed", "cancelled"])

/**
 * @category models
 * @since 0.2.0
 */
export type JobStatus = typeof JobStatus.Type

/**
 * Where a job stands in one of the streams it reads: the last entry id done there, and whether
 * that stream is done.
 *
 * @category models
 * @since 0.3.0
 */
export const StreamCursor = Schema.Struct({ key: Schema.String, cursor: Schema.String, done: Schema.Boolean })

/**
 * @category models
 * @since 0.3.0
 */
export type StreamCursor = typeof StreamCursor.Type

/**
 * A replay job as stored. Times in ms since the epoch; `cursor` is the last entry id done in the
 * stream being replayed. `streams` lists every stream of a multi-stream layout the job reads, in
 * the order it reads them, each with its own cursor; a job without it (every job of the `single`
 * layout, and jobs recorded before 0.3) reads the layout's one stream.
 *
 * @category models
 * @since 0.2.0
 */
export const Job = Schema.Struct({
  id: Schema.String,
  status: JobStatus,
  from: Schema.Finite,
  to: Schema.Finite,
  types: Schema.optionalKey(Schema.Array(Schema.String)),
  pattern: Schema.optionalKey(Schema.String),
  tenantId: Schema.optionalKey(Schema.String),
  target: Target,
  batchSize: Schema.Int,
  rate: Schema.optionalKey(Schema.Finite),
  cursor: Schema.String,
  streams: Schema.optionalKey(Schema.Array(StreamCursor)),
  scanned: Schema.Int,
  matched: Schema.Int,
  replayed: Schema.Int,
  failed: Schema.Int,
  errors: Schema.Array(Schema.String),
  createdBy: Schema.String,
  createdAt: Schema.Finite,
  updatedAt: Schema.Finite,
  startedAt: Schema.optionalKey(Schema.Finite),
  finishedAt: Schema.optionalKey(Schema.Finite),
  owner: Schema.optionalKey(Schema.String),
  heartbeatAt: Schema.optionalKey(Schema.Finite)
})

/**
 * @category models
 * @since 0.2.0
 */
export type Job = typeof Job.Type

/**
 * Progress of a job: counts, position, percent of the range done (monotone, 100 at the end) and
 * the estimated time left.
 *
 * @category models
 * @since 0.2.0
 */
export interface Progress {
  readonly jobId: string
  readonly status: JobStatus
  readonly scanned: number
  readonly matched: number
  readonly replayed: number
  readonly failed: number
  readonly position: string
  readonly percent: number
  readonly etaMs: number | undefined
}

/**
 * What to replay and where.
 *
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** Start of the range (ms, inclusive). Defaults to the oldest event available. */
  readonly from?: number | undefined
  /** End of the range (ms, inclusive). Defaults to now, when the job starts. */
  readonly to?: number | undefined
  /** Event types (names or event types); with `pattern`, both must match. */
  readonly types?: ReadonlyArray<EventType.Any | string> | undefined
  readonly pattern?: string | undefined
  readonly tenantId?: string | undefined
  readonly target: Target
  /** Events read per batch. Defaults to 200. */
  readonly batchSize?: number | undefined
  /** At most this many events per second. Defaults to unlimited. */
  readonly rate?: number | undefined
  /** Who asked (audit). Defaults to `"system"`. */
  readonly actor?: string | undefined
  /** The catalog type names are checked against. Defaults to the platform catalog. */
  readonly catalog?: Catalog.Catalog<EventType.Any> | undefined
}

/**
 * Options of `cancel`.
 *
 * @category models
 * @since 0.2.0
 */
export interface CancelOptions {
  /** Who asked (audit). Defaults to `"system"`. */
  readonly actor?: string | undefined
  /** How long to wait for a runner in another process to stop. Defaults to 30 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** A running job whose heartbeat is older than this has no live runner. Defaults to 30 seconds. */
  readonly staleAfter?: Duration.Input | undefined
}

/**
 * A replay into a handler, run in this fiber: events of `types`, decoded, with the marker set.
 *
 * @category models
 * @since 0.2.0
 */
export interface HandlerOptions<T extends EventType.Any, E, R> extends Omit<Options, "target" | "types"> {
  readonly types: ReadonlyArray<T>
  readonly handler: (event: Envelope.Envelope<T>) => Effect.Effect<void, E, R>
}

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/**
 * The replay asked for cannot run: `Range` (`from` after `to`), `UnknownType`, `UnknownGroup`,
 * `Option` (batch size, rate), `Target` (a handler job cannot be resumed), `Topology` (the bus is
 * migrating topology, or a resumed job's streams are not the topology's). Nothing was written.
 *
 * @category errors
 * @since 0.2.0
 */
export class InvalidReplay extends Schema.TaggedError<InvalidReplay>("@hyvve/bus/Replay/InvalidReplay")(
  "InvalidReplay",
  {
    reason: Schema.Literals(["Range", "UnknownType", "UnknownGroup", "Option", "Target", "Topology"]),
    detail: Schema.String
  }
) {
  override get message(): string {
    return `invalid replay (${this.reason}): ${this.detail}`
  }
}

/**
 * No job has this id.
 *
 * @category errors
 * @since 0.2.0
 */
export class JobNotFound extends Schema.TaggedError<JobNotFound>("@hyvve/bus/Replay/JobNotFound")("JobNotFound", {
  jobId: Schema.String
}) {
  override get message(): string {
    return `no replay job ${this.jobId}`
  }
}

/**
 * The job is running (its heartbeat is fresh): it cannot be started twice.
 *
 * @category errors
 * @since 0.2.0
 */
export class JobAlreadyRunning extends Schema.TaggedError<JobAlreadyRunning>("@hyvve/bus/Replay/JobAlreadyRunning")(
  "JobAlreadyRunning",
  { jobId: Schema.String, owner: Schema.String }
) {
  override get message(): string {
    return `replay job ${this.jobId} is running (owner ${this.owner})`
  }
}

/**
 * The job completed: there is nothing to resume.
 *
 * @category errors
 * @since 0.2.0
 */
export class JobFinished extends Schema.TaggedError<JobFinished>("@hyvve/bus/Replay/JobFinished")("JobFinished", {
  jobId: Schema.String,
  status: JobStatus
}) {
  override get message(): string {
    return `replay job ${this.jobId} is ${this.status}`
  }
}

/**
 * Redis or the store failed.
 *
 * @category errors
 * @since 0.2.0
 */
export type ReplayError = RedisStream.RedisStreamError | EventStore.EventStoreError

// ---------------------------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------------------------

/**
 * Replays past events.
 *
 * @category services
 * @since 0.2.0
 */
export class Replay extends Context.Service<
  Replay,
  {
    /** Validates, records the job and runs it in the background; returns the job id. */
    readonly start: (options: Options) => Effect.Effect<string, InvalidReplay | EventError.InvalidPattern | ReplayError>
    /** Validates, records the job and runs it here; returns the job as it ended. */
    readonly run: (options: Options) => Effect.Effect<Job, InvalidReplay | EventError.InvalidPattern | ReplayError>
    /** Runs a replay into `handler`, here; returns the job as it ended. */
    readonly runHandler: <T extends EventType.Any, E, R>(
      options: HandlerOptions<T, E, R>
    ) => Effect.Effect<Job, InvalidReplay | EventError.InvalidPattern | ReplayError, R>
    /** The job's progress, every `interval` (default 200 ms) while it changes, ending with its final status. */
    readonly progress: (
      jobId: string,
      options?: { readonly interval?: Duration.Input | undefined }
    ) => Stream.Stream<Progress, JobNotFound | ReplayError>
    /**
     * Cancels a job and returns it as it ended. From the call on, no runner starts another batch
     * of it (each checks before every batch and while it waits for `rate`); the batch in flight
     * is delivered and counted. Returns once the job is `cancelled` (or finished meanwhile): a
     * runner in this process is awaited; a runner in another process is awaited until it records
     * the end (for `timeout`, default 30 seconds: if it has not by then, the job comes back still
     * `running` and the runner stops at its next check); a job nobody runs (pending, failed, or a
     * heartbeat older than `staleAfter`, default 30 seconds) is marked `cancelled` here.
     */
    readonly cancel: (jobId: string, options?: CancelOptions) => Effect.Effect<Job, JobNotFound | ReplayError>
    /**
     * Resumes a job from its cursor in the background: a failed or cancelled one, or a running one
     * whose heartbeat is older than `staleAfter` (default 30 seconds: its process died).
     */
    readonly resume: (
      jobId: string,
      options?: { readonly actor?: string | undefined; readonly staleAfter?: Duration.Input | undefined }
    ) => Effect.Effect<void, JobNotFound | JobAlreadyRunning | JobFinished | InvalidReplay | ReplayError>
    /** Waits for a job running in this process to end; returns it as it ended (or as stored). */
    readonly await: (jobId: string) => Effect.Effect<Job, JobNotFound | ReplayError>
    readonly get: (jobId: string) => Effect.Effect<Job, JobNotFound | ReplayError>
    /** Jobs, newest first (default 50). */
    readonly list: (limit?: number) => Effect.Effect<ReadonlyArray<Job>, ReplayError>
  }
>()("@hyvve/bus/Replay") {}

// ---------------------------------------------------------------------------------------------
// implementation
// ---------------------------------------------------------------------------------------------

/** Larger than any sequence number Redis gives one millisecond in practice, and a valid bigint. */
const maxSeq = "999999999999"

const entryMs = (id: string): number => Number(id.slice(0, Math.max(0, id.indexOf("-"))) || id)

const before = (ms: number): string => (ms <= 0 ? "0-0" : `${ms - 1}-${maxSeq}`)

const prevEntryId = (id: string): string => {
  const dash = id.indexOf("-")
  const ms = Number(id.slice(0, dash))
  const seq = Number(id.slice(dash + 1))
  return seq > 0 ? `${ms}-${seq - 1}` : before(ms)
}

const isTerminal = (status: JobStatus): boolean => status === "completed" || status === "cancelled"

/**
 * The progress of a job: over several streams, each stream is an equal share of the whole.
 *
 * @category utils
 * @since 0.2.0
 */
export const progressOf = (job: Job, now: number): Progress => {
  const span = Math.max(1, job.to - job.from)
  const inStream = Math.max(
    0,
    Math.min(1, (Math.min(entryMs(job.cursor), job.to) - job.from + (job.cursor.endsWith(maxSeq) ? 1 : 0)) / span)
  )
  const streams = job.streams ?? []
  const done = job.status === "completed" ?
    1 :
    streams.length === 0 ?
    inStream :
    Math.min(1, (streams.filter((s) => s.done).length + (streams.every((s) => s.done) ? 0 : inStream)) / streams.length)
  const elapsed = job.startedAt === undefined ? 0 : now - job.startedAt
  return {
    jobId: job.id,
    status: job.status,
    scanned: job.scanned,
    matched: job.matched,
    replayed: job.replayed,
    failed: job.failed,
    position: job.cursor,
    percent: Math.floor(done * 1000) / 10,
    etaMs: job.status === "running" && done > 0 ? Math.round((elapsed * (1 - done)) / done) : undefined
  }
}

const decodeJob = Schema.decodeUnknownEffect(Job)
const decodeProgress = Schema.decodeUnknownOption(
  Schema.fromJsonString(Schema.Struct({ cursor: Schema.String, scanned: Schema.Int, matched: Schema.Int }))
)
const encodeJob = Schema.encodeSync(Job)

interface JobStore {
  readonly insert: (job: Job) => Effect.Effect<void, ReplayError>
  /** Delivers `commands` and saves the job: atomically with Redis jobs, in that order otherwise. */
  readonly save: (job: Job, commands: ReadonlyArray<RedisStream.Command>) => Effect.Effect<void, ReplayError>
  readonly get: (id: string) => Effect.Effect<Option.Option<Job>, ReplayError>
  readonly list: (limit: number) => Effect.Effect<ReadonlyArray<Job>, ReplayError>
}

const corrupt = (operation: string, detail: string) =>
  new EventStore.EventStoreError({ operation, kind: "Failed", detail: `unreadable job record: ${detail}` })

const storeJobs = (store: EventStore.EventStore["Service"], redis: RedisStream.RedisStream["Service"]): JobStore => {
  const decode = (operation: string, record: EventStore.JobRecord) =>
    decodeJob(record.document).pipe(Effect.mapError((e) => corrupt(operation, e.message)))
  const record = (job: Job): EventStore.JobRecord => ({
    id: job.id,
    status: job.status,
    createdAt: job.createdAt,
    document: encodeJob(job)
  })
  return {
    insert: (job) => store.jobs.insert(record(job)),
    save: (job, commands) =>
      Effect.andThen(commands.length === 0 ? Effect.void : redis.transaction(commands), store.jobs.update(record(job))),
    get: (id) =>
      Effect.flatMap(store.jobs.get(id), (found) =>
        Option.isNone(found) ? Effect.succeed(Option.none()) : Effect.map(decode("jobs.get", found.value), Option.some)),
    list: (limit) => Effect.flatMap(store.jobs.list(limit), (records) => Effect.forEach(records, (r) => decode("jobs.list", r)))
  }
}

// `base`: `Keys.replay(prefix)`, hash-tagged in tagged layouts (the job record and its index are
// written in one step, so they must share a Redis Cluster slot).
const redisJobs = (redis: RedisStream.RedisStream["Service"], base: string, tagged: boolean): JobStore => {
  const hash = `${base}:jobs`
  const index = `${base}:jobs:index`
  const parse = (raw: string) =>
    Schema.decodeUnknownEffect(Schema.fromJsonString(Job))(raw).pipe(
      Effect.mapError((e) => corrupt("jobs.get", e.message))
    )
  const hset = (job: Job): RedisStream.Command => ({ _tag: "HSet", key: hash, field: job.id, value: JSON.stringify(encodeJob(job)) })
  return {
    insert: (job) => Effect.asVoid(redis.transaction([hset(job), { _tag: "XAdd", key: index, fields: { id: job.id } }])),
    // Tagged layouts: the targets share their stream's slot, not the job's, so they are two steps
    // (delivered, then saved: at most once more after a crash, as with the store).
    save: (job, commands) =>
      tagged && commands.length > 0 ?
        Effect.andThen(redis.transaction(commands), redis.transaction([hset(job)])) :
        Effect.asVoid(redis.transaction([...commands, hset(job)])),
    get: (id) =>
      Effect.flatMap(redis.hashGet(hash, [id]), ([raw]) =>
        raw === undefined ? Effect.succeed(Option.none()) : Effect.map(parse(raw), Option.some)),
    list: (limit) =>
      Effect.gen(function*() {
        const entries = yield* redis.range({ key: index, start: "-", end: "+", count: limit, reverse: true })
        const ids = entries.flatMap((e) => (e.fields["id"] === undefined ? [] : [e.fields["id"]]))
        if (ids.length === 0) return []
        const raws = yield* redis.hashGet(hash, ids)
        const out: Array<Job> = []
        for (const raw of raws) if (raw !== undefined) out.push(yield* parse(raw))
        return out
      })
  }
}

/** An event selected for replay, with its envelope JSON carrying the marker. */
interface Selected {
  readonly event: EventStore.StoredEvent
  readonly json: string
}

/**
 * Envelope JSON with the replay marker set: the envelope as published (`object`, from Redis) or
 * rebuilt in the envelope's field order (from the archive, for handler targets).
 */
const markedJson = (object: object | undefined, event: EventStore.StoredEvent, jobId: string): string =>
  object === undefined ?
    Shared.markedEnvelope(event, jobId) :
    JSON.stringify({ ...object, replay: { jobId, originalEventId: event.replay?.originalEventId ?? event.id } })

/**
 * Creates the replay service.
 *
 * @category constructors
 * @since 0.2.0
 */
export const make = Effect.gen(function*() {
  const redis = yield* RedisStream.RedisStream
  const settings = yield* BusConfig.BusConfig
  const store = yield* EventStore.EventStore
  const hasStore = store.backend !== "none"
  const layout = Topology.of(settings)
  const jobsBase = layout.tagged ? `${settings.prefix}:events:{${settings.prefix}:replay}` : Keys.replay(settings.prefix)
  const jobs = hasStore ? storeJobs(store, redis) : redisJobs(redis, jobsBase, layout.tagged)
  // A job reads its streams one after the other (`Job.streams`; jobs without it read the
  // layout's one stream), each to its end, so there is no order across streams.
  const primary = layout.streams[0]!
  const multi = layout.streams.length > 1 || layout.topology._tag !== "Single"
  const streamsOf = (job: Job): ReadonlyArray<StreamCursor> =>
    job.streams ?? [{ key: primary.key, cursor: job.cursor, done: job.status === "completed" }]
  /** The stream a job replays now (the last one once it completed). */
  const currentKey = (job: Job): string => {
    const streams = streamsOf(job)
    return (streams.find((s) => !s.done) ?? streams[streams.length - 1]!).key
  }
  /** The job with `cursor` as its position in its current stream. */
  const withCursor = (job: Job, cursor: string): Job => {
    if (job.streams === undefined) return { ...job, cursor }
    const key = currentKey(job)
    return { ...job, cursor, streams: job.streams.map((s) => (s.key === key ? { ...s, cursor } : s)) }
  }
  /** The job once its current stream is done: on to the next one, or completed. */
  const streamDone = (job: Job, cursor: string, at: number): Job => {
    if (job.streams === undefined) return { ...job, cursor, status: "completed", finishedAt: at }
    const key = currentKey(job)
    const streams = job.streams.map((s) => (s.key === key ? { ...s, cursor, done: true } : s))
    const next = streams.find((s) => !s.done)
    return next === undefined ?
      { ...job, cursor, streams, status: "completed", finishedAt: at } :
      { ...job, cursor: next.cursor, streams }
  }
  const cancelKey = (jobId: string) => `${jobsBase}:cancel:${jobId}`
  // PENDING-row writers (see `pendingWriter`). Made before `running`, so on shutdown the jobs
  // stop first (ending their writers' queues), then the rows queued are written (10 s at most).
  const writers = yield* FiberSet.make<void>()
  yield* Effect.addFinalizer(() => FiberSet.awaitEmpty(writers).pipe(Effect.timeoutOption("10 seconds")))
  const running = yield* FiberMap.make<string, Job, ReplayError>()
  const owner = `${settings.consumer}:${randomUUID().slice(0, 8)}`
  const annotations = { package: "@hyvve/bus", module: "Replay" }

  const audit = (action: string, actor: string, job: Job) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) => {
      const details = {
        from: job.from,
        to: job.to,
        types: job.types,
        pattern: job.pattern,
        tenantId: job.tenantId,
        target: job.target,
        scanned: job.scanned,
        replayed: job.replayed
      }
      return hasStore ?
        store.audit({ at, actor, action, subject: job.id, details }) :
        Effect.logInfo("audit").pipe(Effect.annotateLogs({ ...annotations, action, actor, jobId: job.id, ...details }))
    })

  // Progress the server recorded with each copied batch (`copyForReplay`), in one step with the
  // copies: a job record is saved after its batch, so after a crash the progress can be ahead.
  // Named from the stream key, so it shares the stream's hash tag (and Redis Cluster slot) with
  // the stream and the redeliver streams the same step appends to.
  // Only the stream a job is in can be ahead of its record: a stream's last batch is saved.
  const progressKey = (streamKey: string) => `${streamKey}:replay-progress`
  const withProgress = (job: Job, raw: string | undefined): Job => {
    if (raw === undefined || isTerminal(job.status)) return job
    const recorded = decodeProgress(raw)
    if (Option.isNone(recorded) || EventStore.compareEntryIds(recorded.value.cursor, job.cursor) <= 0) return job
    const { cursor, matched, scanned } = recorded.value
    return { ...withCursor(job, cursor), scanned, matched, replayed: job.replayed + matched - job.matched }
  }

  /** A stream's progress as `copyForReplay` records it (`withProgress` reads it back). */
  const progressValue = (cursor: string, job: Job) => JSON.stringify({ cursor, scanned: job.scanned, matched: job.matched })

  /**
   * The batch's envelopes, types and tenants as texts of one line each; none when one of them
   * holds a line break (JSON text has none unescaped; a tenant id might).
   */
  const linesOf = (marked: ReadonlyArray<EventStore.MarkedEvent>): RedisStream.Fields | undefined =>
    marked.some((m) => m.json.includes("\n") || m.type.includes("\n") || m.tenantId.includes("\n")) ?
      undefined :
      {
        event: marked.map((m) => m.json).join("\n"),
        type: marked.map((m) => m.type).join("\n"),
        tenant: marked.map((m) => m.tenantId).join("\n")
      }

  /** The job as stored, with the progress recorded since its record was saved. */
  const loadJob = (jobId: string) =>
    Effect.flatMap(jobs.get(jobId), (found) =>
      Option.isNone(found) ?
        Effect.succeed(found) :
        Effect.map(redis.hashGet(progressKey(currentKey(found.value)), [jobId]), ([raw]) =>
          Option.some(withProgress(found.value, raw))))

  const getJob = (jobId: string) =>
    Effect.flatMap(loadJob(jobId), (found) =>
      Option.isNone(found) ? Effect.fail(new JobNotFound({ jobId })) : Effect.succeed(found.value))

  const listJobs = (limit: number) =>
    Effect.flatMap(jobs.list(limit), (listed) =>
      listed.length === 0 ?
        Effect.succeed(listed) :
        // One read per progress key (a stream's hash tag: one slot each).
        Effect.gen(function*() {
          const byKey = new Map<string, Array<number>>()
          for (const [i, job] of listed.entries()) {
            const key = progressKey(currentKey(job))
            byKey.set(key, [...(byKey.get(key) ?? []), i])
          }
          const out = [...listed]
          for (const [key, indexes] of byKey) {
            const raws = yield* redis.hashGet(key, indexes.map((i) => listed[i]!.id))
            for (const [n, i] of indexes.entries()) out[i] = withProgress(listed[i]!, raws[n])
          }
          return out
        }))

  /** A job that ended needs its recorded progress no more (best effort: it is ignored anyway). */
  const finish = (job: Job) =>
    Effect.as(
      Effect.forEach(streamsOf(job), (s) =>
        Effect.ignore(redis.transaction([{ _tag: "HDel", key: progressKey(s.key), fields: [job.id] }])), { discard: true }),
      job
    )

  // --- validation ---------------------------------------------------------------------------

  const validate = (options: Options, target: Target) =>
    Effect.gen(function*() {
      // The previous layout's streams and the archive would both hold the events not yet
      // drained: replaying both could deliver an event twice, so a migration finishes first.
      if (Topology.previousOf(settings) !== undefined) {
        return yield* new InvalidReplay({
          reason: "Topology",
          detail: `the bus is migrating from ${
            Topology.format(settings.previousTopology ?? Topology.single)
          } to ${Topology.format(settings.topology)}; replay once the previous layout's streams are drained and the previous topology is unset`
        })
      }
      const batchSize = options.batchSize ?? 200
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
        return yield* new InvalidReplay({ reason: "Option", detail: `batchSize must be an integer in 1..10000, got ${batchSize}` })
      }
      if (options.rate !== undefined && !(options.rate > 0)) {
        return yield* new InvalidReplay({ reason: "Option", detail: `rate must be positive, got ${options.rate}` })
      }
      const now = yield* Clock.currentTimeMillis
      const to = options.to ?? now
      if (options.from !== undefined && options.from > to) {
        return yield* new InvalidReplay({ reason: "Range", detail: `from (${options.from}) is after to (${to})` })
      }
      const catalog = options.catalog ?? Catalog.platform
      const types: Array<string> = []
      for (const t of options.types ?? []) {
        if (typeof t !== "string") types.push(t.type)
        else if (Option.isSome(catalog.get(t))) types.push(t)
        else return yield* new InvalidReplay({ reason: "UnknownType", detail: `no event type "${t}" in the catalog` })
      }
      const pattern = options.pattern === undefined ? undefined : yield* EventPattern.make(options.pattern)
      let streams = streamsFor(options.types === undefined ? undefined : types, pattern, options.tenantId, catalog)
      if (target._tag === "Group") {
        const holding: Array<Topology.StreamKeys> = []
        for (const stream of streams) {
          if ((yield* redis.groups(stream.key)).some((g) => g.name === target.group)) holding.push(stream)
        }
        if (holding.length === 0) {
          const where = streams.length === 1 ? streams[0]!.key : `the streams of ${Topology.format(settings.topology)}`
          return yield* new InvalidReplay({ reason: "UnknownGroup", detail: `no group "${target.group}" on ${where}` })
        }
        // A group reads only the streams it has a group on: the others' events never reach it.
        streams = holding
      }
      const from = options.from ?? (yield* oldest(streams))
      const job: Job = {
        id: `rpl_${randomUUID()}`,
        status: "pending",
        from,
        to,
        ...(options.types === undefined ? {} : { types }),
        ...(options.pattern === undefined ? {} : { pattern: options.pattern }),
        ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
        target,
        batchSize,
        ...(options.rate === undefined ? {} : { rate: options.rate }),
        cursor: before(from),
        ...(multi ? { streams: streams.map((s) => ({ key: s.key, cursor: before(from), done: false })) } : {}),
        scanned: 0,
        matched: 0,
        replayed: 0,
        failed: 0,
        errors: [],
        createdBy: options.actor ?? "system",
        createdAt: now,
        updatedAt: now
      }
      return job
    })

  /**
   * The streams that can hold the events asked for, in layout order: those of the types (or of
   * the catalog's types the pattern matches; every stream when neither is given), and of a
   * tenant partitioned by tenant, its partition only.
   */
  const streamsFor = (
    types: ReadonlyArray<string> | undefined,
    pattern: EventPattern.EventPattern | undefined,
    tenantId: string | undefined,
    catalog: Catalog.Catalog<EventType.Any>
  ): ReadonlyArray<Topology.StreamKeys> => {
    if (!multi) return [primary]
    const named = pattern === undefined ? types : (types ?? catalog.names).filter((t) => EventPattern.matches(pattern, t))
    const streams = named === undefined ? layout.streams : layout.streamsFor(named)
    const { topology } = layout
    if (tenantId === undefined || topology._tag !== "Partitioned" || topology.by !== "tenant") return streams
    const home = layout.route({ type: "", tenantId }).key
    return streams.filter((s) => s.key === home)
  }

  // The oldest position held anywhere: the archive's first event, else the streams' first entry.
  const oldest = (streams: ReadonlyArray<Topology.StreamKeys>) =>
    Effect.gen(function*() {
      if (hasStore) {
        const [first] = yield* store.scan({ filter: {}, after: "0-0", through: `${Number.MAX_SAFE_INTEGER}-0`, limit: 1 })
        if (first !== undefined) return entryMs(first.entryId)
      }
      let out: number | undefined
      for (const stream of streams) {
        const [head] = yield* redis.range({ key: stream.key, start: "-", end: "+", count: 1 })
        if (head !== undefined) out = Math.min(out ?? Infinity, entryMs(head.id))
      }
      return out ?? 0
    })

  // --- execution ----------------------------------------------------------------------------

  interface Batch {
    /** Events still to deliver (the archive, entries the server cannot copy, handler jobs). */
    readonly selected: ReadonlyArray<Selected>
    /** Archived events whose marked envelopes the store built (group targets: no parse here). */
    readonly marked?: ReadonlyArray<EventStore.MarkedEvent> | undefined
    /** Events the server already copied to the targets (`copyForReplay`). */
    readonly copied: ReadonlyArray<Pick<EventStore.StoredEvent, "id" | "type" | "tenantId">>
    /** Copied by the server: delivered, and its progress recorded with the copies. */
    readonly byServer: boolean
    readonly scanned: number
    readonly cursor: string
    readonly done: boolean
  }

  const matcher = (job: Job) =>
    Effect.map(EventStore.typeMatcher({ types: job.types, pattern: job.pattern }), (matchesType) => ({
      matchesType,
      matches: (type: string, tenant: string | undefined) => matchesType(type) && (job.tenantId === undefined || tenant === job.tenantId)
    }))

  type Group = { readonly group: string; readonly matches: (type: string) => boolean }

  /**
   * Copies a batch of the Redis segment inside the server: targets are the groups' redeliver
   * streams, and each type is routed once, the first time the server meets it.
   */
  const copier = (
    job: Job,
    stream: Topology.StreamKeys,
    matchesType: (type: string) => boolean,
    groups: ReadonlyArray<Group>
  ) => {
    const targets = groups.map((g) => stream.redeliver(g.group))
    const routes = new Map<string, ReadonlyArray<number>>()
    const route = (type: string) =>
      matchesType(type) ? groups.flatMap((g, i) => (g.matches(type) ? [i] : [])) : []
    return (from: Job, through: string, firstAtMost: string | undefined) =>
      Effect.gen(function*() {
        while (true) {
          const result = yield* redis.copyForReplay({
            key: stream.key,
            start: RedisStream.nextEntryId(from.cursor),
            end: through,
            count: from.batchSize,
            targets,
            routes,
            tenant: job.tenantId,
            jobId: job.id,
            progress: { key: progressKey(stream.key), field: job.id, scanned: from.scanned, matched: from.matched },
            firstAtMost
          })
          if (result.stop?._tag === "Trimmed") return { _tag: "Trimmed" } satisfies Copied
          if (result.stop?._tag === "UnknownType") routes.set(result.stop.type, route(result.stop.type))
          if (result.passed > 0 || result.exhausted) {
            return {
              _tag: "Copied",
              batch: {
                selected: [],
                byServer: true,
                copied: result.copied.map((c) => ({ id: c.eventId, type: c.type, tenantId: c.tenant })),
                scanned: result.passed,
                cursor: result.exhausted || result.cursor === undefined ? through : result.cursor,
                done: result.exhausted
              }
            } satisfies Copied
          }
          // Stopped at the first entry: copy again once its type is routed, else read it here.
          if (result.stop?._tag !== "UnknownType") return { _tag: "ReadHere" } satisfies Copied
        }
      })
  }

  /** What a server copy did: a batch, nothing (read the next entry here), or nothing as retention trimmed past the job. */
  type Copied = { readonly _tag: "Copied"; readonly batch: Batch } | { readonly _tag: "ReadHere" } | { readonly _tag: "Trimmed" }

  /**
   * A page of the archive after `after` through `through`: `limit` events, or more to end on a
   * whole entry id (`last`, undefined once nothing is left). Entry ids are unique within one
   * stream only: streams written in the same millisecond hold the same ids, and the next page
   * starts after `last`, so a page that ended between two events of one id would skip the rest.
   */
  const archivePage = <A extends { readonly entryId: string }, E>(
    scan: (from: string, to: string, count: number) => Effect.Effect<ReadonlyArray<A>, E>,
    after: string,
    through: string,
    limit: number
  ) =>
    Effect.gen(function*() {
      // One more than asked tells whether the page ends on a whole id (a second query only if not).
      const events = yield* scan(after, through, limit + 1)
      if (events.length <= limit) return { events, last: undefined }
      const last = events[limit - 1]!.entryId
      if (EventStore.compareEntryIds(events[limit]!.entryId, last) !== 0) return { events: events.slice(0, limit), last }
      // Every event at `last`: one per stream that had that id (few; the query is indexed).
      let size = limit + 1
      let tied = yield* scan(prevEntryId(last), last, size)
      while (tied.length === size) {
        size *= 2
        tied = yield* scan(prevEntryId(last), last, size)
      }
      return { events: [...events.filter((e) => EventStore.compareEntryIds(e.entryId, last) < 0), ...tied], last }
    })

  const nextBatch = (
    job: Job,
    stream: Topology.StreamKeys,
    matches: (type: string, tenant: string | undefined) => boolean,
    copy: ((from: Job, through: string, firstAtMost: string | undefined) => Effect.Effect<Copied, RedisStream.RedisStreamError>) | undefined,
    ready: Effect.Effect<void>
  ) =>
    Effect.gen(function*() {
      const through = `${job.to}-${maxSeq}`
      const filter: EventStore.EventFilter = { types: job.types, pattern: job.pattern, tenantId: job.tenantId }
      if (EventStore.compareEntryIds(job.cursor, through) >= 0) {
        return { selected: [], copied: [], byServer: false, scanned: 0, cursor: through, done: true } satisfies Batch
      }
      const start = RedisStream.nextEntryId(job.cursor)
      // Once more whenever retention trimmed past the job's position between choosing the
      // boundary and reading Redis: the trimmed entries are read from the archive.
      while (true) {
        // With an archive, Redis is read from `start` only while its first entry is at or before
        // this: the one seen when the boundary was chosen (everything older is in the archive).
        let firstAtMost: string | undefined
        if (hasStore) {
          const [head] = yield* redis.range({ key: stream.key, start: "-", end: "+", count: 1 })
          const archiveThrough = head === undefined || EventStore.compareEntryIds(prevEntryId(head.id), through) > 0 ?
            through :
            prevEntryId(head.id)
          if (EventStore.compareEntryIds(job.cursor, archiveThrough) < 0) {
            // The pattern was checked when the job was created.
            const range = (from: string, to: string, count: number) => ({ filter, after: from, through: to, limit: count })
            // Group targets of a one-stream layout get the envelopes as PostgreSQL writes them; a
            // handler needs the events, and routing events among streams needs them too.
            if (copy !== undefined && !multi) {
              const page = yield* archivePage(
                (from, to, count) =>
                  store.scanMarked({ ...range(from, to, count), jobId: job.id }).pipe(Effect.catchTag("InvalidPattern", Effect.die)),
                job.cursor,
                archiveThrough,
                job.batchSize
              )
              const marked = page.events
              if (page.last !== undefined) {
                return { selected: [], marked, copied: [], byServer: false, scanned: marked.length, cursor: page.last, done: false } satisfies Batch
              }
              return {
                selected: [],
                marked,
                copied: [],
                byServer: false,
                scanned: marked.length,
                cursor: archiveThrough,
                done: archiveThrough === through
              } satisfies Batch
            }
            const { events, last } = yield* archivePage(
              (from, to, count) => store.scan(range(from, to, count)).pipe(Effect.catchTag("InvalidPattern", Effect.die)),
              job.cursor,
              archiveThrough,
              job.batchSize
            )
            // The archive holds every stream's events: this stream's are those the layout routes here.
            const mine = multi ? events.filter((event) => layout.route(event).key === stream.key) : events
            const selected = mine.map((event) => ({ event, json: markedJson(undefined, event, job.id) }))
            if (last !== undefined) {
              return { selected, copied: [], byServer: false, scanned: mine.length, cursor: last, done: false } satisfies Batch
            }
            return { selected, copied: [], byServer: false, scanned: mine.length, cursor: archiveThrough, done: archiveThrough === through } satisfies Batch
          }
          // Here the cursor is at or past the boundary, which is before `through`: there is a head.
          if (head !== undefined) firstAtMost = EventStore.compareEntryIds(head.id, start) > 0 ? head.id : start
        }
        if (copy !== undefined) {
          yield* ready
          const copied = yield* copy(job, through, firstAtMost)
          if (copied._tag === "Copied") return copied.batch
          if (copied._tag === "Trimmed") continue
        }
        // Read here: handler jobs, and one entry the server would not copy as bytes.
        const count = copy === undefined ? job.batchSize : 1
        const entries = yield* redis.range({ key: stream.key, start, end: through, count })
        if (firstAtMost !== undefined) {
          // Asked after the read: trimming removes a prefix, so a first entry at or before the
          // bound now means none of the entries read were missing then.
          const [kept] = yield* redis.range({ key: stream.key, start: "-", end: firstAtMost, count: 1 })
          if (kept === undefined) continue
        }
        const selected: Array<Selected> = []
        for (const entry of entries) {
          const type = entry.fields["type"]
          const tenant = entry.fields["tenant"]
          if (type !== undefined && tenant !== undefined && !matches(type, tenant)) continue
          const parsed = Shared.parseEntry(entry)
          if (parsed === undefined || !matches(parsed.event.type, parsed.event.tenantId)) continue
          selected.push({ event: parsed.event, json: markedJson(parsed.object, parsed.event, job.id) })
        }
        const done = entries.length < count
        return {
          selected,
          copied: [],
          byServer: false,
          scanned: entries.length,
          cursor: done ? through : entries[entries.length - 1]!.id,
          done
        } satisfies Batch
      }
    })

  // Groups of a stream whose registered subscription matches a type (target `Matching`).
  const matchingGroups = (streamKey: string) => Effect.gen(function*() {
    const groups = (yield* redis.groups(streamKey)).map((g) => g.name).filter((name) => name !== History.archiverGroup)
    const sources = yield* Registry.sources(redis, settings.prefix, groups)
    const out: Array<Group> = []
    for (let i = 0; i < groups.length; i++) {
      const source = sources[i]
      const name = groups[i]!
      if (source === undefined) {
        yield* Effect.logWarning("group has no registered subscription; not a replay target").pipe(
          Effect.annotateLogs({ ...annotations, group: name })
        )
        continue
      }
      if (!EventPattern.isPattern(source)) {
        out.push({ group: name, matches: (type) => type === source })
        continue
      }
      const pattern = yield* Effect.option(EventPattern.make(source))
      if (Option.isSome(pattern)) out.push({ group: name, matches: (type) => EventPattern.matches(pattern.value, type) })
    }
    return out
  })

  const commandsFor = (job: Job, stream: Topology.StreamKeys, batch: Batch, groups: ReadonlyArray<Group>) => {
    const commands: Array<RedisStream.Command> = []
    for (const event of batch.marked ?? []) {
      const fields = { event: event.json, type: event.type, tenant: event.tenantId, replay: job.id }
      for (const g of groups) {
        if (g.matches(event.type)) commands.push({ _tag: "XAdd", key: stream.redeliver(g.group), fields })
      }
    }
    const selected = batch.selected
    for (const { event, json } of selected) {
      const fields = { event: json, type: event.type, tenant: event.tenantId, replay: job.id }
      for (const g of groups) {
        if (g.matches(event.type)) commands.push({ _tag: "XAdd", key: stream.redeliver(g.group), fields })
      }
    }
    return commands
  }

  const retryRedisOrStore = Schedule.exponential("100 millis", 1.5).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(5)))),
    Schedule.upTo({ duration: Duration.seconds(30) })
  )

  /**
   * `PENDING` rows of a group target, written in the background, one write at a time: rows of the
   * batches delivered meanwhile go together into the next write, and the queue bounds how far
   * the store may fall behind (then the replay waits). The writer outlives its job (it drains
   * the queue after the job ended) and the layer waits for it on shutdown. Best effort, like the
   * status writer: a failed write is logged.
   */
  const pendingWriter = (group: string) =>
    Effect.gen(function*() {
      const queue = yield* Queue.bounded<Pick<EventStore.StoredEvent, "id" | "type" | "tenantId">, Cause.Done>(50_000)
      yield* FiberSet.run(
        writers,
        Stream.fromQueue(queue).pipe(
          Stream.runForEachArray((events) =>
            Clock.currentTimeMillis.pipe(
              Effect.flatMap((at) => store.recordPending(group, events, at)),
              Effect.catch((error) =>
                Effect.logWarning("could not record the replay's PENDING deliveries").pipe(
                  Effect.annotateLogs({ ...annotations, group, events: events.length, error: error.message })
                )
              )
            )
          )
        )
      )
      return {
        offer: (events: ReadonlyArray<Pick<EventStore.StoredEvent, "id" | "type" | "tenantId">>) =>
          events.length === 0 ? Effect.void : Effect.asVoid(Queue.offerAll(queue, events)),
        /** No more rows: the writer ends once it wrote what is queued. */
        close: Effect.asVoid(Queue.end(queue))
      }
    })

  /** Waits out a rate limit, ending early when the job is cancelled (checked every 200 ms). */
  const pause = (jobId: string, duration: Duration.Duration) =>
    redis.markersExist([cancelKey(jobId)]).pipe(
      Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: ([cancelled]) => cancelled === true }),
      Effect.timeoutOption(duration),
      Effect.asVoid
    )

  /** The job once `batch` is delivered. */
  const advance = (job: Job, batch: Batch, failed: number, errors: ReadonlyArray<string>, at: number): Job => {
    const matched = batch.selected.length + batch.copied.length + (batch.marked?.length ?? 0)
    const counted: Job = {
      ...job,
      scanned: job.scanned + batch.scanned,
      matched: job.matched + matched,
      replayed: job.replayed + matched - failed,
      failed: job.failed + failed,
      errors: [...job.errors, ...errors].slice(-10),
      updatedAt: at,
      heartbeatAt: at
    }
    return batch.done ? streamDone(counted, batch.cursor, at) : withCursor(counted, batch.cursor)
  }

  type Deliver<R> = (
    selected: ReadonlyArray<Selected>,
    job: Job
  ) => Effect.Effect<{ readonly failed: number; readonly errors: ReadonlyArray<string> }, never, R>

  type Pending = { readonly offer: (events: ReadonlyArray<Pick<EventStore.StoredEvent, "id" | "type" | "tenantId">>) => Effect.Effect<void> }

  /** The keys of a stream a job names (its layout's; a family outside the catalog from its types). */
  const resolve = (job: Job, key: string): Topology.StreamKeys | undefined =>
    layout.find(key) ?? layout.streamsFor(job.types ?? []).find((s) => s.key === key)

  /**
   * Replays the job's current stream from its cursor to its end (then the job moves on to its
   * next stream, or completes), or until it is cancelled; returns the job as it stands then.
   */
  const executeStream = <R>(
    initial: Job,
    stream: Topology.StreamKeys,
    deliverTo: Deliver<R>,
    pending: Pending | undefined
  ): Effect.Effect<Job, ReplayError, R> =>
    Effect.gen(function*() {
      const { matches, matchesType } = yield* Effect.orDie(matcher(initial))
      let groups: ReadonlyArray<Group> = []
      if (initial.target._tag === "Group") {
        const name = initial.target.group
        yield* redis.createGroup(stream.redeliver(name), name, "0")
        groups = [{ group: name, matches: () => true }]
      } else if (initial.target._tag === "Matching") {
        groups = yield* matchingGroups(stream.key)
        for (const g of groups) yield* redis.createGroup(stream.redeliver(g.group), g.group, "0")
      }
      // Group targets are copied by the server; a handler needs the events here.
      const copy = initial.target._tag === "Handler" ? undefined : copier(initial, stream, matchesType, groups)
      let job = initial
      let savedAt = initial.updatedAt
      // The next batch is read (or copied) while the current one is delivered and saved.
      const fetch = (from: Job, ready: Effect.Effect<void>) =>
        nextBatch(from, stream, matches, copy, ready).pipe(Supervision.retry({ schedule: retryRedisOrStore, while: (e) => e.isRetryable }))
      let batch = yield* fetch(job, Effect.void)
      while (true) {
        const [cancelled] = yield* redis.markersExist([cancelKey(job.id)])
        const now = yield* Clock.currentTimeMillis
        if (cancelled === true) {
          // A batch the server copied is delivered: it counts, and a resume starts after it.
          if (batch.byServer) job = advance(job, batch, 0, [], now)
          job = { ...job, status: "cancelled", updatedAt: now, finishedAt: now }
          yield* jobs.save(job, [])
          return job
        }
        const handled = initial.target._tag === "Handler" ? yield* deliverTo(batch.selected, job) : { failed: 0, errors: [] }
        // Into one group, archived envelopes go to Redis as one text (see `appendLines`).
        const lines = batch.marked !== undefined && batch.marked.length > 0 && initial.target._tag === "Group" ?
          linesOf(batch.marked) :
          undefined
        const commands = commandsFor(job, stream, lines === undefined ? batch : { ...batch, marked: [] }, groups)
        const matched = batch.selected.length + batch.copied.length + (batch.marked?.length ?? 0)
        job = advance(job, batch, handled.failed, handled.errors, yield* Clock.currentTimeMillis)
        const current = batch
        const saved = job
        // A copy of the next batch waits until this one's events are in the targets (order).
        const delivered = yield* Deferred.make<void>()
        // The server records the progress of what it copies, and an archive batch for groups
        // records it with its copies: the job record need not follow every such batch (once a
        // second keeps its heartbeat fresh for `resume`). A stream's last batch is always saved:
        // only the stream a job is in reads its recorded progress.
        const fromArchive = current.marked !== undefined && current.marked.length > 0
        const progress = { key: progressKey(stream.key), field: saved.id, value: progressValue(current.cursor, saved) }
        const deliver: Effect.Effect<void, RedisStream.RedisStreamError> = lines === undefined ?
          Effect.asVoid(redis.transaction([...commands, { _tag: "HSet", ...progress }])) :
          Effect.asVoid(redis.appendLines({
            key: stream.redeliver(groups[0]!.group),
            count: current.marked!.length,
            lines,
            fields: { replay: job.id },
            hashSet: progress
          }))
        const recordDue = !(current.byServer || fromArchive) || current.done || job.updatedAt - savedAt >= 1000
        const save = !recordDue ?
          (fromArchive ? deliver : Effect.void) :
          Effect.tap(
            fromArchive ? Effect.andThen(deliver, jobs.save(saved, [])) : jobs.save(saved, commands),
            () => Effect.sync(() => (savedAt = saved.updatedAt))
          )
        const [, next] = yield* Effect.all([
          save.pipe(
            Supervision.retry({ schedule: retryRedisOrStore, while: (e) => e.isRetryable }),
            Effect.andThen(Deferred.succeed(delivered, undefined)),
            Effect.andThen(
              pending === undefined ?
                Effect.void :
                pending.offer([...current.copied, ...(current.marked ?? []), ...current.selected.map((s) => s.event)])
            )
          ),
          current.done ? Effect.succeed(current) : fetch(saved, commands.length > 0 || lines !== undefined ? Deferred.await(delivered) : Effect.void)
        ], { concurrency: 2 })
        if (current.done) return job
        if (job.rate !== undefined && matched > 0) yield* pause(job.id, Duration.millis((matched / job.rate) * 1000))
        batch = next
      }
    })

  /** Runs a job from its cursor until it completes, is cancelled or fails; returns it as it ended. */
  const execute = <R>(initial: Job, deliverTo: Deliver<R>): Effect.Effect<Job, ReplayError, R> =>
    Effect.gen(function*() {
      const pending = hasStore && initial.target._tag === "Group" ? yield* pendingWriter(initial.target.group) : undefined
      if (pending !== undefined) yield* Effect.addFinalizer(() => pending.close)
      let job = initial
      // Stream after stream: each keeps its order, and a resume continues in the one it was in.
      while (job.status === "running") {
        const next = streamsOf(job).find((s) => !s.done)
        if (next === undefined) {
          const now = yield* Clock.currentTimeMillis
          job = { ...job, status: "completed", updatedAt: now, finishedAt: now }
          yield* jobs.save(job, [])
          break
        }
        const stream = resolve(job, next.key)
        // `resume` checks the keys: a job is only run with streams of this layout.
        if (stream === undefined) return yield* Effect.die(`replay job ${job.id} names a stream outside the layout: ${next.key}`)
        job = yield* executeStream(job, stream, deliverTo, pending)
      }
      if (job.status === "completed") {
        yield* Effect.logInfo("replay completed").pipe(
          Effect.annotateLogs({ ...annotations, jobId: job.id, scanned: job.scanned, replayed: job.replayed, failed: job.failed })
        )
      }
      return yield* finish(job)
    }).pipe(
      Effect.tapError((error) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const current = yield* Effect.orElseSucceed(loadJob(initial.id), () => Option.none<Job>())
          const base = Option.getOrElse(current, () => initial)
          yield* Effect.ignore(jobs.save({ ...base, status: "failed", errors: [...base.errors, error.message].slice(-10), updatedAt: now }, []))
          yield* Effect.logError("replay failed; resume it to continue from its cursor").pipe(
            Effect.annotateLogs({ ...annotations, jobId: initial.id, error: error.message })
          )
        })
      ),
      Effect.scoped,
      Effect.annotateLogs({ ...annotations, jobId: initial.id })
    )

  const begin = (job: Job) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const started: Job = { ...job, status: "running", owner, startedAt: job.startedAt ?? now, heartbeatAt: now, updatedAt: now }
      return Effect.as(jobs.save(started, []), started)
    })

  const create = (options: Options, target: Target) =>
    Effect.gen(function*() {
      const job = yield* validate(options, target)
      yield* jobs.insert(job)
      yield* audit("replay.start", job.createdBy, job)
      yield* Effect.logInfo("replay started").pipe(Effect.annotateLogs({ ...annotations, jobId: job.id, target: target._tag }))
      return yield* begin(job)
    })

  const noHandler = () => Effect.succeed({ failed: 0, errors: [] as ReadonlyArray<string> })

  const start = (options: Options) =>
    Effect.gen(function*() {
      const job = yield* create(options, options.target)
      yield* FiberMap.run(running, job.id, execute(job, noHandler), { onlyIfMissing: true })
      return job.id
    })

  const run = (options: Options) => Effect.flatMap(create(options, options.target), (job) => execute(job, noHandler))

  const runHandler = <T extends EventType.Any, E, R>(options: HandlerOptions<T, E, R>) =>
    Effect.gen(function*() {
      const byType = new Map<string, EventType.Any>(options.types.map((t) => [t.type, t]))
      const job = yield* create({ ...options, target: { _tag: "Handler" } }, { _tag: "Handler" })
      return yield* execute(job, (selected) =>
        Effect.gen(function*() {
          let failed = 0
          const errors: Array<string> = []
          for (const { event, json } of selected) {
            const eventType = byType.get(event.type)
            const raw = Shared.decodeRaw(json)
            const decoded = eventType === undefined || raw === undefined ? undefined : EventType.fromRaw(eventType, raw)
            if (decoded === undefined || Exit.isFailure(decoded)) {
              failed++
              errors.push(`${event.id}: could not decode`)
              continue
            }
            // `decoded` was decoded with the event type of its name, one of `T`.
            const exit = yield* Effect.exit(options.handler(decoded.value as Envelope.Envelope<T>))
            if (Exit.isFailure(exit)) {
              failed++
              errors.push(`${event.id}: handler failed`)
            }
          }
          return { failed, errors }
        }))
    })

  const progress = (jobId: string, options?: { readonly interval?: Duration.Input | undefined }) => {
    const interval = Duration.fromInputUnsafe(options?.interval ?? "200 millis")
    return Stream.paginate(
      undefined as Progress | undefined,
      (last) =>
        Effect.gen(function*() {
          if (last !== undefined) yield* Effect.sleep(interval)
          const job = yield* getJob(jobId)
          const now = yield* Clock.currentTimeMillis
          const current = progressOf(job, now)
          const changed = last === undefined || last.status !== current.status || last.position !== current.position ||
            last.failed !== current.failed
          const out: ReadonlyArray<Progress> = changed ? [current] : []
          const finished = isTerminal(job.status) || (job.status === "failed" && !(yield* FiberMap.has(running, jobId)))
          return [out, finished ? Option.none() : Option.some(changed ? current : last)] as const
        })
    )
  }

  const cancel = (jobId: string, options?: CancelOptions) =>
    Effect.gen(function*() {
      const job = yield* getJob(jobId)
      if (isTerminal(job.status)) return job
      yield* redis.setMarker(cancelKey(jobId), Duration.days(7))
      yield* audit("replay.cancel", options?.actor ?? "system", job)
      const local = yield* FiberMap.get(running, jobId)
      if (Option.isSome(local)) {
        const exit = yield* Fiber.await(local.value)
        if (Exit.isSuccess(exit)) return exit.value
      }
      // Not running here: wait for a live runner elsewhere to see the marker and record the end.
      const staleAfter = Duration.toMillis(Duration.fromInputUnsafe(options?.staleAfter ?? "30 seconds"))
      const observe = Effect.gen(function*() {
        const current = yield* getJob(jobId)
        const now = yield* Clock.currentTimeMillis
        return { current, live: current.status === "running" && now - (current.heartbeatAt ?? current.updatedAt) < staleAfter }
      })
      const settled = yield* observe.pipe(
        Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: ({ current, live }) => isTerminal(current.status) || !live }),
        Effect.timeoutOption(options?.timeout ?? "30 seconds")
      )
      // Still running when the wait ended: the marker stays, its runner stops at its next check.
      if (Option.isNone(settled)) return yield* getJob(jobId)
      const { current, live } = settled.value
      if (isTerminal(current.status) || live) return current
      // Nobody runs it (never started, failed, or its process died): cancelled here.
      const now = yield* Clock.currentTimeMillis
      const cancelled: Job = { ...current, status: "cancelled", updatedAt: now, finishedAt: now }
      yield* jobs.save(cancelled, [])
      return yield* finish(cancelled)
    })

  const resume = (
    jobId: string,
    options?: { readonly actor?: string | undefined; readonly staleAfter?: Duration.Input | undefined }
  ) =>
    Effect.gen(function*() {
      const job = yield* getJob(jobId)
      if (job.status === "completed") return yield* new JobFinished({ jobId, status: job.status })
      if (job.target._tag === "Handler") {
        return yield* new InvalidReplay({ reason: "Target", detail: "a replay into a handler cannot be resumed; run it again" })
      }
      // Its cursors are positions in its streams: under another topology they mean nothing.
      if (job.streams === undefined ? multi : job.streams.some((s) => s.done === false && resolve(job, s.key) === undefined)) {
        return yield* new InvalidReplay({
          reason: "Topology",
          detail: `job ${jobId} read streams the topology ${Topology.format(settings.topology)} does not have; start a new replay`
        })
      }
      const now = yield* Clock.currentTimeMillis
      const staleAfter = Duration.toMillis(Duration.fromInputUnsafe(options?.staleAfter ?? "30 seconds"))
      const local = yield* FiberMap.has(running, jobId)
      if (local || (job.status === "running" && now - (job.heartbeatAt ?? job.updatedAt) < staleAfter)) {
        return yield* new JobAlreadyRunning({ jobId, owner: job.owner ?? "unknown" })
      }
      yield* redis.deleteKeys([cancelKey(jobId)])
      yield* audit("replay.resume", options?.actor ?? "system", job)
      const started = yield* begin(job)
      yield* Effect.logInfo("replay resumed").pipe(Effect.annotateLogs({ ...annotations, jobId, cursor: job.cursor }))
      yield* FiberMap.run(running, jobId, execute(started, noHandler), { onlyIfMissing: true })
    })

  const awaitJob = (jobId: string) =>
    Effect.gen(function*() {
      const local = yield* FiberMap.get(running, jobId)
      if (Option.isSome(local)) {
        const exit = yield* Fiber.await(local.value)
        if (Exit.isSuccess(exit)) return exit.value
      }
      return yield* getJob(jobId)
    })

  return Replay.of({
    start,
    run,
    runHandler,
    progress,
    cancel,
    resume,
    await: awaitJob,
    get: getJob,
    list: (limit) => listJobs(limit ?? 50)
  })
})

/**
 * Provides `Replay`; needs the bus's Redis and config and an `EventStore` (`layerNone` for none).
 *
 * @category layers
 * @since 0.2.0
 */
export const layer: Layer.Layer<Replay, never, RedisStream.RedisStream | BusConfig.BusConfig | EventStore.EventStore> =
  Layer.effect(Replay, make)

/**
 * Starts a replay through the `Replay` in context.
 *
 * @category accessors
 * @since 0.2.0
 */
export const start = (options: Options) => Replay.use((replay) => replay.start(options))

/**
 * Runs a replay to its end through the `Replay` in context.
 *
 * @category accessors
 * @since 0.2.0
 */
export const run = (options: Options) => Replay.use((replay) => replay.run(options))

/**
 * Runs a replay into a handler through the `Replay` in context.
 *
 * @category accessors
 * @since 0.2.0
 */
export const runHandler = <T extends EventType.Any, E, R>(options: HandlerOptions<T, E, R>) =>
  Replay.use((replay) => replay.runHandler(options))

/**
 * A job's progress through the `Replay` in context.
 *
 * @category accessors
 * @since 0.2.0
 */
export const progress = (jobId: string, options?: { readonly interval?: Duration.Input | undefined }) =>
  Stream.unwrap(Replay.useSync((replay) => replay.progress(jobId, options)))

/**
 * @category accessors
 * @since 0.2.0
 */
export const cancel = (jobId: string, options?: CancelOptions) =>
  Replay.use((replay) => replay.cancel(jobId, options))

/**
 * @category accessors
 * @since 0.2.0
 */
export const resume = (
  jobId: string,
  options?: { readonly actor?: string | undefined; readonly staleAfter?: Duration.Input | undefined }
) => Replay.use((replay) => replay.resume(jobId, options))

/**
 * Waits for a job running in this process to end, through the `Replay` in context.
 *
 * @category accessors
 * @since 0.2.0
 */
export const awaitJob = (jobId: string) => Replay.use((replay) => replay.await(jobId))

/**
 * @category accessors
 * @since 0.2.0
 */
export const list = (limit?: number) => Replay.use((replay) => replay.list(limit))

/**
 * @category accessors
 * @since 0.2.0
 */
export const get = (jobId: string) => Replay.use((replay) => replay.get(jobId))
