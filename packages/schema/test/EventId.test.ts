import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { EventId } from "../src/index.ts"

describe("EventId", () => {
  it.effect("mints cuid2 ids by default", () =>
    Effect.gen(function*() {
      const a = yield* EventId.make
      const b = yield* EventId.make
      assert.match(a, /^[a-z][a-z0-9]{23}$/)
      assert.notStrictEqual(a, b)
    }))

  it.effect("mints time-ordered UUID v7 ids under layerUuidV7", () =>
    Effect.gen(function*() {
      const ids = yield* Effect.all([EventId.make, EventId.make, EventId.make])
      for (const id of ids) {
        assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      }
      assert.deepStrictEqual([...ids].sort(), ids)
    }).pipe(Effect.provide(EventId.layerUuidV7)))

  it.effect("uses the generator provided for a region", () =>
    Effect.gen(function*() {
      let n = 0
      const id = yield* EventId.make.pipe(
        Effect.provideService(EventId.Generator, { next: () => `test-${++n}` })
      )
      assert.strictEqual(id, "test-1")
    }))

  it.effect("dies when a generator returns an empty id", () =>
    Effect.gen(function*() {
      const exit = yield* EventId.make.pipe(
        Effect.provideService(EventId.Generator, { next: () => "" }),
        Effect.exit
      )
      assert.isTrue(exit._tag === "Failure")
    }))

  it("rejects an empty id", () => {
    assert.isFalse(Schema.is(EventId.EventId)(""))
    assert.isTrue(Schema.is(EventId.EventId)("x"))
  })
})
