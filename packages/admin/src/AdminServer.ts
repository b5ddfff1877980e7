/**
 * Serves the admin API (`AdminApi`) over the bus in context: the handlers, the OpenAPI document
 * (`/openapi.json`), the docs page (`/docs`), the monitoring page (`/admin`, see `Page`) and the
 * scheduled refresh of the lag, pending and DLQ gauges that `/metrics` exports.
 *
 * ```ts
 * const server = AdminServer.layer({ port: 8080 }).pipe(
 *   Layer.provide(Auth.layerTokensFromEnv),
 *   Layer.provide(Audit.layer), // the store's audit table when there is a store
 *   Layer.provideMerge(EventBusLive)
 * )
 * Layer.launch(server).pipe(NodeRuntime.runMain)
 * ```
 *
 * The replay and history groups' handlers live in `internal/replayRoutes.ts` and
 * `internal/historyRoutes.ts`: the bus's `Replay` and `EventStore` behind the API.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { BusConfig, Dlq, type EventStore, Groups, Health, Metrics, RedisStream, Replay, Topology } from "@hyvve/bus"
import { type Catalog, Envelope, EventPattern, EventType } from "@hyvve/schema"
import {
  ByteSize,
  Clock,
  type Duration,
  Effect,
  Exit,
  type FileSystem,
  Layer,
  Metric,
  Option,
  type Path,
  Schedule,
  Stream
} from "effect"
import { type Etag, HttpIncomingMessage, type HttpPlatform, HttpRouter, HttpServer, type HttpServerError } from "effect/http"
import { NetAddress } from "effect/net"
import { HttpApiBuilder, HttpApiMiddleware, HttpApiScalar } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import {
  AdminApi,
  DlqDetail,
  DlqItem,
  DlqPage,
  Forbidden,
  HealthSummary,
  InvalidRequest,
  NotFound,
  Principal,
  type PrincipalInfo,
  RetryResult,
  type TailEvent,
  type TailMessage,
  Unavailable
} from "./AdminApi.ts"
import * as AsyncApi from "./AsyncApi.ts"
import * as Audit from "./Audit.ts"
import * as Auth from "./Auth.ts"
import * as Page from "./Page.ts"
import * as HistoryRoutes from "./internal/historyRoutes.ts"
import * as ReplayRoutes from "./internal/replayRoutes.ts"
import * as StatsReader from "./internal/stats.ts"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const unavailable = (error: RedisStream.RedisStreamError) => new Unavailable({ message: error.message })

const toItem = (entry: Dlq.DlqEntry): DlqItem =>
  new DlqItem({
    id: entry.id,
    origin: entry.origin,
    ...(entry.type === undefined ? {} : { type: entry.type }),
    ...(entry.tenantId === undefined ? {} : { tenantId: entry.tenantId }),
    ...(entry.eventId === undefined ? {} : { eventId: entry.eventId }),
    ...(entry.group === undefined ? {} : { group: entry.group }),
    ...(entry.stream === undefined ? {} : { stream: entry.stream }),
    ...(entry.originalEntryId === undefined ? {} : { originalEntryId: entry.originalEntryId }),
    event: entry.event,
    errorTag: entry.error.tag,
    errorMessage: entry.error.message,
    ...(entry.attempts === undefined ? {} : { attempts: entry.attempts }),
    ...(entry.firstFailedAt === undefined ? {} : { firstFailedAt: entry.firstFailedAt }),
    ...(entry.lastFailedAt === undefined ? {} : { lastFailedAt: entry.lastFailedAt }),
    movedAt: entry.movedAt
  })

/** Decodes an envelope against the catalog as it is now: the event, or why it does not decode. */
const decodeAgainst = (catalog: Catalog.Catalog<EventType.Any>, text: string) => {
  const raw = Envelope.decodeJson(text)
  if (Exit.isFailure(raw)) return { decodes: false, error: errorText(raw.cause) } as const
  const eventType = catalog.get(raw.value.type)
  if (Option.isNone(eventType)) {
    return { decodes: false, error: `unknown event type "${raw.value.type}" (not in the catalog)` } as const
  }
  const event = EventType.fromRaw(eventType.value, raw.value)
  if (Exit.isFailure(event)) return { decodes: false, error: errorText(event.cause) } as const
  return { decodes: true, decoded: raw.value } as const
}

const errorText = (cause: { readonly reasons: ReadonlyArray<{ readonly _tag: string }> }): string => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail" && "error" in reason) {
      const error = reason.error
      if (error instanceof Error) return error.message
    }
  }
  return "does not decode"
}

