/**
 * Operator actions on consumer groups and streams, over the `RedisStream` and `BusConfig` in
 * context (so on either backend):
 *
 * - `ensure(source)` creates a subscription's group without consuming, so that events published
 *   from now on wait for it (a deploy creates the groups before the first publisher starts);
 * - `list()` and `consumers(group)` show the groups of the topology's streams and who is in them
 *   (with several streams, a group's rows added up over the streams it reads);
 * - `remove(source)` removes one subscription: its group, its route and inbox (application mode)
 *   and everything the bus keeps for it;
 * - `deleteStream()` removes a stream with its groups and everything the bus keeps per group for it.
 *
 * Groups are named the way `Consumer.subscribe` / `Consumer.handle` name them:
 * `${settings.group}:${event type or pattern}` unless a `group` is given.
 *
 * ```ts
 * const group = yield* Groups.ensure("approval.*", { startFrom: "all" }) // "hyvve-platform:approval.*"
 * for (const c of yield* Groups.consumers(group)) console.log(c.name, c.pending, c.idleMs)
 * ```
 *
 * @since 0.1.0
 */
import type { EventError } from "@hyvve/schema"
import { EventPattern, EventType } from "@hyvve/schema"
import { Effect, Option } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as RedisStream from "./RedisStream.ts"
import * as Topology from "./Topology.ts"
import * as Registry from "./internal/registry.ts"
import * as Router from "./internal/router.ts"
import * as StreamRegistry from "./internal/streamRegistry.ts"
import * as Settlement from "./internal/settlement.ts"

/**
 * The group a subscription to `source` uses: `options.group` when given, else
 * `${settings.group}:${source}` (the type name of an event type, the pattern itself otherwise).
 * Fails with `InvalidPattern` for a pattern `Consumer.subscribe` would reject.
 *
 * @category constructors
 * @since 0.1.0
 */
export const name = (
  source: EventType.Any | string,
  options?: { readonly group?: string | undefined }
): Effect.Effect<string, EventError.InvalidPattern, BusConfig.BusConfig> =>
  Effect.gen(function*() {
    const settings = yield* BusConfig.BusConfig
    if (typeof source !== "string") return options?.group ?? `${settings.group}:${source.type}`
    yield* EventPattern.make(source)
    return options?.group ?? `${settings.group}:${source}`
  })

/**
 * Creates the group of a subscription to `source` if it does not exist yet, on every stream of the
 * topology its event types can be in (during a migration, the previous topology's too) and on the
 * group's redelivery stream of each, exactly as a subscription does when it starts, without
 * consuming anything; returns its name. `startFrom: "new"` (the default) makes a new group see
 * the events published from now on, `"all"` also every retained one. An existing group is left
 * as it is. Idempotent.
 *
 * Under `family`, a pattern starting with a wildcard (`**`) gets its group on the streams the
 * stream registry records too (see `Topology.registryKey`), as `Consumer` reads them.
 *
 * With an `application` (and neither `isolated` nor `startFrom: "all"`), the subscription is
 * routed, as `Consumer` would route it: the router's group on the stream, the subscription's
 * group on its inbox, and its route are created instead, so the application's routers forward
 * its events to the inbox from now on.
 *
 * @category operations
 * @since 0.1.0
 */
export const ensure = (
  source: EventType.Any | string,
  options?: {
    readonly group?: string | undefined
    readonly startFrom?: "new" | "all" | undefined
    readonly isolated?: boolean | undefined
  }
): Effect.Effect<string, EventError.InvalidPattern | RedisStream.RedisStreamError, RedisStream.RedisStream | BusConfig.BusConfig> =>
  Effect.gen(function*() {
    const group = yield* name(source, options)
    const settings = yield* BusConfig.BusConfig
    const redis = yield* RedisStream.RedisStream
    const types = typeof source === "string" ?
      settings.catalog.match(yield* EventPattern.make(source)).map((eventType) => eventType.type) :
      [source.type]
    const { application } = settings
    const routed = application !== undefined && options?.isolated !== true && options?.startFrom !== "all"
    // The type names the subscription takes, aliases included, as `Consumer` resolves them.
    const names = typeof source !== "string" ?
      EventType.names(source) :
      settings.catalog.match(yield* EventPattern.make(source)).flatMap((type) => EventType.names(type))
    // As a subscription does (see `Topology.streamsToRead`): while migrating, groups on the new
    // streams start at their beginning (and are not routed).
    for (const { migrating, stream } of Topology.streamsToRead(settings, types)) {
      yield* redis.createGroup(stream.redeliver(group), group, "0")
      if (!routed || migrating) {
        yield* redis.createGroup(stream.key, group, migrating || options?.startFrom === "all" ? "0" : "$")
        continue
      }
      yield* redis.createGroup(stream.key, Router.groupName(application), "$")
      yield* redis.createGroup(Router.inboxKey(stream.key, group), group, "0")
      yield* Router.announce(redis, stream.key, application, {
        group,
        source: typeof source === "string" ? source : source.type,
        names: Array.from(new Set(names))
      })
    }
    // Under `family`, a wildcard-first pattern also reads the streams the registry records beyond
    // the catalog, with a group on each stream (never routed), as `Consumer` does.
    if (typeof source === "string" && source.startsWith("*")) {
      const catalogued = new Set(Topology.streamsToRead(settings, types).map(({ stream }) => stream.key))
      for (const stream of yield* StreamRegistry.recorded(redis, settings)) {
        if (catalogued.has(stream.key)) continue
        yield* redis.createGroup(stream.redeliver(group), group, "0")
        yield* redis.createGroup(stream.key, group, options?.startFrom === "all" ? "0" : "$")
      }
    }
    return group
  })

