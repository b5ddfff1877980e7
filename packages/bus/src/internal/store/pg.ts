/**
 * The PostgreSQL event store over `@effect/sql-pg`.
 *
 * Every table lives in one schema of its own (`hyvve` by default; tests use one per run), set as
 * the connection's `search_path`, so statements name tables unqualified. Migrations run through
 * `effect/sql`'s `Migrator` (its table is locked for the run, so two processes starting at once
 * apply each migration once); they run at start and again before the first operation after a
 * failed start, so the bus starts while Postgres is down and the store comes up with it.
 *
 * Batches travel as one JSON parameter expanded with `jsonb_to_recordset`: one round trip and one
 * statement per batch, whatever its size.
 */
import { PgClient } from "@effect/sql-pg"
import { EventPattern } from "@hyvve/schema"
import { Duration, Effect, Layer, Option, Redacted, Schema, Semaphore } from "effect"
import { Migrator, SqlClient, type SqlError } from "effect/sql"
import * as EventStore from "../../EventStore.ts"
import * as Shared from "./shared.ts"

// ---------------------------------------------------------------------------------------------
// migrations
// ---------------------------------------------------------------------------------------------

const migrations = Migrator.fromRecord({
  "1_history": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE events (
        id text PRIMARY KEY,
        entry_id text NOT NULL,
        entry_ms bigint NOT NULL,
        entry_seq bigint NOT NULL,
        type text NOT NULL,
        version text NOT NULL,
        source text NOT NULL,
        tenant_id text NOT NULL,
        user_id text NOT NULL,
        correlation_id text NOT NULL,
        causation_id text,
        traceparent text,
        replay jsonb,
        occurred_at timestamptz NOT NULL,
        data jsonb NOT NULL,
        archived_at timestamptz NOT NULL DEFAULT now()
      )`,
      sql`CREATE INDEX events_position ON events (entry_ms, entry_seq)`,
      sql`CREATE INDEX events_tenant_time ON events (tenant_id, occurred_at)`,
      sql`CREATE INDEX events_type_position ON events (type, entry_ms, entry_seq)`,
      sql`CREATE INDEX events_correlation ON events (correlation_id)`,
      sql`CREATE INDEX events_time ON events (occurred_at)`,
      sql`CREATE TABLE deliveries (
        event_id text NOT NULL,
        grp text NOT NULL,
        status text NOT NULL CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'DLQ')),
        attempts integer NOT NULL,
        type text,
        tenant_id text,
        error_tag text,
        error_message text,
        first_attempt_at timestamptz NOT NULL,
        last_attempt_at timestamptz NOT NULL,
        processed_at timestamptz,
        PRIMARY KEY (event_id, grp)
      )`,
      sql`CREATE INDEX deliveries_group_status ON deliveries (grp, status)`,
      sql`CREATE INDEX deliveries_type_status ON deliveries (type, status)`,
      sql`CREATE INDEX deliveries_tenant_time ON deliveries (tenant_id, last_attempt_at)`,
      sql`CREATE TABLE replay_jobs (
        id text PRIMARY KEY,
        status text NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        document jsonb NOT NULL
      )`,
      sql`CREATE INDEX replay_jobs_created ON replay_jobs (created_at DESC)`,
      sql`CREATE TABLE audit (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        subject text NOT NULL,
        details jsonb NOT NULL
      )`,
      sql`CREATE INDEX audit_subject ON audit (subject, id DESC)`,
      sql`CREATE TABLE archive_gaps (
        id bigserial PRIMARY KEY,
        stream text NOT NULL,
        after_entry_id text NOT NULL,
        before_entry_id text NOT NULL,
        detected_at timestamptz NOT NULL
      )`,
      sql`CREATE TABLE archiver_state (
        stream text PRIMARY KEY,
        caught_up_at double precision NOT NULL
      )`
    ], { discard: true }))
})

/** The migrations table, in the store's schema. */
export const migrationsTable = "hyvve_migrations"

/** Creates the schema if missing (two processes may race: the loser finds it there). */
const ensureSchema = (schema: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`.pipe(
      Effect.catch(() => sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`),
      Effect.asVoid
    ))

/** Runs the migrations that have not run yet; returns the ones it ran. */
export const migrate = (schema: string) =>
  Effect.andThen(ensureSchema(schema), Migrator.make({})({ loader: migrations, table: migrationsTable }))

// ---------------------------------------------------------------------------------------------
// rows
// ---------------------------------------------------------------------------------------------

const eventColumns = `id, entry_id, type, version, source, tenant_id, user_id, correlation_id, causation_id,
  traceparent, replay, (extract(epoch from occurred_at) * 1000)::float8 AS occurred_ms, data`

const EventRow = Schema.Struct({
  id: Schema.String,
  entry_id: Schema.String,
  type: Schema.String,
  version: Schema.String,
  source: Schema.String,
  tenant_id: Schema.String,
  user_id: Schema.String,
  correlation_id: Schema.String,
  causation_id: Schema.NullOr(Schema.String),
  traceparent: Schema.NullOr(Schema.String),
  replay: Schema.NullOr(Schema.Struct({ jobId: Schema.String, originalEventId: Schema.String })),
  occurred_ms: Schema.Finite,
  data: Schema.Unknown
})

const deliveryColumns = `event_id, grp, status, attempts, type, tenant_id, error_tag, error_message,
  (extract(epoch from first_attempt_at) * 1000)::float8 AS first_ms,
  (extract(epoch from last_attempt_at) * 1000)::float8 AS last_ms,
  (extract(epoch from processed_at) * 1000)::float8 AS processed_ms`

const DeliveryRow = Schema.Struct({
  event_id: Schema.String,
  grp: Schema.String,
  // The literals of `EventStore.DeliveryStatus` (not imported: this module loads inside EventStore.ts).
  status: Schema.Literals(["PENDING", "PROCESSING", "COMPLETED", "FAILED", "DLQ"]),
  attempts: Schema.Finite,
  type: Schema.NullOr(Schema.String),
  tenant_id: Schema.NullOr(Schema.String),
  error_tag: Schema.NullOr(Schema.String),
  error_message: Schema.NullOr(Schema.String),
  first_ms: Schema.Finite,
  last_ms: Schema.Finite,
  processed_ms: Schema.NullOr(Schema.Finite)
})

const MarkedRow = Schema.Struct({
  entry_id: Schema.String,
  id: Schema.String,
  type: Schema.String,
  tenant_id: Schema.String,
  json: Schema.String
})

const JobRow = Schema.Struct({
  id: Schema.String,
  status: Schema.String,
  created_ms: Schema.Finite,
  document: Schema.Unknown
})

const AuditRow = Schema.Struct({
  at_ms: Schema.Finite,
  actor: Schema.String,
  action: Schema.String,
  subject: Schema.String,
  details: Schema.Unknown
})

const GapRow = Schema.Struct({
  stream: Schema.String,
  after_entry_id: Schema.String,
  before_entry_id: Schema.String,
  detected_ms: Schema.Finite
})

const toEvent = (r: typeof EventRow.Type): EventStore.StoredEvent => ({
  id: r.id,
  entryId: r.entry_id,
  type: r.type,
  version: r.version,
  source: r.source,
  tenantId: r.tenant_id,
  userId: r.user_id,
  correlationId: r.correlation_id,
  ...(r.causation_id === null ? {} : { causationId: r.causation_id }),
  ...(r.traceparent === null ? {} : { traceparent: r.traceparent }),
  ...(r.replay === null ? {} : { replay: r.replay }),
  occurredAt: r.occurred_ms,
  data: r.data
})

const toDelivery = (r: typeof DeliveryRow.Type): EventStore.Delivery => ({
  eventId: r.event_id,
  group: r.grp,
  status: r.status,
  attempts: r.attempts,
  ...(r.type === null ? {} : { type: r.type }),
  ...(r.tenant_id === null ? {} : { tenantId: r.tenant_id }),
  ...(r.error_tag === null ? {} : { errorTag: r.error_tag }),
  ...(r.error_message === null ? {} : { errorMessage: r.error_message }),
  firstAttemptAt: r.first_ms,
  lastAttemptAt: r.last_ms,
  ...(r.processed_ms === null ? {} : { processedAt: r.processed_ms })
})

const splitEntryId = (id: string): readonly [string, string] => {
  const dash = id.indexOf("-")
  return dash < 0 ? [id, "0"] : [id.slice(0, dash), id.slice(dash + 1)]
}

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

const fromSqlError = (operation: string) => (error: SqlError.SqlError | Schema.SchemaError | Migrator.MigrationError) =>
  new EventStore.EventStoreError({
    operation,
    kind: error._tag === "SqlError" && (error.isRetryable || error.reason._tag === "ConnectionError") ?
      "Unavailable" :
      "Failed",
    detail: error.message
  })

// ---------------------------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------------------------

/** The store over the `SqlClient` in context (its `search_path` set to `schema`). */
export const make = (schema: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const lock = yield* Semaphore.make(1)
    let ready = false

    // Migrations before the first operation; retried by the next operation after a failure.
    const ensureReady = Effect.suspend(() =>
      ready ? Effect.void : lock.withPermit(
        Effect.suspend(() =>
          ready ? Effect.void : migrate(schema).pipe(
            Effect.tap(() =>
              Effect.sync(() => {
                ready = true
              })
            ),
            Effect.asVoid,
            Effect.provideService(SqlClient.SqlClient, sql)
          )
        )
      )
    ).pipe(Effect.mapError(fromSqlError("migrate")))

    const run = <A, E extends SqlError.SqlError | Schema.SchemaError>(
      operation: string,
      effect: Effect.Effect<A, E>
    ): Effect.Effect<A, EventStore.EventStoreError> =>
      Effect.andThen(ensureReady, Effect.mapError(effect, fromSqlError(operation)))

    const decodeEvents = Schema.decodeUnknownEffect(Schema.Array(EventRow))
    const decodeDeliveries = Schema.decodeUnknownEffect(Schema.Array(DeliveryRow))
    const decodeJobs = Schema.decodeUnknownEffect(Schema.Array(JobRow))
    const decodeMarked = Schema.decodeUnknownEffect(Schema.Array(MarkedRow))

    const selectEvents = (where: ReturnType<typeof sql.and>, limit: number, tieBreak = sql``) =>
      Effect.map(
        Effect.flatMap(
          sql`SELECT ${sql.literal(eventColumns)} FROM events WHERE ${where} ORDER BY entry_ms, entry_seq${tieBreak} LIMIT ${limit}`,
          decodeEvents
        ),
        (rows) => rows.map(toEvent)
      )

    const selectDeliveries = (where: ReturnType<typeof sql.and>) =>
      Effect.map(
        Effect.flatMap(sql`SELECT ${sql.literal(deliveryColumns)} FROM deliveries WHERE ${where} ORDER BY grp`, decodeDeliveries),
        (rows) => rows.map(toDelivery)
      )

    // The filter's WHERE clauses; an invalid pattern fails with `InvalidPattern`.
    const whereOf = (filter: EventStore.EventFilter) =>
      Effect.map(
        filter.pattern === undefined ? Effect.succeed(undefined) : EventPattern.make(filter.pattern),
        (pattern) => {
          const clauses: Array<ReturnType<typeof sql.and>> = []
          if (filter.tenantId !== undefined) clauses.push(sql`tenant_id = ${filter.tenantId}`)
          if (filter.types !== undefined) {
            clauses.push(filter.types.length === 0 ? sql`false` : sql.in("type", filter.types))
          }
          if (pattern !== undefined) clauses.push(sql`type ~ ${EventStore.patternRegex(pattern)}`)
          if (filter.from !== undefined) clauses.push(sql`occurred_at >= to_timestamp(${filter.from}::float8 / 1000)`)
          if (filter.to !== undefined) clauses.push(sql`occurred_at <= to_timestamp(${filter.to}::float8 / 1000)`)
          return clauses
        }
      )

    // The filter's clauses and the position range `(after, through]` (the archive side of a replay).
    const rangeOf = (filter: EventStore.EventFilter, after: string, through: string) =>
      Effect.map(whereOf(filter), (clauses) => {
        const [ams, aseq] = splitEntryId(after)
        const [tms, tseq] = splitEntryId(through)
        clauses.push(sql`(entry_ms, entry_seq) > (${ams}::bigint, ${aseq}::bigint)`)
        clauses.push(sql`(entry_ms, entry_seq) <= (${tms}::bigint, ${tseq}::bigint)`)
        return clauses
      })

    const archive = (events: ReadonlyArray<EventStore.StoredEvent>) => {
      if (events.length === 0) return Effect.succeed(0)
      const rows = events.map((e) => {
        const [ms, seq] = splitEntryId(e.entryId)
        return {
          id: e.id,
          entry_id: e.entryId,
          entry_ms: ms,
          entry_seq: seq,
          type: e.type,
          version: e.version,
          source: e.source,
          tenant_id: e.tenantId,
          user_id: e.userId,
          correlation_id: e.correlationId,
          causation_id: e.causationId ?? null,
          traceparent: e.traceparent ?? null,
          replay: e.replay ?? null,
          occurred_at: e.occurredAt,
          data: e.data
        }
      })
      return run(
        "archive",
        Effect.map(
          sql<{ readonly n: number }>`WITH added AS (
            INSERT INTO events (id, entry_id, entry_ms, entry_seq, type, version, source, tenant_id, user_id,
              correlation_id, causation_id, traceparent, replay, occurred_at, data)
            SELECT id, entry_id, entry_ms, entry_seq, type, version, source, tenant_id, user_id,
              correlation_id, causation_id, traceparent, replay, to_timestamp(occurred_at / 1000), data
            FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(id text, entry_id text, entry_ms bigint,
              entry_seq bigint, type text, version text, source text, tenant_id text, user_id text,
              correlation_id text, causation_id text, traceparent text, replay jsonb, occurred_at float8, data jsonb)
            ON CONFLICT (id) DO NOTHING
            RETURNING 1
          ) SELECT count(*)::float8 AS n FROM added`,
          (rows) => rows[0]?.n ?? 0
        )
      )
    }

    // The envelopes go to PostgreSQL as they were published, spliced into one JSON array text:
    // the publishing process neither parses nor re-serialises them; PostgreSQL extracts the
    // columns (the entry id's parts too).
    const archiveEntries = (entries: ReadonlyArray<{ readonly entryId: string; readonly envelope: string }>) => {
      if (entries.length === 0) return Effect.succeed(0)
      const parts: Array<string> = []
      for (const { entryId, envelope } of entries) parts.push(`{"i":${JSON.stringify(entryId)},"e":${envelope}}`)
      return run(
        "archiveEntries",
        Effect.map(
          sql<{ readonly n: number }>`WITH added AS (
            INSERT INTO events (id, entry_id, entry_ms, entry_seq, type, version, source, tenant_id, user_id,
              correlation_id, causation_id, traceparent, replay, occurred_at, data)
            SELECT x.e->>'id', x.i, split_part(x.i, '-', 1)::bigint, COALESCE(NULLIF(split_part(x.i, '-', 2), ''), '0')::bigint,
              x.e->>'type', x.e->>'version', x.e->>'source', x.e->>'tenantId',
              x.e->>'userId', x.e->>'correlationId', x.e->>'causationId', x.e->>'traceparent', x.e->'replay',
              (x.e->>'timestamp')::timestamptz, COALESCE(x.e->'data', 'null'::jsonb)
            FROM jsonb_to_recordset(${`[${parts.join(",")}]`}::jsonb) AS x(i text, e jsonb)
            ON CONFLICT (id) DO NOTHING
            RETURNING 1
          ) SELECT count(*)::float8 AS n FROM added`,
          (rows) => rows[0]?.n ?? 0
        )
      )
    }

    const upsertDeliveries = (operation: string, rows: ReadonlyArray<Shared.DeliveryRow>) =>
      rows.length === 0 ? Effect.void : run(
        operation,
        sql`INSERT INTO deliveries AS d (event_id, grp, status, attempts, type, tenant_id, error_tag, error_message,
            first_attempt_at, last_attempt_at, processed_at)
          SELECT event_id, grp, status, attempts, type, tenant_id, error_tag, error_message,
            to_timestamp(first_at / 1000), to_timestamp(last_at / 1000),
            CASE WHEN processed_at IS NULL THEN NULL ELSE to_timestamp(processed_at / 1000) END
          FROM jsonb_to_recordset(${
          JSON.stringify(rows.map((r) => ({
            event_id: r.eventId,
            grp: r.group,
            status: r.status,
            attempts: r.attempts,
            type: r.type ?? null,
            tenant_id: r.tenantId ?? null,
            error_tag: r.errorTag ?? null,
            error_message: r.errorMessage ?? null,
            first_at: r.firstAt,
            last_at: r.lastAt,
            processed_at: r.processedAt ?? null
          })))
        }::jsonb) AS x(event_id text, grp text, status text, attempts integer, type text, tenant_id text,
            error_tag text, error_message text, first_at float8, last_at float8, processed_at float8)
          ON CONFLICT (event_id, grp) DO UPDATE SET
            status = CASE WHEN excluded.last_attempt_at >= d.last_attempt_at THEN excluded.status ELSE d.status END,
            attempts = GREATEST(d.attempts, excluded.attempts),
            type = COALESCE(d.type, excluded.type),
            tenant_id = COALESCE(d.tenant_id, excluded.tenant_id),
            error_tag = COALESCE(excluded.error_tag, d.error_tag),
            error_message = COALESCE(excluded.error_message, d.error_message),
            first_attempt_at = LEAST(d.first_attempt_at, excluded.first_attempt_at),
            last_attempt_at = GREATEST(d.last_attempt_at, excluded.last_attempt_at),
            processed_at = GREATEST(d.processed_at, excluded.processed_at)`
      )

    const service: EventStore.EventStore["Service"] = {
      backend: "postgres",
      archive,
      archiveEntries,
      recordDeliveries: (outcomes) => upsertDeliveries("recordDeliveries", Shared.coalesce(outcomes)),
      recordPending: (group, events, at) =>
        upsertDeliveries("recordPending", events.map((e) => Shared.pendingRow(group, e, at))),
      recordGap: (gap) =>
        run(
          "recordGap",
          sql`INSERT INTO archive_gaps (stream, after_entry_id, before_entry_id, detected_at)
            VALUES (${gap.stream}, ${gap.afterEntryId}, ${gap.beforeEntryId}, to_timestamp(${gap.detectedAt}::float8 / 1000))`
        ).pipe(Effect.asVoid),
      archiverState: (stream) =>
        run(
          "archiverState",
          Effect.map(
            sql<{ readonly caught_up_at: number }>`SELECT caught_up_at FROM archiver_state WHERE stream = ${stream}`,
            (rows) => rows[0] === undefined ? undefined : { caughtUpAt: Number(rows[0].caught_up_at) }
          )
        ),
      saveArchiverState: (stream, caughtUpAt) =>
        run(
          "saveArchiverState",
          sql`INSERT INTO archiver_state (stream, caught_up_at) VALUES (${stream}, ${caughtUpAt}::float8)
            ON CONFLICT (stream) DO UPDATE SET caught_up_at = GREATEST(archiver_state.caught_up_at, excluded.caught_up_at)`
        ).pipe(Effect.asVoid),
      event: (id) =>
        run(
          "event",
          Effect.gen(function*() {
            const [event] = yield* selectEvents(sql`id = ${id}`, 1)
            if (event === undefined) return Option.none<EventStore.EventDetail>()
            const deliveries = yield* selectDeliveries(sql`event_id = ${id}`)
            return Option.some({ event, deliveries })
          })
        ),
      trace: (correlationId) =>
        run(
          "trace",
          Effect.gen(function*() {
            const events = yield* selectEvents(sql`correlation_id = ${correlationId}`, 10_000)
            const deliveries = yield* selectDeliveries(
              sql`event_id IN (SELECT id FROM events WHERE correlation_id = ${correlationId})`
            )
            return Shared.buildTrace(correlationId, events, deliveries)
          })
        ),
      events: (filter, page) =>
        Effect.gen(function*() {
          const cursor = page?.cursor === undefined ? undefined : Shared.parseCursor(page.cursor)
          if (page?.cursor !== undefined && cursor === undefined) {
            return yield* new EventStore.EventStoreError({ operation: "events", kind: "BadCursor", detail: page.cursor })
          }
          const limit = Shared.pageLimit(page?.limit)
          const clauses = yield* whereOf(filter)
          if (cursor !== undefined) {
            const [ms, seq] = splitEntryId(cursor.entryId)
            clauses.push(
              cursor.eventId === undefined ?
                sql`(entry_ms, entry_seq) > (${ms}::bigint, ${seq}::bigint)` :
                sql`(entry_ms, entry_seq, id COLLATE "C") > (${ms}::bigint, ${seq}::bigint, ${cursor.eventId} COLLATE "C")`
            )
          }
          // Ties on the entry id (events of several streams) in event id order (byte order: "C").
          const rows = yield* run("events", selectEvents(sql.and(clauses), limit + 1, sql`, id COLLATE "C"`))
          return rows.length > limit ?
            { events: rows.slice(0, limit), next: Shared.cursorAfter(rows[limit - 1]!) } :
            { events: rows, next: undefined }
        }),
      scan: ({ after, filter, limit, through }) =>
        Effect.gen(function*() {
          const clauses = yield* rangeOf(filter, after, through)
          return yield* run("scan", selectEvents(sql.and(clauses), Math.max(1, limit)))
        }),
      scanMarked: ({ after, filter, jobId, limit, through }) =>
        Effect.gen(function*() {
          const clauses = yield* rangeOf(filter, after, through)
          // The envelope text in `Shared.markedEnvelope`'s field order, written by PostgreSQL
          // (`to_json` quotes a string; the payload is the stored jsonb's text).
          const rows = yield* run(
            "scanMarked",
            Effect.flatMap(
              sql`SELECT entry_id, id, type, tenant_id,
                '{"id":' || to_json(id)::text || ',"type":' || to_json(type)::text || ',"source":' || to_json(source)::text
                  || ',"timestamp":"' || to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                  || '","correlationId":' || to_json(correlation_id)::text || ',"tenantId":' || to_json(tenant_id)::text
                  || ',"userId":' || to_json(user_id)::text || ',"version":' || to_json(version)::text || ',"data":' || data::text
                  || COALESCE(',"causationId":' || to_json(causation_id)::text, '')
                  || COALESCE(',"traceparent":' || to_json(traceparent)::text, '')
                  || ',"replay":{"jobId":' || to_json(${jobId}::text)::text
                  || ',"originalEventId":' || to_json(COALESCE(replay->>'originalEventId', id))::text || '}}' AS json
                FROM events WHERE ${sql.and(clauses)} ORDER BY entry_ms, entry_seq LIMIT ${Math.max(1, limit)}`,
              decodeMarked
            )
          )
          return rows.map((r): EventStore.MarkedEvent => ({ entryId: r.entry_id, id: r.id, type: r.type, tenantId: r.tenant_id, json: r.json }))
        }),
      statusCounts: (group) =>
        run(
          "statusCounts",
          Effect.map(
            sql<{ readonly grp: string; readonly status: EventStore.DeliveryStatus; readonly n: number }>`
              SELECT grp, status, count(*)::float8 AS n FROM deliveries
              WHERE ${group === undefined ? sql`true` : sql`grp = ${group}`}
              GROUP BY grp, status ORDER BY grp, status`,
            (rows) => rows.map((r) => ({ group: r.grp, status: r.status, count: Number(r.n) }))
          )
        ),
      gaps: run(
        "gaps",
        Effect.flatMap(
          sql`SELECT stream, after_entry_id, before_entry_id, (extract(epoch from detected_at) * 1000)::float8 AS detected_ms
            FROM archive_gaps ORDER BY id`,
          Schema.decodeUnknownEffect(Schema.Array(GapRow))
        ).pipe(
          Effect.map((rows) =>
            rows.map((r) => ({
              stream: r.stream,
              afterEntryId: r.after_entry_id,
              beforeEntryId: r.before_entry_id,
              detectedAt: r.detected_ms
            }))
          )
        )
      ),
      audit: (entry) =>
        run(
          "audit",
          sql`INSERT INTO audit (at, actor, action, subject, details) VALUES (to_timestamp(${entry.at}::float8 / 1000),
            ${entry.actor}, ${entry.action}, ${entry.subject}, ${JSON.stringify(entry.details ?? null)}::jsonb)`
        ).pipe(Effect.asVoid),
      auditLog: (options) =>
        run(
          "auditLog",
          Effect.flatMap(
            sql`SELECT (extract(epoch from at) * 1000)::float8 AS at_ms, actor, action, subject, details FROM audit
              WHERE ${options?.subject === undefined ? sql`true` : sql`subject = ${options.subject}`}
              ORDER BY id DESC LIMIT ${Shared.pageLimit(options?.limit)}`,
            Schema.decodeUnknownEffect(Schema.Array(AuditRow))
          ).pipe(
            Effect.map((rows) =>
              rows.map((r) => ({ at: r.at_ms, actor: r.actor, action: r.action, subject: r.subject, details: r.details }))
            )
          )
        ),
      jobs: {
        insert: (job) =>
          run(
            "jobs.insert",
            sql`INSERT INTO replay_jobs (id, status, created_at, document) VALUES (${job.id}, ${job.status},
              to_timestamp(${job.createdAt}::float8 / 1000), ${JSON.stringify(job.document)}::jsonb)`
          ).pipe(Effect.asVoid),
        update: (job) =>
          run(
            "jobs.update",
            sql`UPDATE replay_jobs SET status = ${job.status}, document = ${JSON.stringify(job.document)}::jsonb,
              updated_at = now() WHERE id = ${job.id}`
          ).pipe(Effect.asVoid),
        get: (id) =>
          run(
            "jobs.get",
            Effect.flatMap(
              sql`SELECT id, status, (extract(epoch from created_at) * 1000)::float8 AS created_ms, document
                FROM replay_jobs WHERE id = ${id}`,
              decodeJobs
            ).pipe(Effect.map((rows) => Option.map(Option.fromUndefinedOr(rows[0]), toJob)))
          ),
        list: (limit) =>
          run(
            "jobs.list",
            Effect.flatMap(
              sql`SELECT id, status, (extract(epoch from created_at) * 1000)::float8 AS created_ms, document
                FROM replay_jobs ORDER BY created_at DESC LIMIT ${Math.max(1, limit)}`,
              decodeJobs
            ).pipe(Effect.map((rows) => rows.map(toJob)))
          )
      }
    }

    // A first attempt now, so a healthy database is ready before anything runs; a failure is
    // retried by the first operation.
    yield* ensureReady.pipe(
      Effect.catch((error) =>
        Effect.logWarning("event store not ready yet; migrations run again with the first operation").pipe(
          Effect.annotateLogs({ package: "@hyvve/bus", module: "EventStore", error: error.message })
        )
      )
    )
    return service
  })

const toJob = (r: typeof JobRow.Type): EventStore.JobRecord => ({
  id: r.id,
  status: r.status,
  createdAt: r.created_ms,
  document: r.document
})

/** The store's layer: its own pool, `search_path` set to `schema`. */
export const layer = (options: EventStore.PgOptions): Layer.Layer<EventStore.EventStore> => {
  const schema = options.schema ?? "hyvve"
  return Layer.effect(EventStore.EventStore, Effect.map(make(schema), EventStore.EventStore.of)).pipe(
    Layer.provide(
      PgClient.layer({
        url: Redacted.make(options.url),
        maxConnections: options.maxConnections ?? 4,
        connectTimeout: options.connectTimeout ?? Duration.seconds(5),
        startupParameters: { search_path: schema },
        applicationName: "hyvve-event-store"
      })
    ),
    // Creating the pool does not connect, so this cannot fail; a database that is down surfaces
    // as `Unavailable` from the operations.
    Layer.orDie
  )
}
