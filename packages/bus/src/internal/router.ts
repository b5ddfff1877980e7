/**
 * The application router: one read of a stream per application, however many subscriptions the
 * application has (issue 12). Without it every subscription is a consumer group of the stream,
 * and each group reads every entry and acks the ones of other types unread: the cost of an event
 * grows with the number of subscriptions, matching or not.
 *
 * The processes of an application read the stream in one group (`<application>:@router`) and copy
 * each entry whose type a route names into that subscription's **inbox**, a stream of its own
 * (`<stream>:inbox:<group>`). The copies and the entry's XACK are one atomic step (the engine's
 * ack step, `Settlement.Settled.forwardTo`), taken server-side byte for byte: a crash forwards an
 * entry wholly or not at all, and an entry acked in the router group is never forwarded again.
 * Each subscription keeps its own group, on its inbox and redeliver stream, and its own settlement
 * (acks, retry schedule, DLQ), so one handler's failure still never re-runs another's; an inbox
 * entry is deleted in the step that settles it, so inboxes hold only unsettled entries.
 *
 * The router is a subscription engine (`./subscription.ts`) in forwarding mode, so it recovers as
 * every subscription does: its own pending entries resumed at start, other consumers' entries
 * claimed after `claimTimeout`, a heartbeat over those it holds, the hold-off after an outage, and
 * its group re-created at the start of what the stream holds after `NOGROUP`.
 *
 * **Routes** live in Redis, in a stream of changes per stream and application
 * (`<stream>:routes:<application>`: `group`, `source`, `names` or `removed`), so every process of
 * the application forwards for every subscription of the application, including the ones it does
 * not run itself (a rolling deploy where one version has a handler the other lacks). A router
 * reads the changes after every read of the stream and before routing what it read; a route
 * registered before `handle` returns therefore reaches every event published after that. A stream
 * of changes (not a hash) needs no read-modify-write: appends never lose each other. When the
 * routes stream is found reset (Redis restarted empty), each router appends its own process's
 * routes again before routing anything.
 *
 * Every key derives from the stream key (`<stream>:…`), so a hash tag in the stream key puts them
 * all in its slot.
 *
 * Why inboxes, and not dispatching in the reading process: an entry leaves the router group only
 * when it is safely in every inbox, so a subscription's retries, claims and DLQ stay per
 * subscription exactly as without the router, across processes and crashes, with the engine
 * unchanged. The price is a second read and a server-side copy per forwarded event: at one
 * subscription routing costs 1.5–2.5× the CPU per event of a group on the stream, at fifty
 * 0.1× (bench `fanout`, `bench/FINDINGS.md`). Hence opt-in (`BusConfig.application`): the
 * default stays one group per subscription, the seed-compatible layout.
 *
 * **Gotchas**: a routed subscription started with `startFrom: "new"` also receives the events the
 * router had read but not yet forwarded when it registered (at most the router's backlog); a
 * copy whose original was trimmed before the router forwarded it carries empty fields.
 */
import { EventPattern } from "@hyvve/schema"
import { Effect, Option, Result, Schema, type Scope } from "effect"
import type * as BusConfig from "../BusConfig.ts"
import type * as RedisStream from "../RedisStream.ts"
import * as Retry from "../Retry.ts"
import type * as Topology from "../Topology.ts"
import type * as Settlement from "./settlement.ts"
import * as Subscription from "./subscription.ts"

// ---------------------------------------------------------------------------------------------
// keys
// ---------------------------------------------------------------------------------------------

/** The inbox of `group`: the entries of `stream` the router forwarded to it. */
export const inboxKey = (stream: string, group: string): string => `${stream}:inbox:${group}`

/** The changes to the routes of `application` on `stream`. */
export const routesKey = (stream: string, application: string): string => `${stream}:routes:${application}`

/** The router's consumer group on the stream (`@` keeps it apart from subscription groups). */
export const groupName = (application: string): string => `${application}:@router`

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/** What a subscription registers: its group, what it subscribed to, and the type names it takes. */
export interface Route {
  readonly group: string
  readonly source: string
  /** Every type name the subscription accepts (aliases included). */
  readonly names: ReadonlyArray<string>
}