/** A DLQ entry the principal may see: 404 when there is none, 403 when it is another tenant's. */
const visibleEntry = (
  dlq: Dlq.Dlq["Service"],
  principal: PrincipalInfo,
  id: string
): Effect.Effect<Dlq.DlqEntry, Unavailable | NotFound | Forbidden> =>
  dlq.get(id).pipe(
    Effect.mapError(unavailable),
    Effect.flatMap((entry): Effect.Effect<Dlq.DlqEntry, NotFound | Forbidden> => {
      if (Option.isNone(entry)) return Effect.fail(new NotFound({ message: `no DLQ entry with id ${id}`, id }))
      if (!Auth.sees(principal, entry.value.tenantId)) {
        return Effect.fail(new Forbidden({ message: `DLQ entry ${id} is outside this token's tenant` }))
      }
      return Effect.succeed(entry.value)
    })
  )

/** Every DLQ entry of one tenant, counted page by page. */
const tenantDlqSize = (dlq: Dlq.Dlq["Service"], tenantId: string) =>
  Effect.gen(function*() {
    let size = 0
    let cursor: string | undefined
    do {
      const page = yield* dlq.list({ filter: { tenantId }, cursor, limit: 1000 })
      size += page.entries.length
      cursor = page.next
    } while (cursor !== undefined)
    return size
  })

interface Bus {
  readonly dlq: Dlq.Dlq["Service"]
  readonly redis: RedisStream.RedisStream["Service"]
  readonly settings: BusConfig.BusSettings
}

const bus = Effect.all({ dlq: Dlq.Dlq, redis: RedisStream.RedisStream, settings: BusConfig.BusConfig })

/** The stats as `principal` may see them: a tenant-scoped principal's DLQ size counts its tenant only. */
const readStats = (bus: Bus, principal: PrincipalInfo) =>
  Effect.gen(function*() {
    const size = principal.tenantId === undefined
      ? yield* bus.dlq.size
      : yield* tenantDlqSize(bus.dlq, principal.tenantId)
    return yield* StatsReader.read(bus.redis, bus.settings, size)
  })

// ---------------------------------------------------------------------------------------------
// handlers
// ---------------------------------------------------------------------------------------------

const HealthHandlers = HttpApiBuilder.group(AdminApi, "health", (handlers) =>
  Effect.map(Health.Health, (health) =>
  handlers.handle("health", () =>
    Effect.map(health.check, (report) =>
      new HealthSummary({
        healthy: report.healthy,
        reasons: report.reasons,
        redis: {
          reachable: report.redis.reachable,
          ...(report.redis.latencyMs === undefined ? {} : { latencyMs: report.redis.latencyMs })
        },
        groups: report.groups.map((group) => ({
          name: group.name,
          consumers: group.consumers,
          pending: group.pending,
          ...(group.lag === undefined ? {} : { lag: group.lag })
        })),
        circuits: report.subscriptions.map((sub) => ({ group: sub.group, circuit: sub.circuit })),
        dlq: report.dlq
      })))))

const SpecHandlers = HttpApiBuilder.group(AdminApi, "spec", (handlers) =>
  Effect.map(BusConfig.BusConfig, (settings) => {
    const layout = Topology.of(settings)
    const document = AsyncApi.make(settings.catalog, {
      address: layout.streams.length === 1 ? layout.streams[0]!.key : Topology.format(settings.topology)
    })
    return handlers.handle("asyncapi", () => Effect.succeed(document))
  }))

const StatsHandlers = HttpApiBuilder.group(AdminApi, "stats", (handlers) =>
  Effect.map(bus, (bus) =>
    handlers
      .handle("stats", () => Effect.flatMap(Principal, (principal) => readStats(bus, principal)).pipe(Effect.mapError(unavailable)))
      .handle("me", () => Principal)))

