/**
 * The admin API, defined once: the server (`AdminServer`) implements it, the OpenAPI document and
 * docs page are derived from it, and the CLI, the monitoring page's data and the tests call it
 * through `HttpApiClient`. This module holds only the definition (schemas, errors, the security
 * middleware's tag), so a client imports no server code.
 *
 * Groups: `health` (public, no payloads), `spec` (AsyncAPI), `stats` (with `me`: who the token
 * is), `dlq`, `replay` (jobs: start, list, status, progress as server-sent events, cancel,
 * resume), `history` (an event with its deliveries, the causation tree of a correlation id: the
 * event store's routes, `StoreNotConfigured` without one), `live` (server-sent events: the page's
 * updates and `hyvve tail`) and `metrics` (Prometheus text).
 *
 * @since 0.1.0
 */
import { Dlq, EventStore, Replay } from "@hyvve/bus"
import { Context, Schema } from "effect"
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "effect/http-api"

// ---------------------------------------------------------------------------------------------
// principals
// ---------------------------------------------------------------------------------------------

/**
 * What a principal may do: `admin` and `owner` read and mutate, `viewer` reads.
 *
 * @category models
 * @since 0.1.0
 */
export const Role = Schema.Literals(["admin", "owner", "viewer"])
/**
 * @category models
 * @since 0.1.0
 */
export type Role = typeof Role.Type

/**
 * Who is calling: from a configured bearer token or a verified JWT. A principal with a
 * `tenantId` sees and changes only that tenant's events and DLQ entries.
 *
 * @category models
 * @since 0.1.0
 */
export class PrincipalInfo extends Schema.Class<PrincipalInfo>("@hyvve/admin/PrincipalInfo")({
  id: Schema.String,
  role: Role,
  tenantId: Schema.optionalKey(Schema.String)
}) {}

/**
 * The principal of the current request, provided by the `Authorization` middleware.
 *
 * @category services
 * @since 0.1.0
 */
export class Principal extends Context.Service<Principal, PrincipalInfo>()("@hyvve/admin/Principal") {}

/**
 * Whether a role may change state (retry, delete, purge).
 *
 * @category predicates
 * @since 0.1.0
 */
export const canMutate = (role: Role): boolean => role === "admin" || role === "owner"

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/**
 * No token, or one no verifier accepts (401).
 *
 * @category errors
 * @since 0.1.0
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>("@hyvve/admin/Unauthorized")(
  "Unauthorized",
  { message: Schema.String },
  { httpApiStatus: 401 }
) {}

/**
 * The principal's role or tenant does not allow the call (403).
 *
 * @category errors
 * @since 0.1.0
 */
export class Forbidden extends Schema.TaggedError<Forbidden>("@hyvve/admin/Forbidden")(
  "Forbidden",
  { message: Schema.String },
  { httpApiStatus: 403 }
) {}

/**
 * No DLQ entry with this id (or none the principal's tenant may see) (404).
 *
 * @category errors
 * @since 0.1.0
 */
export class NotFound extends Schema.TaggedError<NotFound>("@hyvve/admin/NotFound")(
  "NotFound",
  { message: Schema.String, id: Schema.String },
  { httpApiStatus: 404 }
) {}

/**
 * The request is well formed but cannot be carried out as asked, naming the field (400): e.g. a
 * DLQ entry the NestJS bus wrote needs `group` to be re-driven; a purge with no filter needs
 * `all: true`.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("@hyvve/admin/InvalidRequest")(
  "InvalidRequest",
  { message: Schema.String, field: Schema.String },
  { httpApiStatus: 400 }
) {}

/**
 * Redis did not answer or rejected a command (503).
 *
 * @category errors
 * @since 0.1.0
 */
export class Unavailable extends Schema.TaggedError<Unavailable>("@hyvve/admin/Unavailable")(
  "Unavailable",
  { message: Schema.String },
  { httpApiStatus: 503 }
) {}

/**
 * The call conflicts with the state of its target (409): e.g. resuming a replay job that is running
 * or completed.
 *
 * @category errors
 * @since 0.2.0
 */
