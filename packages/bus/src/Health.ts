/**
 * The health of the bus as an operator (and the admin API) sees it: Redis reachable and how fast,
 * every stream of the topology with its length (under `family`, those the stream registry
 * records too), every group with its pending count and lag
 * (added up over the streams it reads; with an `application`, the router's group on each stream
 * and each routed subscription's group on its inboxes), the subscriptions of this
 * process with their circuit state, and the DLQ's size against its maximum. With a history
 * (`History` in the layer's context), its reasons too (`history: ...`: the event store failing,
 * outcomes dropped, gaps), which leave `healthy` as it is: delivery goes on without the store.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as Consumer from "./Consumer.ts"
import * as History from "./History.ts"
import * as Groups from "./Groups.ts"
import * as Metrics from "./Metrics.ts"
import * as RedisStream from "./RedisStream.ts"
import * as Topology from "./Topology.ts"
import * as Router from "./internal/router.ts"
import * as StreamRegistry from "./internal/streamRegistry.ts"

/**
 * One health report. `healthy` is false when Redis does not answer or a circuit is open.
 *
 * @category models
 * @since 0.1.0
 */
export interface Report {
  readonly healthy: boolean
  readonly reasons: ReadonlyArray<string>
  readonly redis: { readonly reachable: boolean; readonly latencyMs: number | undefined; readonly error: string | undefined }
  /**
   * The stream and its length; with several streams (see `Topology`) `key` is the topology's
   * name (`family`, `partitioned:16:tenant`) and `length` the total.
   */
  readonly stream: { readonly key: string; readonly length: number }
  /** Every stream of the topology (and of the previous one during a migration), with its length. */
  readonly streams: ReadonlyArray<{ readonly key: string; readonly length: number }>
  /** Every group, one row over all the streams it reads (see `Groups.mergeGroups`). */
  readonly groups: ReadonlyArray<RedisStream.GroupInfo>
  /** Every group's consumers with their pending count and idle time (ms since last seen). */
  readonly consumers: Readonly<Record<string, ReadonlyArray<RedisStream.ConsumerInfo>>>
  readonly subscriptions: ReadonlyArray<Consumer.SubscriptionStatus>
  readonly dlq: { readonly size: number; readonly maxLength: number; readonly usage: number }
}

/**
 * Reports the bus's health.
 *
 * @category services
 * @since 0.1.0
 */
export class Health extends Context.Service<Health, {
  /** Checks Redis and reads group and DLQ state; never fails (an unreachable Redis is reported). */
  readonly check: Effect.Effect<Report>
}>()("@hyvve/bus/Health") {}

