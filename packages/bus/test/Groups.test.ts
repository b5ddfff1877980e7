/**
 * `Groups` on both backends, through the public composition: ensuring a subscription's group
 * without consuming, listing a group's consumers, deleting a stream with its groups. Redis runs on
 * the wall clock under a unique prefix (removed by the last scenario of each test, `deleteStream`).
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, Consumer, EventBus, Groups, Keys, Publisher, RedisStream, Testing } from "@hyvve/bus"
import { Effect, Exit, type Layer, Ref } from "effect"
import { ctx, order, OrderPlaced } from "./fixtures/events.ts"
import { redisUrl, uniquePrefix } from "./utils/TestEnv.ts"

type Bus = Layer.Layer<EventBus.Services, RedisStream.RedisStreamError>

const suite = (backend: string, bus: (prefix: string) => Bus, test: typeof it.effect) =>
  describe(`Groups (${backend})`, () => {
    const provide = <A, E>(label: string, effect: (prefix: string) => Effect.Effect<A, E, EventBus.Services>) => {
      const prefix = uniquePrefix(`groups-${label}`)
      return Effect.provide(effect(prefix), bus(prefix))
    }

    test("ensure names groups like Consumer does and rejects a pattern Consumer rejects", () =>
      provide("names", () =>
        Effect.gen(function*() {
          assert.strictEqual(yield* Groups.ensure(OrderPlaced), "app:test.order_placed")
          assert.strictEqual(yield* Groups.ensure("test.*"), "app:test.*")
          assert.strictEqual(yield* Groups.ensure(OrderPlaced, { group: "billing" }), "billing")
          const invalid = yield* Effect.exit(Groups.ensure("test..x"))
          assert.isTrue(Exit.isFailure(invalid))
          assert.deepStrictEqual((yield* Groups.list()).map((g) => g.name).sort(), [
            "app:test.*",
            "app:test.order_placed",
            "billing"
          ])
          assert.isTrue(yield* Groups.deleteStream())
        })))

    test("a group ensured before publishing keeps the events for its subscription; ensuring again changes nothing", () =>
      provide("ensure", () =>
        Effect.gen(function*() {
          const fresh = yield* Groups.ensure(OrderPlaced, { group: "early" })
          yield* Publisher.publish(OrderPlaced, order(1), ctx())
          yield* Publisher.publish(OrderPlaced, order(2), ctx())
          yield* Groups.ensure(OrderPlaced, { group: "early" })
          yield* Groups.ensure(OrderPlaced, { group: "late" })
          yield* Groups.ensure(OrderPlaced, { group: "replay", startFrom: "all" })

          const byName = new Map((yield* Groups.list()).map((g) => [g.name, g]))
          assert.strictEqual(fresh, "early")
          assert.strictEqual(byName.get("early")?.lag, 2, "the early group waits for both events")
          assert.strictEqual(byName.get("late")?.lag, 0, "a group created after them starts at the end")
          assert.strictEqual(byName.get("replay")?.lag, 2, "startFrom all sees the retained events")
          assert.strictEqual(byName.get("early")?.pending, 0, "ensuring consumed nothing")

          // A subscription started now (startFrom "new") gets both events through the ensured group.
          const main = Keys.main((yield* BusConfig.BusConfig).prefix)
          const redis = yield* RedisStream.RedisStream
          const read = yield* redis.readGroup({ keys: [main], group: "early", consumer: "c", count: 10, block: 0 })
          const published = yield* redis.range({ key: main, start: "-", end: "+" })
          assert.strictEqual(published.length, 2)
          assert.deepStrictEqual(read.map((e) => e.id), published.map((e) => e.id))
          assert.isTrue(yield* Groups.deleteStream())
        })))

    test("consumers lists each consumer of a group with its pending entries on both of the group's streams", () =>
      provide("consumers", () =>
        Effect.gen(function*() {
          const group = yield* Groups.ensure(OrderPlaced)
          const { prefix } = yield* BusConfig.BusConfig
          const redis = yield* RedisStream.RedisStream
          for (let i = 1; i <= 3; i++) yield* Publisher.publish(OrderPlaced, order(i), ctx())
          const main = Keys.main(prefix)
          const redeliver = Keys.redeliver(prefix, group)
          yield* redis.readGroup({ keys: [main], group, consumer: "c1", count: 2, block: 0 })
          yield* redis.readGroup({ keys: [main], group, consumer: "c2", count: 1, block: 0 })
          yield* redis.append(redeliver, { type: "test.order_placed", data: "{}" })
          yield* redis.readGroup({ keys: [redeliver], group, consumer: "c2", count: 1, block: 0 })

          const rows = [...yield* Groups.consumers(group)].sort((a, b) => a.name.localeCompare(b.name))
          assert.deepStrictEqual(rows.map((c) => [c.name, c.pending]), [["c1", 2], ["c2", 2]])
          for (const row of rows) assert.isAtLeast(row.idleMs, 0)

          const missing = yield* Effect.flip(Groups.consumers("nobody"))
          assert.strictEqual(missing.kind, "NoGroup")
          assert.isTrue(yield* Groups.deleteStream())
        })))

    test("deleteStream removes the stream, its groups and their redelivery streams, once", () =>
      provide("delete", () =>
        Effect.gen(function*() {
          const group = yield* Groups.ensure(OrderPlaced)
          yield* Publisher.publish(OrderPlaced, order(1), ctx())
          const { prefix } = yield* BusConfig.BusConfig
          const redis = yield* RedisStream.RedisStream
          const redeliver = Keys.redeliver(prefix, group)
          yield* redis.append(redeliver, { type: "test.order_placed", data: "{}" })

          assert.isTrue(yield* Groups.deleteStream())
          assert.strictEqual(yield* redis.length(Keys.main(prefix)), 0)
          assert.strictEqual(yield* redis.length(redeliver), 0)
          assert.deepStrictEqual(yield* Groups.list(), [])
          assert.strictEqual((yield* Effect.flip(Groups.consumers(group))).kind, "NoGroup")
          assert.isFalse(yield* Groups.deleteStream())
        })))
  })

const settings = (prefix: string): BusConfig.Options => ({ prefix, group: "app", block: "200 millis" })

suite("memory", (prefix) => EventBus.layerMemory(settings(prefix)), it.effect)
suite(
  "redis",
  (prefix) => EventBus.layer({ redis: RedisStream.options(redisUrl, "hyvve-test"), bus: settings(prefix) }),
  it.live
)

describe("Groups.ensure with a handler (memory)", () => {
  it.effect("a handler started after ensure handles what was published in between", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<number>>([])
      yield* Groups.ensure(OrderPlaced)
      yield* Publisher.publish(OrderPlaced, order(1), ctx())
      yield* Consumer.handle(OrderPlaced, (event) => Ref.update(seen, (s) => [...s, event.data.seq]))
      yield* Testing.waitUntil("the handler to see seq 1", Effect.map(Ref.get(seen), (s) => s.length === 1))
      assert.deepStrictEqual(yield* Ref.get(seen), [1])
    }).pipe(Effect.provide(EventBus.layerMemory(settings("handler")))))
})