const DlqHandlers = HttpApiBuilder.group(AdminApi, "dlq", (handlers) =>
  Effect.gen(function*() {
    const dlq = yield* Dlq.Dlq
    const settings = yield* BusConfig.BusConfig
    const audit = yield* Audit.Audit
    return handlers
      .handle("list", ({ query }) =>
        Effect.gen(function*() {
          const tenantId = yield* Auth.scopeTenant(query.tenant)
          const page = yield* dlq.list({
            filter: { type: query.type, group: query.group, tenantId },
            cursor: query.cursor,
            limit: query.limit
          }).pipe(Effect.mapError(unavailable))
          return new DlqPage({
            entries: page.entries.map(toItem),
            ...(page.next === undefined ? {} : { next: page.next })
          })
        }))
      .handle("get", ({ params }) =>
        Effect.gen(function*() {
          const entry = yield* visibleEntry(dlq, yield* Principal, params.id)
          const check = decodeAgainst(settings.catalog, entry.event)
          return new DlqDetail({
            entry: toItem(entry),
            decodes: check.decodes,
            ...(check.decodes ? { decoded: check.decoded } : { decodeError: check.error })
          })
        }))
      .handle("retry", ({ params, payload }) =>
        Effect.gen(function*() {
          const principal = yield* Auth.requireMutate
          const entry = yield* visibleEntry(dlq, principal, params.id)
          const check = decodeAgainst(settings.catalog, entry.event)
          const group = entry.group ?? payload.group
          const base = {
            id: entry.id,
            decodes: check.decodes,
            ...(check.decodes ? {} : { decodeError: check.error }),
            ...(group === undefined ? {} : { group })
          }
          if (payload.dryRun === true) return new RetryResult({ ...base, dryRun: true })
          const newEntryId = yield* Audit.audited(
            audit,
            { principal, action: "dlq.retry", target: entry.id },
            dlq.retry(entry.id, { group: payload.group }).pipe(
              Effect.catchTags({
                RedisStreamError: (error) => Effect.fail(unavailable(error)),
                DlqEntryNotFound: () => Effect.fail(new NotFound({ message: `no DLQ entry with id ${entry.id}`, id: entry.id })),
                DlqGroupRequired: () =>
                  Effect.fail(
                    new InvalidRequest({
                      field: "group",
                      message: "this entry names no group (the NestJS bus wrote it): give the group to re-drive it to"
                    })
                  )
              })
            ),
            (id) => ({ detail: `re-driven to ${group} as ${id}`, count: 1 })
          )
          return new RetryResult({ ...base, dryRun: false, newEntryId })
        }))
      .handle("delete", ({ params }) =>
        Effect.gen(function*() {
          const principal = yield* Auth.requireMutate
          const entry = yield* visibleEntry(dlq, principal, params.id)
          const deleted = yield* Audit.audited(
            audit,
            { principal, action: "dlq.delete", target: entry.id },
            dlq.delete(entry.id).pipe(Effect.mapError(unavailable)),
            (deleted) => ({ detail: deleted ? "deleted" : "already gone", count: deleted ? 1 : 0 })
          )
          return { id: entry.id, deleted }
        }))
      .handle("purge", ({ payload }) =>
        Effect.gen(function*() {
          const principal = yield* Auth.requireMutate
          const tenantId = yield* Auth.scopeTenant(payload.tenant)
          const filter = { type: payload.type, group: payload.group, tenantId }
          if (
            payload.all !== true && payload.type === undefined && payload.group === undefined &&
            payload.tenant === undefined
          ) {
            return yield* new InvalidRequest({
              field: "all",
              message: "a purge without a filter (type, group, tenant) must say all: true"
            })
          }
          const purged = yield* Audit.audited(
            audit,
            { principal, action: "dlq.purge", target: JSON.stringify(filter), filters: filter },
            dlq.purge(filter).pipe(Effect.mapError(unavailable)),
            (n) => ({ detail: `${n} purged`, count: n })
          )
          return { purged }
        }))
  }))