/** The router of one stream in this process. */
export interface Router {
  /** The subscription's inbox. */
  readonly inbox: (group: string) => Settlement.Inbox
  /**
   * Registers a route; once this returns, every entry read from the stream afterwards (by any
   * process of the application) is forwarded to the route's inbox.
   */
  readonly register: (route: Route) => Effect.Effect<void, RedisStream.RedisStreamError>
  readonly status: () => Subscription.Status
}

// ---------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------

/** Starts the router of a stream in the current scope: its group exists when this returns. */
export const make = (
  streamKeys: Topology.StreamKeys,
  deps: {
    readonly redis: RedisStream.RedisStream["Service"]
    readonly settings: BusConfig.BusSettings
    readonly application: string
  }
): Effect.Effect<Router, RedisStream.RedisStreamError, Scope.Scope> =>
  Effect.gen(function*() {
    const { application, redis, settings } = deps
    const stream = streamKeys.key
    const key = routesKey(stream, application)
    const table = new Table(stream)
    // Routes registered by this process: appended again if the routes stream is found reset.
    const own = new Map<string, Route>()

    const append = (route: Route) => announce(redis, stream, application, route)

    // Reads the changes since the last one read. The range starts AT the last id read: when that
    // entry is not there, the stream was reset, and it is read again from its start.
    const refresh: Effect.Effect<void, RedisStream.RedisStreamError> = Effect.gen(function*() {
      const last = table.lastId
      const entries = yield* redis.range({ key, start: last ?? "-", end: "+" })
      if (last === undefined || entries[0]?.id === last) {
        table.apply(last === undefined ? entries : entries.slice(1))
        return
      }
      table.reset()
      const present = table.fromEntries(entries)
      const missing = Array.from(own.values()).filter((route) => !present.has(route.group))
      if (missing.length > 0) {
        yield* Effect.logWarning("routes were reset (Redis restarted empty?): registering this process's routes again")
          .pipe(Effect.annotateLogs({ routes: missing.length }))
        yield* Effect.forEach(missing, append, { discard: true })
      }
      table.apply(yield* redis.range({ key, start: "-", end: "+" }))
    })

    yield* refresh
    const engine = yield* Subscription.make(
      {
        source: "router",
        stream: streamKeys,
        group: groupName(application),
        consumer: settings.consumer,
        startFrom: "new",
        policy: Retry.policy(Retry.defaultSchedule),
        idempotent: false,
        names: [],
        matches: () => true,
        lookup: () => undefined,
        forward: { refresh, targets: (entry) => table.targets(entry) }
      },
      { redis, settings, log: undefined }
    )

    // One append, or none when the table (read after the router's last read) has the route
    // already: the routes stream grows only with changes. Routers read the changes after every
    // read, so the route applies to whatever is read once the append landed.
    const register = (route: Route) =>
      Effect.suspend(() => {
        own.set(route.group, route)
        return table.same(route) ? Effect.void : Effect.asVoid(append(route))
      })

    return { inbox: (group) => ({ key: inboxKey(stream, group), stream }), register, status: engine.status } satisfies Router
  })

/**
 * Appends a route to the routes of `application` on `stream` (for `Groups.ensure`; a running
 * router registers through `Router.register`). Appending a route again changes nothing.
 */
export const announce = (
  redis: RedisStream.RedisStream["Service"],
  stream: string,
  application: string,
  route: Route
): Effect.Effect<void, RedisStream.RedisStreamError> =>
  Effect.asVoid(
    redis.append(routesKey(stream, application), {
      group: route.group,
      source: route.source,
      names: JSON.stringify(route.names)
    })
  )

/**
 * Removes the route of `group` (its inbox no longer receives anything) and deletes its inbox:
 * for `Groups.remove`.
 */
export const deregister = (
  redis: RedisStream.RedisStream["Service"],
  stream: string,
  application: string,
  group: string
): Effect.Effect<void, RedisStream.RedisStreamError> =>
  Effect.andThen(
    redis.append(routesKey(stream, application), { group, removed: "1" }),
    redis.deleteKeys([inboxKey(stream, group)])
  )