export class Conflict extends Schema.TaggedError<Conflict>("@hyvve/admin/Conflict")(
  "Conflict",
  { message: Schema.String },
  { httpApiStatus: 409 }
) {}

/**
 * The route needs the event store and none is configured (503): set `DATABASE_URL`. Replay still
 * works without one (it reads Redis and keeps its jobs there).
 *
 * @category errors
 * @since 0.2.0
 */
export class StoreNotConfigured extends Schema.TaggedError<StoreNotConfigured>("@hyvve/admin/StoreNotConfigured")(
  "StoreNotConfigured",
  { message: Schema.String },
  { httpApiStatus: 503 }
) {}

// ---------------------------------------------------------------------------------------------
// security
// ---------------------------------------------------------------------------------------------

/**
 * Bearer-token authentication for every route but `/health/events`. The server's implementation
 * (`Auth.layer`) maps the token to a `Principal`; clients provide `Auth.layerClient(token)`.
 *
 * @category security
 * @since 0.1.0
 */
export class Authorization extends HttpApiMiddleware.Service<Authorization, { provides: Principal }>()(
  "@hyvve/admin/Authorization",
  {
    security: { bearer: HttpApiSecurity.bearer },
    error: Unauthorized,
    requiredForClient: true
  }
) {}

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * The public health summary: no payloads, no tenant data.
 *
 * @category models
 * @since 0.1.0
 */
export class HealthSummary extends Schema.Class<HealthSummary>("@hyvve/admin/HealthSummary")({
  healthy: Schema.Boolean,
  reasons: Schema.Array(Schema.String),
  redis: Schema.Struct({ reachable: Schema.Boolean, latencyMs: Schema.optionalKey(Schema.Finite) }),
  groups: Schema.Array(Schema.Struct({
    name: Schema.String,
    consumers: Schema.Int,
    pending: Schema.Int,
    lag: Schema.optionalKey(Schema.Int)
  })),
  circuits: Schema.Array(Schema.Struct({ group: Schema.String, circuit: Schema.String })),
  dlq: Schema.Struct({ size: Schema.Int, maxLength: Schema.Int, usage: Schema.Finite })
}) {}

/**
 * One consumer of a group.
 *
 * @category models
 * @since 0.1.0
 */
export const ConsumerStats = Schema.Struct({ name: Schema.String, pending: Schema.Int, idleMs: Schema.Int })

/**
 * One consumer group on the main stream.
 *
 * @category models
 * @since 0.1.0
 */
export const GroupStats = Schema.Struct({
  name: Schema.String,
  /** Entries not yet delivered to the group (absent when Redis cannot tell, e.g. after a trim). */
  lag: Schema.optionalKey(Schema.Int),
  pending: Schema.Int,
  /** Milliseconds since the oldest pending entry was added to the stream. */
  oldestPendingAgeMs: Schema.optionalKey(Schema.Int),
  lastDeliveredId: Schema.String,
  consumers: Schema.Array(ConsumerStats)
})

/**
 * Events appended per window, counted from the entry ids (their millisecond timestamps), newest
 * first. `exact` is false when the day held more entries than one stats call reads (50,000): the
 * counts are then floors (the day's is still exact when the whole stream is younger than a day).
 *
 * @category models
 * @since 0.1.0
 */
export const Throughput = Schema.Struct({
  lastMinute: Schema.Int,
  lastHour: Schema.Int,
  last24h: Schema.Int,
  exact: Schema.Boolean,
  /** Events per minute over the last hour, oldest first (60 buckets). */
  perMinute: Schema.Array(Schema.Int)
})

/**
 * The stream, its groups, the DLQ and the throughput, at `at`.
 *
 * @category models
 * @since 0.1.0
 */
export class Stats extends Schema.Class<Stats>("@hyvve/admin/Stats")({
  at: Schema.String,
  stream: Schema.Struct({
    key: Schema.String,
    length: Schema.Int,
    firstEntryId: Schema.optionalKey(Schema.String),
    firstEntryAt: Schema.optionalKey(Schema.String),
    lastEntryId: Schema.optionalKey(Schema.String),
    lastEntryAt: Schema.optionalKey(Schema.String)
  }),
  throughput: Throughput,
  groups: Schema.Array(GroupStats),
  dlq: Schema.Struct({
    size: Schema.Int,
    maxLength: Schema.Int,
    /** `size / maxLength` as a percentage. */
    percent: Schema.Finite,
    nearLimit: Schema.Boolean
  })
}) {}

