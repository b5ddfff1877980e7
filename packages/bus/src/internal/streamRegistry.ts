/**
 * The stream registry (`Topology.registryKey`): which streams publishers have written under an
 * open layout (`family`), so that a `**` subscription and the operators' views find the streams
 * of families their own catalog does not list.
 */
import { Effect } from "effect"
import type * as RedisStream from "../RedisStream.ts"
import * as Topology from "../Topology.ts"

/**
 * A publisher's recorder: records the streams it is about to append to, once per stream per
 * process (the first publish to a stream costs one `HSET`, later ones a set lookup). Undefined
 * when the layout's streams are all known up front.
 */
export const recorder = (
  redis: RedisStream.RedisStream["Service"],
  settings: Topology.Settings
): ((streams: ReadonlyArray<Topology.StreamKeys>) => Effect.Effect<void, RedisStream.RedisStreamError>) | undefined => {
  const layout = Topology.of(settings)
  if (!layout.open) return undefined
  const key = Topology.registryKey(settings.prefix)
  const recorded = new Set<string>()
  return (streams) => {
    const fresh = streams.filter((stream) => !recorded.has(stream.key))
    if (fresh.length === 0) return Effect.void
    return redis.transaction(fresh.map((stream) => ({ _tag: "HSet", key, field: stream.name, value: stream.key }))).pipe(
      Effect.andThen(Effect.sync(() => {
        for (const stream of fresh) recorded.add(stream.key)
      }))
    )
  }
}

/** The streams the registry names beyond `known` (by key), in name order; none for a closed layout. */
export const recorded = (
  redis: RedisStream.RedisStream["Service"],
  settings: Topology.Settings
): Effect.Effect<ReadonlyArray<Topology.StreamKeys>, RedisStream.RedisStreamError> => {
  const layout = Topology.of(settings)
  if (!layout.open) return Effect.succeed([])
  return Effect.map(redis.hashFields(Topology.registryKey(settings.prefix)), (names) =>
    [...names].sort().flatMap((name) => {
      const stream = layout.named(name)
      return stream === undefined ? [] : [stream]
    }))
}

/**
 * Every stream the operators' views read: `Topology.allStreams`, then the registry's others.
 */
export const all = (
  redis: RedisStream.RedisStream["Service"],
  settings: Topology.Settings
): Effect.Effect<ReadonlyArray<Topology.StreamKeys>, RedisStream.RedisStreamError> => {
  const base = Topology.allStreams(settings)
  if (!Topology.of(settings).open) return Effect.succeed(base)
  return Effect.map(recorded(redis, settings), (more) => {
    const keys = new Set(base.map((stream) => stream.key))
    return [...base, ...more.filter((stream) => !keys.has(stream.key))]
  })
}
