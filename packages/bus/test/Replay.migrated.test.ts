/**
 * Replay after a topology migration (memory stream and store shared by a node of the previous
 * layout and one of the new). KNOWN GAP, pinned here: events the previous layout's stream received
 * after the new stream's first entry (an old-version publisher during the migration) are archived
 * and routed to the new stream, but they are not in it, and the archive is read only up to its
 * first entry: a replay skips them until retention trims the new stream past them. The store
 * keeps no stream key to tell them from the new stream's own events. When this is fixed, the
 * replay sees `[...first, ...late]`.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, EventBus, EventStore, Publisher, RedisStream, Replay } from "@hyvve/bus"
import { Context, Effect, Layer } from "effect"
import { OrderPlaced, orders, testCatalog } from "./fixtures/events.ts"
import * as Wait from "./fixtures/Wait.ts"

const fast = { retryPoll: "20 millis", claimTimeout: "300 millis", block: "100 millis", shutdownTimeout: "1 second" } as const

describe("Replay after a topology migration (memory)", () => {
  it.live("known gap: events of the previous layout's stream newer than the new stream's first entry are skipped", () =>
    Effect.gen(function*() {
      const shared = yield* Layer.build(Layer.merge(RedisStream.layerMemory, EventStore.layerMemory))
      const node = (topology: string) =>
        EventBus.layerServices({ store: Layer.succeedContext(shared) }).pipe(
          Layer.provideMerge(Layer.succeedContext(shared)),
          Layer.provideMerge(BusConfig.layer({ ...fast, catalog: testCatalog, topology }))
        )
      const archived = (n: number) =>
        Wait.until(`${n} events archived`, Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          return (yield* store.events({})).events.length === n
        }))
      // The new layout's first event, then two the previous layout's publisher still wrote.
      const first = yield* Publisher.publishBatch(orders(0, 1)).pipe(Effect.andThen((ids) => Effect.as(archived(1), ids)), Effect.provide(node("family")))
      const late = yield* Publisher.publishBatch(orders(1, 2)).pipe(Effect.andThen((ids) => Effect.as(archived(3), ids)), Effect.provide(node("single")))
      const seen: Array<string> = []
      const job = yield* Replay.runHandler({ types: [OrderPlaced], handler: (event) => Effect.sync(() => void seen.push(event.id)) }).pipe(
        Effect.provide(node("family"))
      )
      assert.strictEqual(job.status, "completed")
      const store = Context.get(shared, EventStore.EventStore)
      assert.deepStrictEqual((yield* store.events({})).events.map((e) => e.id).sort(), [...first, ...late].sort(), "all three archived")
      assert.deepStrictEqual(seen, [...first], "the previous layout's late events are skipped (the gap)")
    }).pipe(Effect.scoped), 30_000)
})