/**
 * A DLQ entry as the API shows it. For a tenant-scoped principal only its tenant's entries exist.
 *
 * @category models
 * @since 0.1.0
 */
// The bus's own DLQ entry, with the error flattened into two fields for the API's readers.
const { error: _error, ...dlqEntryFields } = Dlq.DlqEntry.fields

export class DlqItem extends Schema.Class<DlqItem>("@hyvve/admin/DlqItem")({
  ...dlqEntryFields,
  errorTag: Schema.String,
  errorMessage: Schema.String
}) {}

/**
 * One page of DLQ entries, oldest first; `next` is the cursor of the following page.
 *
 * @category models
 * @since 0.1.0
 */
export class DlqPage extends Schema.Class<DlqPage>("@hyvve/admin/DlqPage")({
  entries: Schema.Array(DlqItem),
  next: Schema.optionalKey(Schema.String)
}) {}

/**
 * The envelope of a DLQ entry checked against the current catalog: `decoded` is the event as it
 * decodes today, or `decodeError` says why it does not.
 *
 * @category models
 * @since 0.1.0
 */
export class DlqDetail extends Schema.Class<DlqDetail>("@hyvve/admin/DlqDetail")({
  entry: DlqItem,
  decodes: Schema.Boolean,
  decoded: Schema.optionalKey(Schema.Unknown),
  decodeError: Schema.optionalKey(Schema.String)
}) {}

/**
 * The outcome of a retry: with `dryRun`, only whether the entry decodes (nothing moves).
 *
 * @category models
 * @since 0.1.0
 */
export class RetryResult extends Schema.Class<RetryResult>("@hyvve/admin/RetryResult")({
  id: Schema.String,
  dryRun: Schema.Boolean,
  decodes: Schema.Boolean,
  decodeError: Schema.optionalKey(Schema.String),
  group: Schema.optionalKey(Schema.String),
  /** The new delivery's entry id (absent on a dry run). */
  newEntryId: Schema.optionalKey(Schema.String)
}) {}

const Text = Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(200)))

/**
 * The DLQ filters (query of the list, body of the purge).
 *
 * @category models
 * @since 0.1.0
 */
export const DlqFilter = {
  type: Schema.optionalKey(Text),
  group: Schema.optionalKey(Text),
  tenant: Schema.optionalKey(Text)
}

/**
 * The body of a purge: a filter, or `all: true` to purge every entry the principal may see.
 *
 * @category models
 * @since 0.1.0
 */
export const PurgeRequest = Schema.Struct({ ...DlqFilter, all: Schema.optionalKey(Schema.Boolean) })

/**
 * The body of a retry.
 *
 * @category models
 * @since 0.1.0
 */
export const RetryRequest = Schema.Struct({
  /** Only decode the entry against the current schema; nothing moves. */
  dryRun: Schema.optionalKey(Schema.Boolean),
  /** The group to re-drive to, for entries that do not name one (written by the NestJS bus). */
  group: Schema.optionalKey(Text)
})

/**
 * One event of the main stream as `tail` shows it.
 *
 * @category models
 * @since 0.1.0
 */
export const TailEvent = Schema.Struct({
  _tag: Schema.tag("Event"),
  entryId: Schema.String,
  type: Schema.String,
  id: Schema.optionalKey(Schema.String),
  tenantId: Schema.optionalKey(Schema.String),
  timestamp: Schema.optionalKey(Schema.String),
  correlationId: Schema.optionalKey(Schema.String),
  data: Schema.optionalKey(Schema.Unknown)
})
/**
 * @category models
 * @since 0.1.0
 */
export type TailEvent = typeof TailEvent.Type

/**
 * Sent when a tail starts and every 15 s while nothing else is: the connection is alive.
 *
 * @category models
 * @since 0.1.0
 */