const LiveHandlers = (interval: Duration.Input) =>
  HttpApiBuilder.group(AdminApi, "live", (handlers) =>
    Effect.gen(function*() {
      const services = yield* bus
      const { dlq, redis, settings } = services
      const replay = yield* Replay.Replay
      const streams = Topology.allStreams(settings).map((stream) => stream.key)
      return handlers
        .handle("updates", ({ query }) =>
          Effect.gen(function*() {
            const tenantId = yield* Auth.scopeTenant(query.tenant)
            const principal = yield* Principal
            const update = Effect.gen(function*() {
              const stats = yield* readStats(services, principal)
              const page = yield* dlq.list({ filter: { type: query.type, group: query.group, tenantId }, limit: 100 })
              const jobs = yield* replay.list(20)
              const now = yield* Clock.currentTimeMillis
              return {
                stats,
                replays: jobs.filter((job) => Auth.sees(principal, job.tenantId)).map((job) => ReplayRoutes.view(job, now)),
                dlq: new DlqPage({
                  entries: page.entries.map(toItem),
                  ...(page.next === undefined ? {} : { next: page.next })
                })
              }
            }).pipe(Effect.option)
            // Every `interval`, the first at once; a read Redis fails is skipped, the stream goes on.
            return Stream.fromEffectSchedule(update, Schedule.spaced(interval)).pipe(
              Stream.flatMap((update) => Stream.fromIterable(Option.toArray(update)))
            )
          }))
        .handle("tail", ({ query }) =>
          Effect.gen(function*() {
            const principal = yield* Principal
            const pattern = query.pattern === undefined ? undefined : EventPattern.makeUnsafe(query.pattern)
            // Every stream of the topology, each from its end when the tail starts.
            const last = new Map<string, string>()
            for (const key of streams) {
              const info = yield* Effect.option(redis.info(key))
              last.set(key, Option.isSome(info) ? info.value?.lastEntry?.id ?? "0-0" : "0-0")
            }
            const pollOne = (key: string) =>
              Effect.gen(function*() {
                const entries = yield* redis.range({ key, start: RedisStream.nextEntryId(last.get(key) ?? "0-0"), end: "+", count: 500 })
                const out: Array<TailEvent> = []
                for (const entry of entries) {
                  last.set(key, entry.id)
                  const event = tailEvent(entry)
                  if (event === undefined) continue
                  if (pattern !== undefined && !EventPattern.matches(pattern, event.type)) continue
                  if (!Auth.sees(principal, event.tenantId)) continue
                  out.push(event)
                }
                return out
              }).pipe(Effect.orElseSucceed((): Array<TailEvent> => []))
            // Under `family`, a stream recorded while tailing is tailed from its beginning.
            const current = Effect.map(
              Groups.streams().pipe(
                Effect.provideService(RedisStream.RedisStream, redis),
                Effect.provideService(BusConfig.BusConfig, settings),
                Effect.orElseSucceed(() => [])
              ),
              (found) => {
                for (const stream of found) if (!last.has(stream.key)) last.set(stream.key, "0-0")
                return Array.from(last.keys())
              }
            )
            const poll = Effect.map(Effect.flatMap(current, (keys) => Effect.forEach(keys, pollOne)), (batches) => batches.flat())
            const heartbeat = Effect.map(Clock.currentTimeMillis, (now): TailMessage => ({
              _tag: "Heartbeat",
              at: new Date(now).toISOString()
            }))
            // The first heartbeat sends the response head at once, before any event arrives.
            return Stream.merge(
              Stream.fromEffectSchedule(heartbeat, Schedule.spaced("15 seconds")),
              Stream.fromEffectSchedule(poll, Schedule.spaced("500 millis")).pipe(
                Stream.flatMap((events) => Stream.fromIterable(events))
              )
            )
          }))
    }))

const tailEvent = (entry: RedisStream.Entry): TailEvent | undefined => {
  const text = entry.fields["event"]
  if (text === undefined) return undefined
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof json !== "object" || json === null) return undefined
  const field = (name: string) => {
    const value = (json as Record<string, unknown>)[name]
    return typeof value === "string" ? value : undefined
  }
  const type = field("type") ?? entry.fields["type"]
  if (type === undefined) return undefined
  const id = field("id")
  const tenantId = field("tenantId")
  const timestamp = field("timestamp")
  const correlationId = field("correlationId")
  return {
    _tag: "Event",
    entryId: entry.id,
    type,
    ...(id === undefined ? {} : { id }),
    ...(tenantId === undefined ? {} : { tenantId }),
    ...(timestamp === undefined ? {} : { timestamp }),
    ...(correlationId === undefined ? {} : { correlationId }),
    data: (json as Record<string, unknown>)["data"]
  }
}

const MetricsHandlers = HttpApiBuilder.group(AdminApi, "metrics", (handlers) =>
  handlers.handle("metrics", () =>
    Effect.gen(function*() {
      const principal = yield* Principal
      if (principal.tenantId !== undefined) {
        return yield* new Forbidden({ message: "metrics span every tenant: a tenant-scoped token may not read them" })
      }
      return yield* PrometheusMetrics.format()
    })))

// ---------------------------------------------------------------------------------------------
// gauges
// ---------------------------------------------------------------------------------------------

/**
 * Milliseconds since the oldest entry still pending in a group was published.
 *
 * @category metrics
 * @since 0.1.0
 */
export const oldestPendingAge = Metric.gauge("hyvve_oldest_pending_age_ms", {
  description: "Age of the oldest pending entry of a group, in milliseconds"
})

