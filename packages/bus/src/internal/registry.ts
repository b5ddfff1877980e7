/**
 * Which event type or pattern each consumer group subscribes to: a hash in Redis
 * (`<prefix>:events:subscriptions`, group → source), written when a subscription starts, so a
 * replay can find every group whose subscription matches an event, whichever process runs it.
 */
import { Effect } from "effect"
import type * as RedisStream from "../RedisStream.ts"

/** The registry's key. */
export const key = (prefix: string): string => `${prefix}:events:subscriptions`

/** Records that `group` subscribes to `source`; a failure only costs replays of that group. */
export const register = (
  redis: RedisStream.RedisStream["Service"],
  prefix: string,
  group: string,
  source: string
): Effect.Effect<void> =>
  redis.transaction([{ _tag: "HSet", key: key(prefix), field: group, value: source }]).pipe(
    Effect.catch((error) =>
      Effect.logWarning("could not register the subscription for replays").pipe(
        Effect.annotateLogs({ group, error: error.message })
      )
    ),
    Effect.asVoid
  )

/** The sources of `groups` (undefined where a group never registered). */
export const sources = (
  redis: RedisStream.RedisStream["Service"],
  prefix: string,
  groups: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<string | undefined>, RedisStream.RedisStreamError> =>
  groups.length === 0 ? Effect.succeed([]) : redis.hashGet(key(prefix), groups)