export const TailHeartbeat = Schema.Struct({ _tag: Schema.tag("Heartbeat"), at: Schema.String })

/**
 * What `GET /admin/events/tail` streams.
 *
 * @category models
 * @since 0.1.0
 */
export const TailMessage = Schema.Union([TailEvent, TailHeartbeat])
/**
 * @category models
 * @since 0.1.0
 */
export type TailMessage = typeof TailMessage.Type


/**
 * A replay job as stored (the bus's `Replay.Job`) with its progress.
 *
 * @category models
 * @since 0.2.0
 */
export const ReplayProgress = Schema.Struct({
  jobId: Schema.String,
  status: Replay.JobStatus,
  scanned: Schema.Int,
  matched: Schema.Int,
  replayed: Schema.Int,
  failed: Schema.Int,
  /** The last entry id done. */
  position: Schema.String,
  /** Of the job's time range, monotone, 100 when it completed. */
  percent: Schema.Finite,
  etaMs: Schema.optionalKey(Schema.Finite)
})
/**
 * @category models
 * @since 0.2.0
 */
export type ReplayProgress = typeof ReplayProgress.Type

/**
 * A replay job and where it stands.
 *
 * @category models
 * @since 0.2.0
 */
export class ReplayJob extends Schema.Class<ReplayJob>("@hyvve/admin/ReplayJob")({
  job: Replay.Job,
  progress: ReplayProgress
}) {}

/**
 * What the monitoring page receives every few seconds: the stats, the first DLQ page for its
 * filters and the latest replay jobs (the principal's tenant's only, for a scoped token).
 *
 * @category models
 * @since 0.1.0
 */
export const LiveUpdate = Schema.Struct({ stats: Stats, dlq: DlqPage, replays: Schema.Array(ReplayJob) })

const Millis = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)))

/**
 * The body of `POST /admin/events/replay`. Without `group`, every group whose subscription
 * matches an event receives it; `from`/`to` are ms since the epoch (inclusive; defaults: the
 * oldest event held, now). A tenant-scoped principal replays its own tenant only.
 *
 * @category models
 * @since 0.2.0
 */
export const ReplayRequest = Schema.Struct({
  from: Schema.optionalKey(Millis),
  to: Schema.optionalKey(Millis),
  types: Schema.optionalKey(Schema.Array(Text).pipe(Schema.check(Schema.isMaxLength(100)))),
  pattern: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9_.*-]{1,200}$/)))),
  tenant: Schema.optionalKey(Text),
  group: Schema.optionalKey(Text),
  batchSize: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 10_000 })))),
  rate: Schema.optionalKey(Schema.Finite.pipe(Schema.check(Schema.isGreaterThan(0))))
})
/**
 * @category models
 * @since 0.2.0
 */
export type ReplayRequest = typeof ReplayRequest.Type

/**
 * An archived event with its deliveries, one per group (from the event store).
 *
 * @category models
 * @since 0.2.0
 */
export class EventDetail extends Schema.Class<EventDetail>("@hyvve/admin/EventDetail")({
  event: EventStore.StoredEvent,
  deliveries: Schema.Array(EventStore.Delivery)
}) {}

/**
 * One node of a causation tree: an event, its deliveries and the events published while handling
 * it.
 *
 * @category models
 * @since 0.2.0
 */
export const TraceNode = Schema.Struct({
  event: EventStore.StoredEvent,
  deliveries: Schema.Array(EventStore.Delivery),
  children: Schema.Array(Schema.suspend((): Schema.Codec<EventStore.TraceNode> => TraceNode))
})

/**
 * Everything under one correlation id, as causation trees in stream order. For a tenant-scoped
 * principal, other tenants' events are left out (their visible descendants move up a level).
 *
 * @category models
 * @since 0.2.0
 */
export class Trace extends Schema.Class<Trace>("@hyvve/admin/Trace")({
  correlationId: Schema.String,
  roots: Schema.Array(TraceNode),
  size: Schema.Int
}) {}

// ---------------------------------------------------------------------------------------------
// groups
// ---------------------------------------------------------------------------------------------

/**
 * A DLQ entry id (a stream entry id, `<ms>-<seq>`).
 *
 * @category models
 * @since 0.1.0
 */
