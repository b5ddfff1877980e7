/**
 * The throughput count of the stats over more entries than one scan batch, on the real Redis:
 * the newest-first scan pages through every batch, and under a bound on the scan the counts are
 * floors and say so.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, EventBus, Groups, Keys, RedisStream } from "@hyvve/bus"
import { Effect } from "effect"
import * as StatsReader from "../src/internal/stats.ts"
import { redisUrl, uniquePrefix } from "./fixtures/AdminFixture.ts"

describe("stats throughput", () => {
  it.live("counts every entry across scan batches; under a bound the counts are floors and say so", () =>
    Effect.gen(function*() {
      const redis = yield* RedisStream.RedisStream
      const settings = yield* BusConfig.BusConfig
      const key = Keys.main(settings.prefix)
      const total = StatsReader.batch * 2 + 500
      for (let i = 0; i < total; i += 250) {
        yield* redis.transaction(
          Array.from({ length: 250 }, (_, j) => ({ _tag: "XAdd" as const, key, fields: { n: String(i + j) } }))
        )
      }
      const stats = yield* StatsReader.read(redis, settings, 0)
      assert.strictEqual(stats.stream.length, total)
      assert.strictEqual(stats.throughput.lastHour, total)
      assert.strictEqual(stats.throughput.last24h, total)
      assert.isTrue(stats.throughput.exact)
      assert.strictEqual(stats.throughput.perMinute.reduce((a, b) => a + b, 0), total)

      // Under a bound of one batch: the hour's count is a floor (and says so), the day's is the
      // stream's length.
      const bounded = yield* StatsReader.read(redis, settings, 0, StatsReader.batch)
      assert.isFalse(bounded.throughput.exact)
      assert.strictEqual(bounded.throughput.lastHour, StatsReader.batch)
      assert.strictEqual(bounded.throughput.last24h, total)
      assert.isTrue(yield* Groups.deleteStream())
    }).pipe(
      Effect.provide(
        EventBus.layer({ redis: RedisStream.options(redisUrl, "hyvve-admin-stats"), bus: { prefix: uniquePrefix("stats") } })
      )
    ))
})
