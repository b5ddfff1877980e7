/**
 * `Testing`: waitUntil moves the TestClock only as far as the outcome needs, and fails the test
 * with its label when the outcome does not come; settle runs forked fibers without moving time.
 */
import { assert, describe, it } from "@effect/vitest"
import { Testing } from "@hyvve/bus"
import { Cause, Clock, Effect, Exit, Ref } from "effect"

describe("Testing", () => {
  it.effect("waitUntil returns once a delayed outcome happened, at its due time", () =>
    Effect.gen(function*() {
      const done = yield* Ref.make(false)
      yield* Effect.forkChild(Effect.delay(Ref.set(done, true), "2 seconds"))
      yield* Testing.waitUntil("the delayed write", Ref.get(done))
      const now = yield* Clock.currentTimeMillis
      assert.isAtLeast(now, 2_000)
      assert.isBelow(now, 2_100)
    }))

  it.effect("waitUntil dies naming what it waited for once `within` has passed", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Testing.waitUntil("something that never happens", Effect.succeed(false), { within: "1 second" }))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), "something that never happens")
      assert.isAtLeast(yield* Clock.currentTimeMillis, 1_000)
    }))

  it.effect("settle lets forked fibers run without moving the clock", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make(0)
      yield* Effect.forkChild(Effect.andThen(Effect.yieldNow, Ref.update(ran, (n) => n + 1)))
      yield* Testing.settle
      assert.strictEqual(yield* Ref.get(ran), 1)
      assert.strictEqual(yield* Clock.currentTimeMillis, 0)
    }))
})
