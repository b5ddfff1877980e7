/**
 * One process, 50 subscriptions, at most 4 Redis connections: the readers share one notifier
 * (see `internal/redisStream.ts`). Counted on the real server with `CLIENT LIST`, which only a real
 * Redis can answer.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, EventBus, Publisher, RedisStream } from "@hyvve/bus"
import { Effect, Layer, Schedule } from "effect"
import { Redis } from "ioredis"
import { ctx, order, OrderPlaced } from "./fixtures/events.ts"
import { redisUrl, uniquePrefix } from "./utils/TestEnv.ts"

describe("Redis connections", () => {
  it.live("50 subscriptions in one process use at most 4 connections, and every one of them receives", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("connections")
      const name = `${prefix}:bus`
      const admin = yield* Effect.acquireRelease(
        Effect.promise(() => Promise.resolve(new Redis(redisUrl, { protocol: 2 }))),
        (redis) => Effect.promise(() => redis.quit())
      )
      const bus = EventBus.layer({ redis: RedisStream.options(redisUrl, name), bus: { prefix, block: "2 seconds" } })

      yield* Effect.gen(function*() {
        const received = new Set<string>()
        for (let i = 0; i < 50; i++) {
          yield* Consumer.handle(OrderPlaced, () => Effect.sync(() => received.add(`g${i}`)), { group: `g${i}` })
        }
        yield* Publisher.publish(OrderPlaced, order(1), ctx())
        yield* Effect.sync(() => received.size).pipe(
          Effect.repeat({ until: (n) => n === 50, schedule: Schedule.spaced("20 millis") }),
          Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die(new Error(`only ${received.size} of 50 received`)) })
        )
        const clients = yield* Effect.promise(() => admin.client("LIST"))
        const ours = String(clients).split("\n").filter((line) => line.includes(` name=${name}:`))
        assert.isAtLeast(ours.length, 1)
        assert.isAtMost(ours.length, 4, ours.join("\n"))
      }).pipe(Effect.provide(Layer.fresh(bus)), Effect.scoped)

      yield* Effect.promise(() => admin.unlink(`${prefix}:events:main`, ...Array.from({ length: 50 }, (_, i) => `${prefix}:events:redeliver:g${i}`)))
    }), { timeout: 30_000 })
})
