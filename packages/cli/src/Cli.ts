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
 * ```
 *
 * `--url` (or `HYVVE_ADMIN_URL`, default `http://127.0.0.1:8080`) and `--token` (or
 * `HYVVE_ADMIN_TOKEN`) say where and who; `--json` prints machine-readable output. Failures are
 * one line on stderr and exit code 1: the server is not reachable, the token is refused, the
 * role or tenant does not allow it, the entry is not there.
 *
 * Replay (`hyvve replay start|status|cancel|resume`) and `hyvve trace` join when the event store's
 * routes are in the API.
 *
 * @since 0.1.0
 */
import * as AdminApi from "@hyvve/admin/AdminApi"
import * as Auth from "@hyvve/admin/Auth"
import { Config, Console, Data, Effect, Layer, Option, Redacted, Stream } from "effect"
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
        return `the admin API cannot reach Redis (503): ${message}`
      case "SchemaError":
        return `the request or the answer of ${baseUrl} does not match the admin API: ${message.split("\n")[0]}`
    }
    return `${String(error._tag)}: ${message}`
  }
  return String(error)
}

/** Runs `f` with a client for the root flags; every failure becomes one `CliFailure` line. */
const withClient = <A, E>(f: (client: HttpApiClient.ForApi<typeof AdminApi.AdminApi>) => Effect.Effect<A, E>) =>
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

/**
 * The whole command tree.
 *
 * @category commands
 * @since 0.1.0
 */
export const command = root.pipe(Command.withSubcommands([stats, dlq, tail]))

/**
 * Runs the command with `args` (without the `node` and script entries).
 *
 * @category running
 * @since 0.1.0
 */
export const run = Command.runWith(command, { version: "0.1.0" })
