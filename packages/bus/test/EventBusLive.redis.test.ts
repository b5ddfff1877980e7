/**
 * `EventBusLive`, as an application composes it: everything from the environment. Real Redis,
 * since the point is that `REDIS_URL` and the `HYVVE_*` settings reach the right places.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, EventBusLive, Publisher, RedisStream } from "@hyvve/bus"
import { ConfigProvider, Duration, Effect, Layer } from "effect"
import { ctx, order, OrderPlaced } from "./fixtures/events.ts"
import { redisUrl, uniquePrefix } from "./utils/TestEnv.ts"

describe("EventBusLive", () => {
  it.live("reads REDIS_URL and the HYVVE_* settings from the environment", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("live")
      const env = ConfigProvider.layer(ConfigProvider.fromEnv({
        env: {
          REDIS_URL: redisUrl,
          HYVVE_PREFIX: prefix,
          HYVVE_GROUP: "billing-app",
          HYVVE_BATCH_SIZE: "50",
          HYVVE_CLAIM_TIMEOUT: "45 seconds"
        }
      }))
      yield* Effect.gen(function*() {
        const settings = yield* BusConfig.BusConfig
        assert.strictEqual(settings.prefix, prefix)
        assert.strictEqual(settings.group, "billing-app")
        assert.strictEqual(settings.batchSize, 50)
        assert.strictEqual(Duration.toMillis(settings.claimTimeout), 45_000)
        assert.strictEqual(Duration.toMillis(settings.retention), Duration.toMillis(Duration.days(30)))
        yield* Publisher.publish(OrderPlaced, order(1), ctx())
        const redis = yield* RedisStream.RedisStream
        assert.strictEqual(yield* redis.length(`${prefix}:events:main`), 1)
        yield* redis.deleteKeys([`${prefix}:events:main`])
      }).pipe(Effect.provide(EventBusLive.pipe(Layer.provide(env), Layer.fresh)))
    }))

  it.live("fails to build with a ConfigError naming REDIS_URL when it is missing", () =>
    Effect.gen(function*() {
      const error = yield* Layer.build(EventBusLive).pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} }))),
        Effect.scoped,
        Effect.flip
      )
      assert.include(String(error), "REDIS_URL")
    }))
})