export const DlqId = Schema.String.pipe(Schema.check(Schema.isPattern(/^\d{1,20}-\d{1,20}$/)))
const Limit = Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 500 })))
const Pattern = Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9_.*-]{1,200}$/)))

/**
 * `GET /health/events`: public.
 *
 * @category groups
 * @since 0.1.0
 */
export class HealthGroup extends HttpApiGroup.make("health").add(
  HttpApiEndpoint.get("health", "/health/events", { success: HealthSummary })
).annotateMerge(OpenApi.annotations({ title: "Health", description: "Public health, no payloads" })) {}

/**
 * `GET /asyncapi.json`: the AsyncAPI 3 document of the bus's events (public, no data).
 *
 * @category groups
 * @since 0.1.0
 */
export class SpecGroup extends HttpApiGroup.make("spec").add(
  HttpApiEndpoint.get("asyncapi", "/asyncapi.json", { success: Schema.Record(Schema.String, Schema.Unknown) })
).annotateMerge(OpenApi.annotations({ title: "AsyncAPI", description: "The events, from the catalog's schemas" })) {}

/**
 * `GET /admin/events/stats`.
 *
 * @category groups
 * @since 0.1.0
 */
export class StatsGroup extends HttpApiGroup.make("stats").add(
  HttpApiEndpoint.get("stats", "/admin/events/stats", { success: Stats, error: [Forbidden, Unavailable] }),
  HttpApiEndpoint.get("me", "/admin/events/me", { success: PrincipalInfo })
).middleware(Authorization).annotateMerge(OpenApi.annotations({ title: "Stats" })) {}

/**
 * The dead-letter queue.
 *
 * @category groups
 * @since 0.1.0
 */
export class DlqGroup extends HttpApiGroup.make("dlq").add(
  HttpApiEndpoint.get("list", "/admin/events/dlq", {
    query: { ...DlqFilter, cursor: Schema.optionalKey(DlqId), limit: Schema.optionalKey(Limit) },
    success: DlqPage,
    error: [Forbidden, Unavailable]
  }),
  HttpApiEndpoint.get("get", "/admin/events/dlq/:id", {
    params: { id: DlqId },
    success: DlqDetail,
    error: [Forbidden, NotFound, Unavailable]
  }),
  HttpApiEndpoint.post("retry", "/admin/events/dlq/:id/retry", {
    params: { id: DlqId },
    payload: RetryRequest,
    success: RetryResult,
    error: [Forbidden, NotFound, InvalidRequest, Unavailable]
  }),
  HttpApiEndpoint.delete("delete", "/admin/events/dlq/:id", {
    params: { id: DlqId },
    success: Schema.Struct({ id: Schema.String, deleted: Schema.Boolean }),
    error: [Forbidden, NotFound, Unavailable]
  }),
  HttpApiEndpoint.post("purge", "/admin/events/dlq/purge", {
    payload: PurgeRequest,
    success: Schema.Struct({ purged: Schema.Int }),
    error: [Forbidden, InvalidRequest, Unavailable]
  })
).middleware(Authorization).annotateMerge(OpenApi.annotations({ title: "Dead-letter queue" })) {}

/**
 * A replay job id (`rpl_<uuid>`).
 *
 * @category models
 * @since 0.2.0
 */
export const JobId = Schema.String.pipe(Schema.check(Schema.isPattern(/^rpl_[0-9a-f-]{36}$/)))

/**
 * Replay jobs: start one, list them, one job's status, its progress as server-sent events (ending
 * with its final status), cancel and resume. A tenant-scoped principal sees, starts and changes
 * only its tenant's jobs.
 *
 * @category groups
 * @since 0.2.0
 */