/**
 * Every stream of the topology: its streams (and a previous topology's, during a migration), and
 * under `family` also those the stream registry records (families of other publishers' catalogs,
 * see `Topology.registryKey`). What the operators' views (DLQ, health, groups, admin) read.
 *
 * @category operations
 * @since 0.3.0
 */
export const streams = (): Effect.Effect<
  ReadonlyArray<Topology.StreamKeys>,
  RedisStream.RedisStreamError,
  RedisStream.RedisStream | BusConfig.BusConfig
> =>
  Effect.gen(function*() {
    const settings = yield* BusConfig.BusConfig
    const redis = yield* RedisStream.RedisStream
    return yield* StreamRegistry.all(redis, settings)
  })

/**
 * The consumer groups of the topology's streams (`streams()`), with pending count and lag (empty
 * when no stream exists yet); a group on several streams is one row, its pending counts and lags added up.
 *
 * @category operations
 * @since 0.1.0
 */
export const list = (): Effect.Effect<
  ReadonlyArray<RedisStream.GroupInfo>,
  RedisStream.RedisStreamError,
  RedisStream.RedisStream | BusConfig.BusConfig
> =>
  Effect.gen(function*() {
    const redis = yield* RedisStream.RedisStream
    // Under `family`, the streams of families other catalogs publish to too (the stream registry).
    const all = yield* streams()
    if (all.length === 1) return yield* redis.groups(all[0]!.key)
    return mergeGroups(yield* Effect.forEach(all, (stream) => redis.groups(stream.key)))
  })

/**
 * Groups listed per stream, as one row per group: pending counts and lags added up (the lag
 * unknown if unknown on any stream), consumers the most on one stream, the last delivered id the
 * highest.
 *
 * @category operations
 * @since 0.3.0
 */
export const mergeGroups = (perStream: ReadonlyArray<ReadonlyArray<RedisStream.GroupInfo>>): ReadonlyArray<RedisStream.GroupInfo> => {
  const byName = new Map<string, RedisStream.GroupInfo>()
  for (const groups of perStream) {
    for (const group of groups) {
      const seen = byName.get(group.name)
      byName.set(
        group.name,
        seen === undefined ? group : {
          name: group.name,
          consumers: Math.max(seen.consumers, group.consumers),
          pending: seen.pending + group.pending,
          lastDeliveredId: RedisStream.compareEntryIds(seen.lastDeliveredId, group.lastDeliveredId) >= 0 ?
            seen.lastDeliveredId :
            group.lastDeliveredId,
          lag: seen.lag === undefined || group.lag === undefined ? undefined : seen.lag + group.lag
        }
      )
    }
  }
  return Array.from(byName.values())
}

/**
 * The consumers of `group`, by name: entries pending on each (on every stream of the topology and
 * the group's redelivery streams together) and the time since each last read or claimed (the
 * smallest over the streams). A consumer stays listed after its process is gone, until the group
 * is removed. Fails with kind `NoGroup` when the group exists on none of the streams.
 *
 * @category operations
 * @since 0.1.0
 */
