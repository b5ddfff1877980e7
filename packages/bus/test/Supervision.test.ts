/**
 * `Supervision.retry` must retry exactly like `Effect.retry` (same attempts, same delays, same
 * `while` test, same final error); it only defers setting up the schedule until a failure.
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, Exit, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import * as Supervision from "../src/internal/supervision.ts"

class Flaky extends Data.TaggedError("Flaky")<{ readonly attempt: number; readonly retryable: boolean }> {}

type Retrying = (
  self: Effect.Effect<string, Flaky>,
  options: { readonly schedule: Schedule.Schedule<unknown, Flaky>; readonly while?: (error: Flaky) => boolean }
) => Effect.Effect<string, Flaky>

const viaEffect: Retrying = (self, options) =>
  options.while === undefined ? Effect.retry(self, options.schedule) : Effect.retry(self, { schedule: options.schedule, while: options.while })
const viaSupervision: Retrying = (self, options) => Supervision.retry(self, options)

/** Runs a step that fails `failures` times (the `retryable` test decides per attempt) under `retrying`; the attempt times and the exit. */
const run = (retrying: Retrying, failures: number, options: { readonly until?: number; readonly stopAt?: number }) =>
  Effect.gen(function*() {
    const at: Array<number> = []
    const start = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const step = Effect.gen(function*() {
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      at.push(now - start)
      const attempt = at.length
      if (attempt > failures) return `ok after ${attempt}`
      return yield* Effect.fail(new Flaky({ attempt, retryable: options.stopAt === undefined || attempt < options.stopAt }))
    })
    const schedule = Schedule.max([Schedule.exponential("100 millis", 2), Schedule.recurs(options.until ?? 10)])
    const fiber = yield* Effect.forkChild(Effect.exit(retrying(step, { schedule, while: (e) => e.retryable })))
    yield* TestClock.adjust("1 minute")
    const exit = yield* Fiber.join(fiber)
    return { at, exit }
  })

describe("Supervision.retry", () => {
  it.effect("a step that succeeds at once runs once", () =>
    Effect.gen(function*() {
      const result = yield* run(viaSupervision, 0, {})
      assert.deepStrictEqual(result.at, [0])
      assert.deepStrictEqual(result.exit, Exit.succeed("ok after 1"))
    }))

  for (
    const [name, failures, options] of [
      ["fails three times, then succeeds", 3, {}],
      ["runs out of recurrences", 20, { until: 4 }],
      ["stops when `while` says the error is not retryable", 20, { stopAt: 3 }],
      ["stops at once when the first error is not retryable", 20, { stopAt: 1 }]
    ] as const
  ) {
    it.effect(`${name}: the same attempts, delays and exit as Effect.retry`, () =>
      Effect.gen(function*() {
        const expected = yield* run(viaEffect, failures, options)
        const actual = yield* run(viaSupervision, failures, options)
        assert.deepStrictEqual(actual.at, expected.at)
        assert.deepStrictEqual(actual.exit, expected.exit)
        assert.isAbove(expected.at.length, 0)
      }))
  }

  it.effect("the delays grow as the schedule says (100, 200, 400 ms)", () =>
    Effect.gen(function*() {
      const result = yield* run(viaSupervision, 3, {})
      assert.deepStrictEqual(result.at, [0, 100, 300, 700])
    }))
})
