/**
 * Operator actions on consumer groups and streams, over the `RedisStream` and `BusConfig` in
 * context (so on either backend):
 *
 * - `ensure(source)` creates a subscription's group without consuming, so that events published
 *   from now on wait for it (a deploy creates the groups before the first publisher starts);
 * - `list()` and `consumers(group)` show the groups of the main stream and who is in them;
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
import { Effect } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as Keys from "./Keys.ts"
import * as RedisStream from "./RedisStream.ts"
import * as Registry from "./internal/registry.ts"
import * as Router from "./internal/router.ts"
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
 * Creates the group of a subscription to `source` if it does not exist yet, on the main stream
 * and on the group's redelivery stream, exactly as a subscription does when it starts, without
 * consuming anything; returns its name. `startFrom: "new"` (the default) makes a new group see
 * the events published from now on, `"all"` also every retained one. An existing group is left
 * as it is. Idempotent.
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
    const main = Keys.main(settings.prefix)
    const { application } = settings
    yield* redis.createGroup(Settlement.redeliverKey(settings.prefix, group), group, "0")
    if (application === undefined || options?.isolated === true || options?.startFrom === "all") {
      yield* redis.createGroup(main, group, options?.startFrom === "all" ? "0" : "$")
      return group
    }
    // The type names the subscription takes, aliases included, as `Consumer` resolves them.
    const names = typeof source !== "string" ?
      EventType.names(source) :
      settings.catalog.match(yield* EventPattern.make(source)).flatMap((type) => EventType.names(type))
    yield* redis.createGroup(main, Router.groupName(application), "$")
    yield* redis.createGroup(Router.inboxKey(main, group), group, "0")
    yield* Router.announce(redis, main, application, {
      group,
      source: typeof source === "string" ? source : source.type,
      names: Array.from(new Set(names))
    })
    return group
  })

/**
 * The consumer groups of the main stream, with pending count and lag (empty when the stream does
 * not exist yet).
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
    const settings = yield* BusConfig.BusConfig
    const redis = yield* RedisStream.RedisStream
    return yield* redis.groups(Keys.main(settings.prefix))
  })

/**
 * The consumers of `group`, by name: entries pending on each (on the main stream and the group's
 * redelivery stream together) and the time since each last read or claimed (the smaller of the
 * two streams'). A consumer stays listed after its process is gone, until the group is removed.
 * Fails with kind `NoGroup` when the group does not exist on the main stream.
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
    const main = yield* redis.consumers(Keys.main(settings.prefix), group)
    const redeliver = yield* redis.consumers(Settlement.redeliverKey(settings.prefix, group), group).pipe(
      Effect.catchIf((error) => error.kind === "NoGroup", () => Effect.succeed([]))
    )
    const byName = new Map<string, RedisStream.ConsumerInfo>()
    for (const row of [...main, ...redeliver]) {
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
 * Removes the subscription to `source` (named as `name` names it): its group on the main stream,
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
    const main = Keys.main(settings.prefix)
    if (settings.application !== undefined) yield* Router.deregister(redis, main, settings.application, group)
    yield* redis.destroyGroup(main, group)
    const inbox = Router.inboxKey(main, group)
    const redeliver = Settlement.redeliverKey(settings.prefix, group)
    const keys = [inbox, redeliver, Settlement.doneKey(settings.prefix, group)]
    for (const key of [main, inbox, redeliver]) keys.push(Settlement.retryKey(key, group), Settlement.failuresKey(key, group))
    yield* redis.deleteKeys(keys)
    yield* redis.transaction([{ _tag: "HDel", key: Registry.key(settings.prefix), fields: [group] }])
    return group
  })

/**
 * Deletes a stream (the main stream by default) with its consumer groups and their pending
 * entries, and what the bus keeps per group for it: retry schedules and failure records, and for
 * the main stream each group's redelivery stream. Returns whether the stream existed. The DLQ is
 * a stream of its own and is kept unless `key` is `Keys.dlq(prefix)`.
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
    const main = Keys.main(settings.prefix)
    const stream = key ?? main
    const existed = (yield* redis.info(stream)) !== undefined
    const groups = yield* redis.groups(stream)
    const keys = [stream]
    for (const { name: group } of groups) {
      keys.push(Settlement.retryKey(stream, group), Settlement.failuresKey(stream, group))
      if (stream === main) {
        const redeliver = Settlement.redeliverKey(settings.prefix, group)
        keys.push(redeliver, Settlement.retryKey(redeliver, group), Settlement.failuresKey(redeliver, group))
      }
    }
    yield* redis.deleteKeys(keys)
    return existed
  })