export class ReplayGroup extends HttpApiGroup.make("replay").add(
  HttpApiEndpoint.post("start", "/admin/events/replay", {
    payload: ReplayRequest,
    success: ReplayJob.pipe(HttpApiSchema.status(201)),
    error: [Forbidden, InvalidRequest, Unavailable]
  }),
  HttpApiEndpoint.get("list", "/admin/events/replay", {
    query: { limit: Schema.optionalKey(Limit) },
    success: Schema.Array(ReplayJob),
    error: [Forbidden, Unavailable]
  }),
  HttpApiEndpoint.get("get", "/admin/events/replay/:jobId", {
    params: { jobId: JobId },
    success: ReplayJob,
    error: [Forbidden, NotFound, Unavailable]
  }),
  HttpApiEndpoint.get("progress", "/admin/events/replay/:jobId/progress", {
    params: { jobId: JobId },
    success: HttpApiSchema.StreamSse({ data: ReplayProgress }),
    error: [Forbidden, NotFound, Unavailable]
  }),
  HttpApiEndpoint.post("cancel", "/admin/events/replay/:jobId/cancel", {
    params: { jobId: JobId },
    success: ReplayJob,
    error: [Forbidden, NotFound, Unavailable]
  }),
  HttpApiEndpoint.post("resume", "/admin/events/replay/:jobId/resume", {
    params: { jobId: JobId },
    success: ReplayJob,
    error: [Forbidden, NotFound, Conflict, InvalidRequest, Unavailable]
  })
).middleware(Authorization).annotateMerge(OpenApi.annotations({ title: "Replay" })) {}

const EventIdParam = Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9_:.-]{1,200}$/)))

/**
 * The event store's history: one event with its per-group deliveries, and the causation tree of
 * a correlation id. Without a store both answer `StoreNotConfigured` (503).
 *
 * @category groups
 * @since 0.2.0
 */
export class HistoryGroup extends HttpApiGroup.make("history").add(
  HttpApiEndpoint.get("trace", "/admin/events/trace/:correlationId", {
    params: { correlationId: EventIdParam },
    success: Trace,
    error: [Forbidden, NotFound, StoreNotConfigured, Unavailable]
  }),
  HttpApiEndpoint.get("event", "/admin/events/:id", {
    params: { id: EventIdParam },
    success: EventDetail,
    error: [Forbidden, NotFound, StoreNotConfigured, Unavailable]
  })
).middleware(Authorization).annotateMerge(OpenApi.annotations({ title: "History (event store)" })) {}

/**
 * Server-sent events: the page's live updates and the live tail of the main stream.
 *
 * @category groups
 * @since 0.1.0
 */
export class LiveGroup extends HttpApiGroup.make("live").add(
  HttpApiEndpoint.get("updates", "/admin/events/live", {
    query: { ...DlqFilter },
    success: HttpApiSchema.StreamSse({ data: LiveUpdate }),
    error: [Forbidden]
  }),
  HttpApiEndpoint.get("tail", "/admin/events/tail", {
    query: { pattern: Schema.optionalKey(Pattern) },
    success: HttpApiSchema.StreamSse({ data: TailMessage }),
    error: [Forbidden]
  })
).middleware(Authorization).annotateMerge(OpenApi.annotations({ title: "Live" })) {}

/**
 * `GET /metrics`: Prometheus text (any role).
 *
 * @category groups
 * @since 0.1.0
 */
export class MetricsGroup extends HttpApiGroup.make("metrics").add(
  HttpApiEndpoint.get("metrics", "/metrics", {
    success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain; version=0.0.4; charset=utf-8" })),
    error: Forbidden
  })
).middleware(Authorization).annotateMerge(OpenApi.annotations({ title: "Metrics" })) {}

/**
 * The admin API. Request decoding failures answer 400 with a problem body listing each issue
 * with the path of the field (`HttpApiMiddleware.ProblemDetails`).
 *
 * @category api
 * @since 0.1.0
 */
export class AdminApi extends HttpApi.make("hyvve-admin")
  .add(HealthGroup)
  .add(SpecGroup)
  .add(StatsGroup)
  .add(DlqGroup)
  .add(ReplayGroup)
  .add(HistoryGroup)
  .add(LiveGroup)
  .add(MetricsGroup)
  .middleware(HttpApiMiddleware.ProblemDetails)
  .annotateMerge(OpenApi.annotations({
    title: "HYVVE event bus admin API",
    description: "Health, stats, the dead-letter queue, replay, history and metrics of the HYVVE event bus"
  }))
{}
