/**
 * The `hyvve` command: the admin API from a terminal, through the API's typed client.
 *
 * ```
 * hyvve stats                                   # stream, groups, DLQ, throughput
 * hyvve dlq list [--type t] [--group g] [--tenant t] [--limit n] [--cursor id]
 * hyvve dlq show <id>                           # decoded against the current schema, or why not
 * hyvve dlq retry <id> [--dry-run] [--group g]
 * hyvve dlq delete <id>
 * hyvve dlq purge [--type t] [--group g] [--tenant t] [--all]
 * hyvve tail [pattern] [--count n]              # live events, one line each
 * hyvve replay start [--group g] [--type t,...] [--pattern p] [--tenant t] [--from time] [--to time]
 *                    [--batch-size n] [--rate n] [--detach]
 * hyvve replay status <jobId> | cancel <jobId> | resume <jobId> [--detach] | list [--limit n]
 * hyvve trace <correlationId>                   # the causation tree (needs the event store)
 * hyvve event <id>                              # one event with its deliveries per group
 * ```
 *
 * `--url` (or `HYVVE_ADMIN_URL`, default `http://127.0.0.1:8080`) and `--token` (or
 * `HYVVE_ADMIN_TOKEN`) say where and who; `--json` prints machine-readable output. Failures are
 * one line on stderr and exit code 1: the server is not reachable, the token is refused, the
 * role or tenant does not allow it, the entry is not there, the server has no event store.
 *
 * `replay start` and `replay resume` follow the job to its end: a progress bar on a terminal, one
 * plain line per update otherwise; with `--json` only the final job is printed (for scripts);
 * `--detach` returns once the job is started. Times (`--from`, `--to`) are ISO dates, epoch
 * milliseconds, or a span ago (`30m`, `2h`, `7d`).
 *
 * @since 0.1.0
 */
import * as AdminApi from "@hyvve/admin/AdminApi"
import * as Auth from "@hyvve/admin/Auth"
import { Clock, Config, Console, Data, Effect, Layer, Option, Redacted, Stdio, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"

/**
 * A failure the command reports as one line (its `message`) and exit code 1.
 *
 * @category errors
 * @since 0.1.0
 */
export class CliFailure extends Data.TaggedError("CliFailure")<{ readonly message: string }> {
  override get ["~effect/cli/CliError/userMessage"](): string {
    return this.message
  }
}

const url = Flag.String("url").pipe(
  Flag.withDescription("The admin API's base URL (env HYVVE_ADMIN_URL)"),
  Flag.withFallbackConfig(Config.String("HYVVE_ADMIN_URL")),
  Flag.withDefault("http://127.0.0.1:8080")
)
const token = Flag.Redacted("token").pipe(
  Flag.withDescription("Bearer token (env HYVVE_ADMIN_TOKEN)"),
  Flag.withFallbackConfig(Config.Redacted("HYVVE_ADMIN_TOKEN")),
  Flag.optional
)
const json = Flag.Boolean("json").pipe(Flag.withDescription("Print JSON"), Flag.withDefault(false))

/**
 * The root command.
 *
 * @category commands
 * @since 0.1.0
 */
export const root = Command.make("hyvve").pipe(
  Command.withSharedFlags({ url, token }),
  Command.withDescription("Operate the HYVVE event bus through its admin API")
)

const describe = (error: unknown, baseUrl: string): string => {
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const message = "message" in error && typeof error.message === "string" ? error.message : ""
    switch (error._tag) {
      case "HttpClientError":
        return `cannot reach the admin API at ${baseUrl} (${message || "connection failed"}): is the server running? Set --url or HYVVE_ADMIN_URL`
      case "Unauthorized":
        return `the admin API refused the token (401): set --token or HYVVE_ADMIN_TOKEN to a valid token`
      case "Forbidden":
        return `not allowed (403): ${message}`
      case "NotFound":
        return `not found (404): ${message}`
      case "InvalidRequest":
        return `invalid request: ${message}`
      case "BadRequestProblem":
        return `invalid request (400): ${JSON.stringify("errors" in error ? error.errors : message)}`
      case "Unavailable":
        return `the admin API cannot reach Redis or its store (503): ${message}`
      case "StoreNotConfigured":
        return `the admin server has no event store (503): ${message}`
      case "Conflict":
        return `conflict (409): ${message}`
      case "SchemaError":
        return `the request or the answer of ${baseUrl} does not match the admin API: ${message.split("\n")[0]}`
    }
    return `${String(error._tag)}: ${message}`
  }
  return String(error)
}