export const consumers = (
  group: string
): Effect.Effect<ReadonlyArray<RedisStream.ConsumerInfo>, RedisStream.RedisStreamError, RedisStream.RedisStream | BusConfig.BusConfig> =>
  Effect.gen(function*() {
    const settings = yield* BusConfig.BusConfig
    const redis = yield* RedisStream.RedisStream
    const isNoGroup = (error: RedisStream.RedisStreamError) => error.kind === "NoGroup"
    const rows: Array<RedisStream.ConsumerInfo> = []
    // The group's `NoGroup` error, kept in case it is on none of the streams.
    let missing: RedisStream.RedisStreamError | undefined
    let found = false
    for (const stream of yield* StreamRegistry.all(redis, settings)) {
      const main = yield* redis.consumers(stream.key, group).pipe(
        Effect.map(Option.some),
        Effect.catchIf(isNoGroup, (error) => {
          missing ??= error
          return Effect.succeedNone
        })
      )
      if (Option.isNone(main)) continue
      found = true
      rows.push(...main.value)
      rows.push(...(yield* redis.consumers(stream.redeliver(group), group).pipe(Effect.catchIf(isNoGroup, () => Effect.succeed([])))))
    }
    if (!found && missing !== undefined) return yield* missing
    const byName = new Map<string, RedisStream.ConsumerInfo>()
    for (const row of rows) {
      const seen = byName.get(row.name)
      byName.set(
        row.name,
        seen === undefined ? row : {
          name: row.name,
          pending: seen.pending + row.pending,
          idleMs: Math.min(seen.idleMs, row.idleMs)
        }
      )
    }
    return Array.from(byName.values())
  })

/**
 * Removes the subscription to `source` (named as `name` names it): its group on every stream,
 * its route and inbox when the bus has an `application` (the router stops forwarding to it), its
 * redelivery stream, retry schedules, failure records and done-markers, and its entry in the
 * replay registry. Returns the group's name. Idempotent. The DLQ keeps its dead letters.
 *
 * **Gotchas**: stop the subscription in every process first: one still running creates its group
 * again (and a routed one registers its route again when it next starts).
 *
 * @category operations
 * @since 0.1.0
 */
export const remove = (
  source: EventType.Any | string,
  options?: { readonly group?: string | undefined }
): Effect.Effect<string, EventError.InvalidPattern | RedisStream.RedisStreamError, RedisStream.RedisStream | BusConfig.BusConfig> =>
  Effect.gen(function*() {
    const group = yield* name(source, options)
    const settings = yield* BusConfig.BusConfig
    const redis = yield* RedisStream.RedisStream
    const { application } = settings
    // Every stream it may have read: any of the topology's (and a previous topology's).
    for (const stream of yield* StreamRegistry.all(redis, settings)) {
      if (application !== undefined) yield* Router.deregister(redis, stream.key, application, group)
      yield* redis.destroyGroup(stream.key, group)
      const inbox = Router.inboxKey(stream.key, group)
      const redeliver = stream.redeliver(group)
      const keys = [inbox, redeliver, stream.done(group)]
      for (const key of [stream.key, inbox, redeliver]) {
        keys.push(Settlement.retryKey(key, group), Settlement.failuresKey(key, group))
      }
      yield* redis.deleteKeys(keys)
    }
    yield* redis.transaction([{ _tag: "HDel", key: Registry.key(settings.prefix), fields: [group] }])
    return group
  })

/**
 * Deletes a stream (every stream of the topology by default) with its consumer groups and their
 * pending entries, and what the bus keeps per group for it: retry schedules and failure records,
 * and for a stream of the topology each group's redelivery stream. Returns whether a stream
 * existed. A DLQ is a stream of its own and is kept unless `key` names it.
 *
 * Stop the subscriptions first: a running subscription creates its group again on its next read,
 * at the end of the stream.
 *
 * @category operations
 * @since 0.1.0
 */
export const deleteStream = (
  key?: string
): Effect.Effect<boolean, RedisStream.RedisStreamError, RedisStream.RedisStream | BusConfig.BusConfig> =>
  Effect.gen(function*() {
    const settings = yield* BusConfig.BusConfig
    const redis = yield* RedisStream.RedisStream
    const layout = Topology.of(settings)
    const targets = key === undefined ? layout.streams.map((stream) => stream.key) : [key]
    let existed = false
    for (const stream of targets) {
      const keys = layout.find(stream)
      if ((yield* redis.info(stream)) !== undefined) existed = true
      const groups = yield* redis.groups(stream)
      const doomed = [stream]
      for (const { name: group } of groups) {
        doomed.push(Settlement.retryKey(stream, group), Settlement.failuresKey(stream, group))
        if (keys !== undefined) {
          const redeliver = keys.redeliver(group)
          doomed.push(redeliver, Settlement.retryKey(redeliver, group), Settlement.failuresKey(redeliver, group))
        }
      }
      // One stream's keys share its hash tag: one delete per stream.
      yield* redis.deleteKeys(doomed)
    }
    return existed
  })