/** The groups with a route on `stream` for `application` (for operators and `Groups`). */
export const routes = (
  redis: RedisStream.RedisStream["Service"],
  stream: string,
  application: string
): Effect.Effect<ReadonlyArray<Route>, RedisStream.RedisStreamError> =>
  Effect.map(redis.range({ key: routesKey(stream, application), start: "-", end: "+" }), (entries) => {
    const table = new Table(stream)
    table.apply(entries)
    return table.list()
  })

// ---------------------------------------------------------------------------------------------
// internal
// ---------------------------------------------------------------------------------------------

const decodeNames = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Array(Schema.String)))

interface Compiled extends Route {
  readonly inbox: string
  readonly accepted: ReadonlySet<string>
  readonly pattern: EventPattern.EventPattern | undefined
}

/** The routes as folded from their changes, and the inboxes of each type name (memoized). */
class Table {
  lastId: string | undefined
  private readonly stream: string
  private byGroup = new Map<string, Compiled>()
  private memo = new Map<string, ReadonlyArray<string>>()
  private all: ReadonlyArray<string> = []
  constructor(stream: string) {
    this.stream = stream
  }

  reset(): void {
    this.lastId = undefined
    this.byGroup = new Map()
    this.changed()
  }

  /** The routes the changes in `entries` describe, alone (to see what a reset stream lacks). */
  fromEntries(entries: ReadonlyArray<RedisStream.Entry>): ReadonlyMap<string, Compiled> {
    const table = new Table(this.stream)
    table.apply(entries)
    return table.byGroup
  }

  apply(entries: ReadonlyArray<RedisStream.Entry>): void {
    if (entries.length === 0) return
    for (const entry of entries) {
      this.lastId = entry.id
      const group = entry.fields["group"]
      if (group === undefined) continue
      if (entry.fields["removed"] !== undefined) {
        this.byGroup.delete(group)
        continue
      }
      const source = entry.fields["source"] ?? ""
      const names = Option.getOrElse(decodeNames(entry.fields["names"]), () => [])
      const pattern = Result.getOrUndefined(Result.try(() => EventPattern.makeUnsafe(source)))
      this.byGroup.set(group, {
        group,
        source,
        names,
        inbox: inboxKey(this.stream, group),
        accepted: new Set(names),
        pattern
      })
    }
    this.changed()
  }

  same(route: Route): boolean {
    const current = this.byGroup.get(route.group)
    return current !== undefined && current.source === route.source &&
      current.names.length === route.names.length && route.names.every((name) => current.accepted.has(name))
  }

  list(): ReadonlyArray<Route> {
    return Array.from(this.byGroup.values(), ({ group, names, source }) => ({ group, source, names }))
  }

  /**
   * The inboxes `entry` goes to, by its `type` field (read from the envelope when absent, as the
   * NestJS bus writes only `event`); an entry whose type cannot be read goes to every inbox, to
   * be dead-lettered by each subscription as it would be without the router.
   */
  targets(entry: RedisStream.GroupEntry): ReadonlyArray<string> {
    const type = entry.fields["type"] ?? typeOf(entry.fields["event"])
    if (type === undefined) return this.all
    const known = this.memo.get(type)
    if (known !== undefined) return known
    const inboxes: Array<string> = []
    for (const route of this.byGroup.values()) {
      if (route.accepted.has(type) || (route.pattern !== undefined && EventPattern.matches(route.pattern, type))) {
        inboxes.push(route.inbox)
      }
    }
    this.memo.set(type, inboxes)
    return inboxes
  }

  private changed(): void {
    this.memo = new Map()
    this.all = Array.from(this.byGroup.values(), (route) => route.inbox)
  }
}

// The `type` of an envelope written without a `type` field; undefined when unreadable.
const typeOf = (json: string | undefined): string | undefined => {
  if (json === undefined) return undefined
  const parsed = Result.try((): unknown => JSON.parse(json))
  if (Result.isFailure(parsed)) return undefined
  const value = parsed.success
  return typeof value === "object" && value !== null && "type" in value && typeof value.type === "string" ?
    value.type :
    undefined
}