/** Runs `f` with a client for the root flags; every failure becomes one `CliFailure` line. */
const withClient = <A, E, R>(f: (client: HttpApiClient.ForApi<typeof AdminApi.AdminApi>) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const flags = yield* root
    const secret = Option.match(flags.token, { onNone: () => "", onSome: Redacted.value })
    const client = yield* HttpApiClient.make(AdminApi.AdminApi, { baseUrl: flags.url }).pipe(
      Effect.provide(Layer.mergeAll(Auth.layerClient(secret), FetchHttpClient.layer))
    )
    return yield* f(client).pipe(Effect.mapError((error) => new CliFailure({ message: describe(error, flags.url) })))
  })

const print = (value: unknown, asJson: boolean, text: () => string) =>
  Console.log(asJson ? JSON.stringify(value, null, 2) : text())

const ago = (ms: number | undefined) =>
  ms === undefined ? "-" : ms < 1000 ? `${ms}ms` : ms < 60_000 ? `${Math.round(ms / 1000)}s` : `${Math.round(ms / 60_000)}m`

const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length))) ?? []
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd()).join("\n")
}

// A terminal must not interpret an event's text: control characters are shown escaped.
const clean = (text: string) =>
  Array.from(text, (c) => {
    const code = c.charCodeAt(0)
    return code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\u${code.toString(16).padStart(4, "0")}` : c
  }).join("")

const stats = Command.make("stats", { json }, ({ json }) =>
  withClient((client) =>
    Effect.flatMap(client.stats.stats(), (stats) =>
      print(stats, json, () =>
        [
          `stream ${stats.stream.key}: ${stats.stream.length} entries (${stats.stream.firstEntryAt ?? "-"} .. ${stats.stream.lastEntryAt ?? "-"})`,
          `throughput: ${stats.throughput.lastMinute}/min, ${stats.throughput.lastHour}/h, ${stats.throughput.last24h}${stats.throughput.exact ? "" : "+"}/24h`,
          `dlq: ${stats.dlq.size} of ${stats.dlq.maxLength} (${stats.dlq.percent.toFixed(1)} %)${stats.dlq.nearLimit ? "  NEAR LIMIT" : ""}`,
          "",
          table([
            ["group", "lag", "pending", "oldest pending", "consumers (idle)"],
            ...stats.groups.map((g) => [
              g.name,
              String(g.lag ?? "-"),
              String(g.pending),
              ago(g.oldestPendingAgeMs),
              g.consumers.map((c) => `${c.name} (${ago(c.idleMs)})`).join(", ")
            ])
          ])
        ].join("\n")))
  )).pipe(Command.withDescription("Stream, groups, DLQ and throughput"))

const filterFlags = {
  type: Flag.String("type").pipe(Flag.withDescription("Only this event type"), Flag.optional),
  group: Flag.String("group").pipe(Flag.withDescription("Only this consumer group"), Flag.optional),
  tenant: Flag.String("tenant").pipe(Flag.withDescription("Only this tenant"), Flag.optional)
}

const filterOf = (flags: {
  readonly type: Option.Option<string>
  readonly group: Option.Option<string>
  readonly tenant: Option.Option<string>
}) => ({
  ...Option.match(flags.type, { onNone: () => ({}), onSome: (type) => ({ type }) }),
  ...Option.match(flags.group, { onNone: () => ({}), onSome: (group) => ({ group }) }),
  ...Option.match(flags.tenant, { onNone: () => ({}), onSome: (tenant) => ({ tenant }) })
})

const dlqList = Command.make(
  "list",
  {
    ...filterFlags,
    limit: Flag.Int("limit").pipe(Flag.withDescription("Entries per page (1-500)"), Flag.withDefault(50)),
    cursor: Flag.String("cursor").pipe(Flag.withDescription("Start after this id (the previous page's next)"), Flag.optional),
    json
  },
  (flags) =>
    withClient((client) =>
      Effect.flatMap(
        client.dlq.list({
          query: {
            ...filterOf(flags),
            limit: flags.limit,
            ...Option.match(flags.cursor, { onNone: () => ({}), onSome: (cursor) => ({ cursor }) })
          }
        }),
        (page) =>
          print(page, flags.json, () =>
            [
              table([
                ["id", "type", "group", "tenant", "error", "moved"],
                ...page.entries.map((e) => [
                  e.id,
                  e.type ?? "-",
                  e.group ?? "-",
                  e.tenantId ?? "-",
                  clean(`${e.errorTag}: ${e.errorMessage}`).slice(0, 80),
                  e.movedAt
                ])
              ]),
              page.next === undefined ? `${page.entries.length} entries` : `more: --cursor ${page.next}`
            ].join("\n"))
      )
    )
).pipe(Command.withDescription("List dead letters, oldest first"))

const id = Argument.String("id").pipe(
  Argument.withDescription("The DLQ entry id (e.g. 1796189789955-0)"),
  Argument.withSchema(AdminApi.DlqId)
)

const dlqShow = Command.make("show", { id, json }, ({ id, json }) =>
  withClient((client) =>
    Effect.flatMap(client.dlq.get({ params: { id } }), (detail) =>
      print(detail, json, () =>
        [
          `${detail.entry.id}  ${detail.entry.type ?? "-"}  group ${detail.entry.group ?? "-"}  tenant ${detail.entry.tenantId ?? "-"}`,
          `error: ${clean(`${detail.entry.errorTag}: ${detail.entry.errorMessage}`)}`,
          `attempts: ${detail.entry.attempts ?? "-"}, moved ${detail.entry.movedAt}`,
          detail.decodes ? "decodes against the current schema" : `does not decode: ${clean(detail.decodeError ?? "")}`,
          clean(detail.entry.event)
        ].join("\n")))
  )).pipe(Command.withDescription("One dead letter, checked against the current schema"))

const dlqRetry = Command.make(
  "retry",
  {
    id,
    dryRun: Flag.Boolean("dry-run").pipe(Flag.withDescription("Only check that it decodes"), Flag.withDefault(false)),
    group: Flag.String("group").pipe(Flag.withDescription("Group to re-drive to (entries that name none)"), Flag.optional),
    json
  },
  ({ id, dryRun, group, json }) =>
    withClient((client) =>
      Effect.flatMap(
        client.dlq.retry({
          params: { id },
          payload: { dryRun, ...Option.match(group, { onNone: () => ({}), onSome: (group) => ({ group }) }) }
        }),
        (result) =>
          print(result, json, () =>
            result.dryRun
              ? `${result.id}: ${result.decodes ? "decodes" : `does not decode: ${clean(result.decodeError ?? "")}`} (dry run, nothing moved)`
              : `${result.id}: re-driven to ${result.group ?? "its group"} as ${result.newEntryId}`)
      )
    )
).pipe(Command.withDescription("Re-drive a dead letter to the group that failed it"))

const dlqDelete = Command.make("delete", { id, json }, ({ id, json }) =>
  withClient((client) =>
    Effect.flatMap(client.dlq.delete({ params: { id } }), (result) =>
      print(result, json, () => `${result.id}: ${result.deleted ? "deleted" : "already gone"}`))
  )).pipe(Command.withDescription("Delete a dead letter"))

const dlqPurge = Command.make(
  "purge",
  { ...filterFlags, all: Flag.Boolean("all").pipe(Flag.withDescription("Purge every entry (no filter)"), Flag.withDefault(false)), json },
  (flags) =>
    withClient((client) =>
      Effect.flatMap(
        client.dlq.purge({ payload: { ...filterOf(flags), ...(flags.all ? { all: true } : {}) } }),
        (result) => print(result, flags.json, () => `${result.purged} purged`)
      )
    )
).pipe(Command.withDescription("Delete every dead letter matching the filter"))

const dlq = Command.make("dlq").pipe(
  Command.withDescription("The dead-letter queue"),
  Command.withSubcommands([dlqList, dlqShow, dlqRetry, dlqDelete, dlqPurge])
)

const tail = Command.make(
  "tail",
  {
    pattern: Argument.String("pattern").pipe(Argument.withDescription("Event type or pattern (approval.*)"), Argument.optional),
    count: Flag.Int("count").pipe(Flag.withDescription("Stop after this many events"), Flag.optional),
    json
  },
  ({ pattern, count, json }) =>
    withClient((client) =>
      Effect.gen(function*() {
        const events = yield* client.live.tail({
          query: Option.match(pattern, { onNone: () => ({}), onSome: (pattern) => ({ pattern }) })
        })
        const only = events.pipe(Stream.filter((message) => message._tag === "Event"))
        yield* (Option.isSome(count) ? Stream.take(only, count.value) : only).pipe(
          Stream.runForEach((event) =>
            event._tag !== "Event"
              ? Effect.void
              : Console.log(
                json
                  ? JSON.stringify(event)
                  : clean(
                    `${event.timestamp ?? "-"}  ${event.type}  ${event.id ?? "-"}  tenant ${event.tenantId ?? "-"}  ${JSON.stringify(event.data)}`
                  )
              ))
        )
      })
    )
).pipe(Command.withDescription("Print live events, one line each (Ctrl-C to stop)"))

// --- replay ------------------------------------------------------------------------------------

const spans: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * A time flag: an ISO date, epoch milliseconds, or a span ago (`30m`, `2h`, `7d`) from `now`.
 *
 * @category parsing
 * @since 0.2.0
 */
export const parseTime = (flag: string, text: string, now: number): Effect.Effect<number, CliFailure> => {
  const span = /^(\d+)([smhd])$/.exec(text)
  if (span !== null) return Effect.succeed(now - Number(span[1]) * spans[span[2]!]!)
  if (/^\d+$/.test(text)) return Effect.succeed(Number(text))
  const ms = Date.parse(text)
  return Number.isNaN(ms)
    ? Effect.fail(new CliFailure({ message: `--${flag} "${text}": expected an ISO date, epoch milliseconds or a span ago (30m, 2h, 7d)` }))
    : Effect.succeed(ms)
}

const some = <K extends string, A>(key: K, option: Option.Option<A>): { readonly [P in K]?: A } =>
  Option.match(option, { onNone: () => ({}), onSome: (value) => ({ [key]: value }) as { readonly [P in K]?: A } })

const jobId = Argument.String("jobId").pipe(
  Argument.withDescription("The replay job id (rpl_...)"),
  Argument.withSchema(AdminApi.JobId)
)
const detach = Flag.Boolean("detach").pipe(Flag.withDescription("Return once started; do not follow the progress"), Flag.withDefault(false))

const eta = (ms: number | undefined) => (ms === undefined ? "" : `  eta ${ago(ms)}`)

/** One line of progress, as the plain output and the bar show it. */
const progressLine = (p: AdminApi.ReplayProgress) =>
  `${p.status.padEnd(9)} ${p.percent.toFixed(1).padStart(5)} %  scanned ${p.scanned}  matched ${p.matched}  replayed ${p.replayed}  failed ${p.failed}${eta(p.etaMs)}`

/**
 * A progress bar of `width` cells for `percent`.
 *
 * @category rendering
 * @since 0.2.0
 */
export const bar = (percent: number, width = 30): string => {
  const full = Math.round((Math.max(0, Math.min(100, percent)) / 100) * width)
  return `[${"#".repeat(full)}${"-".repeat(width - full)}]`
}

const summary = (view: AdminApi.ReplayJob) =>
  `replay ${view.job.id} ${view.job.status}: scanned ${view.job.scanned}, matched ${view.job.matched}, replayed ${view.job.replayed}, failed ${view.job.failed}` +
  (view.job.errors.length === 0 ? "" : `\nerrors:\n${view.job.errors.map((e) => `  ${clean(e)}`).join("\n")}`)

type Client = HttpApiClient.ForApi<typeof AdminApi.AdminApi>

/**
 * Follows a job to its end and prints it: a bar redrawn in place on a terminal, a line per update
 * otherwise, only the final job with `json`. A job that ends `failed` is a failure (exit 1).
 */
const follow = (client: Client, id: string, json: boolean) =>
  Effect.gen(function*() {
    const stdio = yield* Stdio.Stdio
    const terminal = yield* stdio.stdoutIsTerminal
    const write = (text: string) => Stream.run(Stream.make(text), stdio.stdout()).pipe(Effect.orDie)
    const updates = yield* client.replay.progress({ params: { jobId: id } })
    yield* Stream.runForEach(updates, (p) =>
      json ? Effect.void : terminal ? write(`\r\x1b[2K${bar(p.percent)} ${progressLine(p)}`) : Console.log(progressLine(p)))
    if (terminal && !json) yield* write("\n")
    const final = yield* client.replay.get({ params: { jobId: id } })
    yield* print(final, json, () => summary(final))
    if (final.job.status === "failed") {
      return yield* new CliFailure({ message: `replay ${id} failed: ${final.job.errors.join("; ") || "see the server's log"}` })
    }
  })

const replayStart = Command.make(
  "start",
  {
    group: Flag.String("group").pipe(Flag.withDescription("Replay to this group only (default: every matching group)"), Flag.optional),
    type: Flag.String("type").pipe(Flag.withDescription("Event types, comma-separated"), Flag.optional),
    pattern: Flag.String("pattern").pipe(Flag.withDescription("Event pattern (approval.*)"), Flag.optional),
    tenant: Flag.String("tenant").pipe(Flag.withDescription("Only this tenant's events"), Flag.optional),
    from: Flag.String("from").pipe(Flag.withDescription("Start of the range: ISO date, epoch ms, or a span ago (2h)"), Flag.optional),
    to: Flag.String("to").pipe(Flag.withDescription("End of the range (default: now)"), Flag.optional),
    batchSize: Flag.Int("batch-size").pipe(Flag.withDescription("Events per batch (default 200)"), Flag.optional),
    rate: Flag.Finite("rate").pipe(Flag.withDescription("At most this many events per second"), Flag.optional),
    detach,
    json
  },
  (flags) =>
    withClient((client) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const from = Option.isSome(flags.from) ? Option.some(yield* parseTime("from", flags.from.value, now)) : Option.none()
        const to = Option.isSome(flags.to) ? Option.some(yield* parseTime("to", flags.to.value, now)) : Option.none()
        const types = Option.map(flags.type, (text) => text.split(",").map((t) => t.trim()).filter((t) => t.length > 0))
        const started = yield* client.replay.start({
          payload: {
            ...some("group", flags.group),
            ...some("types", types),
            ...some("pattern", flags.pattern),
            ...some("tenant", flags.tenant),
            ...some("from", from),
            ...some("to", to),
            ...some("batchSize", flags.batchSize),
            ...some("rate", flags.rate)
          }
        })
        if (flags.detach) return yield* print(started, flags.json, () => `replay ${started.job.id} started`)
        if (!flags.json) yield* Console.log(`replay ${started.job.id} started`)
        yield* follow(client, started.job.id, flags.json)
      })
    )
).pipe(Command.withDescription("Start a replay and follow it to its end"))

const replayStatus = Command.make("status", { jobId, json }, ({ jobId, json }) =>
  withClient((client) =>
    Effect.flatMap(client.replay.get({ params: { jobId } }), (view) =>
      print(view, json, () => `${summary(view)}\n${bar(view.progress.percent)} ${progressLine(view.progress)}`))
  )).pipe(Command.withDescription("Where a replay job stands"))

const replayCancel = Command.make("cancel", { jobId, json }, ({ jobId, json }) =>
  withClient((client) =>
    Effect.flatMap(client.replay.cancel({ params: { jobId } }), (view) => print(view, json, () => summary(view)))
  )).pipe(Command.withDescription("Cancel a replay (a running one stops after its current batch)"))

const replayResume = Command.make("resume", { jobId, detach, json }, ({ jobId, detach, json }) =>
  withClient((client) =>
    Effect.gen(function*() {
      const view = yield* client.replay.resume({ params: { jobId } })
      if (detach) return yield* print(view, json, () => `replay ${jobId} resumed from ${view.job.cursor}`)
      if (!json) yield* Console.log(`replay ${jobId} resumed from ${view.job.cursor}`)
      yield* follow(client, jobId, json)
    })
  )).pipe(Command.withDescription("Resume a cancelled or failed replay from where it stopped"))

const replayList = Command.make(
  "list",
  { limit: Flag.Int("limit").pipe(Flag.withDescription("At most this many jobs (1-500)"), Flag.withDefault(20)), json },
  ({ limit, json }) =>
    withClient((client) =>
      Effect.flatMap(client.replay.list({ query: { limit } }), (views) =>
        print(views, json, () =>
          table([
            ["job", "status", "%", "replayed", "target", "tenant", "by", "created"],
            ...views.map((v) => [
              v.job.id,
              v.job.status,
              v.progress.percent.toFixed(1),
              `${v.job.replayed}/${v.job.matched}`,
              v.job.target._tag === "Group" ? v.job.target.group : v.job.target._tag.toLowerCase(),
              v.job.tenantId ?? "*",
              v.job.createdBy,
              new Date(v.job.createdAt).toISOString()
            ])
          ])))
    )
).pipe(Command.withDescription("Replay jobs, newest first"))

const replay = Command.make("replay").pipe(
  Command.withDescription("Replay past events to a group (or every matching group)"),
  Command.withSubcommands([replayStart, replayStatus, replayCancel, replayResume, replayList])
)

// --- history ------------------------------------------------------------------------------------

type Delivery = AdminApi.EventDetail["deliveries"][number]
type StoredEvent = AdminApi.EventDetail["event"]

const deliveriesText = (deliveries: ReadonlyArray<Delivery>) =>
  deliveries.map((d) => `${d.group}: ${d.status}${d.attempts > 1 ? ` x${d.attempts}` : ""}`).join(", ") || "no deliveries"

const eventLine = (event: StoredEvent, deliveries: ReadonlyArray<Delivery>) =>
  clean(`${event.type}  ${event.id}  tenant ${event.tenantId}  ${new Date(event.occurredAt).toISOString()}  [${deliveriesText(deliveries)}]`)

/**
 * A causation tree as text, one event a line, children indented under the event that caused them.
 *
 * @category rendering
 * @since 0.2.0
 */
export const treeText = (trace: AdminApi.Trace): string => {
  const lines = [`${clean(trace.correlationId)} (${trace.size} events)`]
  const walk = (nodes: ReadonlyArray<typeof AdminApi.TraceNode.Type>, indent: string) => {
    for (const [i, node] of nodes.entries()) {
      const last = i === nodes.length - 1
      lines.push(`${indent}${last ? "└─ " : "├─ "}${eventLine(node.event, node.deliveries)}`)
      walk(node.children, `${indent}${last ? "   " : "│  "}`)
    }
  }
  walk(trace.roots, "")
  return lines.join("\n")
}

const trace = Command.make(
  "trace",
  { correlationId: Argument.String("correlationId").pipe(Argument.withDescription("The correlation id")), json },
  ({ correlationId, json }) =>
    withClient((client) =>
      Effect.flatMap(client.history.trace({ params: { correlationId } }), (trace) => print(trace, json, () => treeText(trace)))
    )
).pipe(Command.withDescription("Everything under one correlation id, as a causation tree (needs the event store)"))

const event = Command.make(
  "event",
  { id: Argument.String("id").pipe(Argument.withDescription("The event id")), json },
  ({ id, json }) =>
    withClient((client) =>
      Effect.flatMap(client.history.event({ params: { id } }), (detail) =>
        print(detail, json, () =>
          [
            clean(`${detail.event.type} v${detail.event.version}  ${detail.event.id}  tenant ${detail.event.tenantId}  user ${detail.event.userId}`),
            clean(`source ${detail.event.source}  at ${new Date(detail.event.occurredAt).toISOString()}  entry ${detail.event.entryId}`),
            clean(`correlation ${detail.event.correlationId}${detail.event.causationId === undefined ? "" : `  caused by ${detail.event.causationId}`}`),
            clean(JSON.stringify(detail.event.data)),
            "",
            table([
              ["group", "status", "attempts", "last attempt", "error"],
              ...detail.deliveries.map((d) => [
                d.group,
                d.status,
                String(d.attempts),
                new Date(d.lastAttemptAt).toISOString(),
                d.errorTag === undefined ? "" : clean(`${d.errorTag}: ${d.errorMessage ?? ""}`).slice(0, 80)
              ])
            ])
          ].join("\n")))
    )
).pipe(Command.withDescription("One event from the store, with its delivery per group"))

/**
 * The whole command tree.
 *
 * @category commands
 * @since 0.1.0
 */
export const command = root.pipe(Command.withSubcommands([stats, dlq, tail, replay, trace, event]))

/**
 * Runs the command with `args` (without the `node` and script entries).
 *
 * @category running
 * @since 0.1.0
 */
export const run = Command.runWith(command, { version: "0.1.0" })