/**
 * Creates the health service.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<Health["Service"], never, RedisStream.RedisStream | BusConfig.BusConfig | Consumer.Consumer> =
  Effect.gen(function*() {
    const redis = yield* RedisStream.RedisStream
    const settings = yield* BusConfig.BusConfig
    const consumer = yield* Consumer.Consumer
    const history = yield* Effect.serviceOption(History.History)
    const known = Topology.allStreams(settings)
    const streamKey = known.length === 1 ? known[0]!.key : Topology.format(settings.topology)
    const { application } = settings

    // The group of each routed subscription on its inbox of each stream (none without an
    // application).
    const routedGroups = (streams: ReadonlyArray<Topology.StreamKeys>) =>
      application === undefined ?
      Effect.succeed([]) :
      Effect.forEach(streams, (stream) =>
        Router.routes(redis, stream.key, application).pipe(
          Effect.flatMap((routes) =>
            Effect.forEach(routes, (route) => {
              const key = Router.inboxKey(stream.key, route.group)
              return Effect.map(
                redis.groups(key),
                (groups) => groups.filter((group) => group.name === route.group).map((group) => ({ group, key }))
              )
            })
          ),
          Effect.map((rows) => rows.flat())
        )).pipe(
          Effect.map((rows) => rows.flat()),
          Effect.orElseSucceed(() => [])
        )

    const check = Effect.gen(function*() {
      const subscriptions = yield* consumer.status
      const reasons: Array<string> = []
      for (const sub of subscriptions) {
        if (sub.circuit === "open") reasons.push(`circuit open for group ${sub.group}: ${sub.lastError ?? "Redis errors"}`)
      }
      const startedAt = yield* Clock.currentTimeMillis
      const probe = yield* Effect.result(
        Effect.gen(function*() {
          yield* redis.ping
          // Under `family`, the streams of families other catalogs publish too (the registry).
          const streams = yield* StreamRegistry.all(redis, settings)
          const dlqKeys = Array.from(new Set(streams.map((stream) => stream.dlq)))
          const [perStream, dlqSizes] = yield* Effect.all([
            Effect.forEach(streams, (stream) => Effect.all([redis.length(stream.key), redis.groups(stream.key)])),
            Effect.forEach(dlqKeys, redis.length)
          ])
          return [streams, perStream, dlqSizes] as const
        }).pipe(
          Effect.timeoutOrElse({
            duration: "2 seconds",
            orElse: () => Effect.fail(new RedisStream.RedisStreamError({ command: "PING", kind: "Unavailable", detail: "no answer within 2 s" }))
          })
        )
      )
      const latencyMs = (yield* Clock.currentTimeMillis) - startedAt
      if (probe._tag === "Failure") {
        reasons.push(`Redis unreachable: ${probe.failure.message}`)
        return {
          healthy: false,
          reasons,
          redis: { reachable: false, latencyMs: undefined, error: probe.failure.message },
          stream: { key: streamKey, length: 0 },
          streams: [],
          groups: [],
          consumers: {},
          subscriptions,
          dlq: { size: 0, maxLength: settings.dlqMaxLength, usage: 0 }
        } satisfies Report
      }
      const [streams, perStream, dlqSizes] = probe.success
      const lengths = perStream.map(([length], i) => ({ key: streams[i]!.key, length }))
      const length = lengths.reduce((sum, s) => sum + s.length, 0)
      // Routed subscriptions' groups live on their inboxes: reported beside the streams' own.
      const routed = yield* routedGroups(streams)
      const groups = Groups.mergeGroups([...perStream.map(([, groups]) => groups), routed.map((r) => r.group)])
      const dlqSize = dlqSizes.reduce((a, b) => a + b, 0)
      const consumers: Record<string, Array<RedisStream.ConsumerInfo>> = {}
      const located = [
        ...perStream.flatMap(([, groupsOfStream], i) => groupsOfStream.map((group) => ({ group, key: streams[i]!.key }))),
        ...routed
      ]
      for (const { group, key } of located) {
        // A group removed meanwhile simply has no row.
        const rows = yield* Effect.option(redis.consumers(key, group.name))
        if (rows._tag === "Some") consumers[group.name] = mergeConsumers(consumers[group.name] ?? [], rows.value)
      }
      for (const group of groups) yield* Metrics.groupState(group.name, group.lag ?? 0, group.pending)
      const usage = dlqSize / settings.dlqMaxLength
      if (usage >= 0.8) reasons.push(`DLQ at ${Math.round(usage * 100)} % of its maximum (${dlqSize}/${settings.dlqMaxLength})`)
      if (Option.isSome(history)) for (const reason of (yield* history.value.status).reasons) reasons.push(`history: ${reason}`)
      return {
        healthy: reasons.every((reason) => reason.startsWith("DLQ") || reason.startsWith("history: ")),
        reasons,
        redis: { reachable: true, latencyMs, error: undefined },
        stream: { key: streamKey, length },
        streams: lengths,
        groups,
        consumers,
        subscriptions,
        dlq: { size: dlqSize, maxLength: settings.dlqMaxLength, usage }
      } satisfies Report
    })

    return Health.of({ check })
  })

// A consumer on several streams: its pending counts added up, its idle time the smallest.
const mergeConsumers = (
  seen: ReadonlyArray<RedisStream.ConsumerInfo>,
  rows: ReadonlyArray<RedisStream.ConsumerInfo>
): Array<RedisStream.ConsumerInfo> => {
  const byName = new Map(seen.map((row) => [row.name, row]))
  for (const row of rows) {
    const before = byName.get(row.name)
    byName.set(
      row.name,
      before === undefined ?
        row :
        { name: row.name, pending: before.pending + row.pending, idleMs: Math.min(before.idleMs, row.idleMs) }
    )
  }
  return Array.from(byName.values())
}

/**
 * Provides the health service.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Health, never, RedisStream.RedisStream | BusConfig.BusConfig | Consumer.Consumer> =
  Layer.effect(Health, make)

/**
 * Checks health through the `Health` service in context.
 *
 * @category accessors
 * @since 0.1.0
 */
export const check: Effect.Effect<Report, never, Health> = Health.use((health) => health.check)