/**
 * Refreshes the lag and pending gauges (`Health.check`), the DLQ size and the oldest pending age
 * every `interval`, so `/metrics` moves without anyone asking for health.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGaugeRefresh = (
  interval: Duration.Input = "5 seconds"
): Layer.Layer<never, never, Health.Health | RedisStream.RedisStream | BusConfig.BusConfig> =>
  Layer.effectDiscard(
    Effect.gen(function*() {
      const health = yield* Health.Health
      const redis = yield* RedisStream.RedisStream
      const settings = yield* BusConfig.BusConfig
      const refresh = Effect.gen(function*() {
        const report = yield* health.check
        if (!report.redis.reachable) return
        // The health report's streams: under `family`, those the stream registry records too.
        const streams = report.streams.map((stream) => stream.key)
        yield* Metrics.dlqLength(report.dlq.size)
        const now = yield* Clock.currentTimeMillis
        for (const group of report.groups) {
          // The oldest pending entry over every stream the group reads.
          let minId: string | undefined
          for (const key of streams) {
            const summary = yield* Effect.option(redis.pendingSummary(key, group.name))
            const id = Option.isSome(summary) ? summary.value.minId : undefined
            if (id !== undefined && (minId === undefined || StatsReader.millisOf(id) < StatsReader.millisOf(minId))) minId = id
          }
          const age = minId === undefined ? 0 : Math.max(0, now - StatsReader.millisOf(minId))
          yield* Metric.update(Metric.withAttributes(oldestPendingAge, { group: group.name }), age)
        }
      })
      yield* refresh.pipe(Effect.repeat(Schedule.spaced(interval)), Effect.forkScoped)
    })
  )

// ---------------------------------------------------------------------------------------------
// layers
// ---------------------------------------------------------------------------------------------

/**
 * Options of the admin server.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly port?: number | undefined
  readonly host?: string | undefined
  /** The largest request body accepted (default 64 KiB). */
  readonly maxBodySize?: ByteSize.Input | undefined
  /** How often the page's live updates and the gauges refresh (default 2 s). */
  readonly refresh?: Duration.Input | undefined
}

/**
 * The routes: the API, `/openapi.json`, `/docs` and the page. Needs the bus, a `Verifier` and an
 * `Audit`.
 *
 * @category layers
 * @since 0.1.0
 */
export const routes = (
  options: Options = {}
): Layer.Layer<
  never,
  never,
  | HttpRouter.HttpRouter
  | Etag.Generator
  | FileSystem.FileSystem
  | HttpPlatform.HttpPlatform
  | Path.Path
  | Dlq.Dlq
  | Health.Health
  | RedisStream.RedisStream
  | BusConfig.BusConfig
  | Replay.Replay
  | EventStore.EventStore
  | Auth.Verifier
  | Audit.Audit
> =>
  Layer.mergeAll(
    HttpApiBuilder.layer(AdminApi, { openapiPath: "/openapi.json" }).pipe(
      Layer.provide(HealthHandlers),
      Layer.provide(SpecHandlers),
      Layer.provide(StatsHandlers),
      Layer.provide(DlqHandlers),
      Layer.provide(ReplayRoutes.layer),
      Layer.provide(HistoryRoutes.layer),
      Layer.provide(LiveHandlers(options.refresh ?? "2 seconds")),
      Layer.provide(MetricsHandlers),
      Layer.provide(Auth.layer),
      Layer.provide(HttpApiMiddleware.layerProblemDetails({ includeDetails: true }))
    ),
    HttpApiScalar.layer(AdminApi, { path: "/docs" }),
    Page.routes
  )

/**
 * The admin server on a Node HTTP server, with the gauge refresh.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  HttpServer.HttpServer,
  HttpServerError.ServeError,
  | Dlq.Dlq
  | Health.Health
  | RedisStream.RedisStream
  | BusConfig.BusConfig
  | Replay.Replay
  | EventStore.EventStore
  | Auth.Verifier
  | Audit.Audit
> => {
  const maxBodySize = options.maxBodySize === undefined ? ByteSize.kibibytes(64) : ByteSize.fromInputUnsafe(options.maxBodySize)
  // Bodies beyond the limit fail to read (the request is rejected before any handler sees it).
  const limitBody = <A, E, R>(app: Effect.Effect<A, E, R>) =>
    Effect.provideService(app, HttpIncomingMessage.MaxBodySize, maxBodySize)
  return HttpRouter.serve(routes(options), { disableListenLog: true, disableLogger: true, middleware: limitBody }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port ?? 8080, host: options.host ?? "127.0.0.1" })),
    Layer.provideMerge(layerGaugeRefresh(options.refresh ?? "2 seconds"))
  )
}

/**
 * The bound address of a running server (`http://host:port`), e.g. when it listens on port 0.
 *
 * @category accessors
 * @since 0.1.0
 */
export const url: Effect.Effect<string, never, HttpServer.HttpServer> = Effect.gen(function*() {
  return NetAddress.formatUrlUnsafe((yield* HttpServer.HttpServer).address)
})
