/**
 * The throughput count of the stats over more entries than one scan batch, on the real Redis:
 * the newest-first scan pages through every batch, and under a bound on the scan the counts are
 * floors and say so.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, Consumer, EventBus, Groups, Keys, Publisher, RedisStream, Topology } from "@hyvve/bus"
import { UserInvited } from "@hyvve/schema"
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

describe("stats over several streams", () => {
  it.live("add up every stream of the topology: length, throughput, and each group over its streams", () =>
    Effect.gen(function*() {
      const settings = yield* BusConfig.BusConfig
      const layout = Topology.of(settings)
      yield* Consumer.handle(UserInvited, () => Effect.void, { group: "invites" })
      yield* Consumer.handle("**", () => Effect.never, { group: "stuck" })
      const ids = yield* Effect.forEach(
        Array.from({ length: 12 }, (_, i) => i),
        (i) =>
          Publisher.publish(UserInvited, { invitationId: `i-${i}`, workspaceId: "w", invitedById: "u", role: "member" }, {
            tenantId: `tenant-${i}`,
            userId: "u"
          })
      )
      const redis = yield* RedisStream.RedisStream
      const used = new Set<string>()
      for (const stream of layout.streams) if ((yield* redis.length(stream.key)) > 0) used.add(stream.key)
      assert.isAbove(used.size, 1, "tenants spread over partitions")
      let stats = yield* StatsReader.read(redis, settings, 0)
      for (let i = 0; i < 100 && (stats.groups.find((g) => g.name === "stuck")?.pending ?? 0) < ids.length; i++) {
        yield* Effect.sleep("50 millis")
        stats = yield* StatsReader.read(redis, settings, 0)
      }
      assert.strictEqual(stats.stream.key, "partitioned:4:tenant")
      assert.strictEqual(stats.stream.length, ids.length)
      assert.strictEqual(stats.throughput.last24h, ids.length)
      const stuck = stats.groups.find((g) => g.name === "stuck")
      assert.strictEqual(stuck?.pending, ids.length, "pending added up over the partitions")
      assert.strictEqual(stuck?.consumers.length, 1, "one consumer, its rows merged")
      assert.strictEqual(stuck?.consumers[0]?.pending, ids.length)
      assert.isTrue(yield* Groups.deleteStream())
    }).pipe(
      Effect.provide(
        EventBus.layer({
          redis: RedisStream.options(redisUrl, "hyvve-admin-stats"),
          bus: { prefix: uniquePrefix("stats-topology"), topology: "partitioned:4", block: "100 millis", shutdownTimeout: "200 millis" }
        })
      )
    ), 30_000)
})
