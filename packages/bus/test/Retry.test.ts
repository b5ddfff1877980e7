import { assert, describe, it } from "@effect/vitest"
import { Consumer, RedisStream, Retry } from "@hyvve/bus"
import { EventError } from "@hyvve/schema"
import { Cause, Data, Duration, Effect, Option, Schema } from "effect"

class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{ readonly message: string }> {}

const failure = Retry.failureFromError(new PaymentDeclined({ message: "declined" }))

/** Delays before retries 1..n, in ms; undefined once the schedule has stopped. */
const delaysOf = (schedule: Retry.Policy["schedule"], n: number) =>
  Effect.forEach(
    Array.from({ length: n }, (_, i) => i + 1),
    (retry) => Effect.map(Retry.delayFor(schedule, retry, failure), Option.match({ onNone: () => undefined, onSome: Duration.toMillis }))
  )

describe("Retry", () => {
  describe("schedules", () => {
    it.effect("delays waits the given delays in turn, then stops", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(
          yield* delaysOf(Retry.delays(["2 seconds", "10 seconds", "1 minute"]), 5),
          [2_000, 10_000, 60_000, undefined, undefined]
        )
        assert.deepStrictEqual(yield* delaysOf(Retry.delays([]), 2), [undefined, undefined], "no delays: no retry")
      }))

    it.effect("the default schedule retries after 1, 5 and 30 minutes, then gives up", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* delaysOf(Retry.defaultSchedule, 4), [60_000, 300_000, 1_800_000, undefined])
        assert.deepStrictEqual(yield* delaysOf(Retry.defaultPolicy.schedule, 4), [60_000, 300_000, 1_800_000, undefined])
      }))

    it.effect("exponential('1 second', 5) waits 1, 2, 4, 8 and 16 seconds, then gives up", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(
          yield* delaysOf(Retry.exponential("1 second", 5), 6),
          [1_000, 2_000, 4_000, 8_000, 16_000, undefined]
        )
      }))

    it.effect("a delay depends only on the retry number: asking twice gives the same answer", () =>
      Effect.gen(function*() {
        const schedule = Retry.exponential("100 millis", 10)
        const first = yield* Retry.delayFor(schedule, 4, failure)
        const again = yield* Retry.delayFor(schedule, 4, failure)
        assert.deepStrictEqual(Option.map(first, Duration.toMillis), Option.some(800))
        assert.deepStrictEqual(Option.map(again, Duration.toMillis), Option.some(800))
      }))
  })

  describe("isRetryable", () => {
    it("an ordinary failure is retried", () => {
      assert.isTrue(Retry.isRetryable(failure))
      assert.isTrue(Retry.isRetryable(Retry.failureFromError(new Error("boom"))))
      assert.isTrue(Retry.isRetryable(Retry.failureFromError("just a string")))
      assert.isTrue(Retry.isRetryable(Retry.failureFromError(new Consumer.HandlerTimeout({ millis: 10 }))))
    })

    it("NonRetryable, and any error saying isRetryable: false, is not retried", () => {
      assert.isFalse(Retry.isRetryable(Retry.failureFromError(new Retry.NonRetryable({ message: "bad data" }))))
      assert.isFalse(Retry.isRetryable(Retry.failureFromError({ _tag: "Custom", message: "no", isRetryable: false })))
      assert.isTrue(Retry.isRetryable(Retry.failureFromError({ _tag: "Custom", message: "yes", isRetryable: true })))
    })

    it("a Redis outage is retryable", () => {
      const outage = new RedisStream.RedisStreamError({ command: "XADD", kind: "Unavailable", detail: "ECONNREFUSED" })
      assert.isTrue(Retry.isRetryable(Retry.failureFromError(outage)))
    })

    it("a schema decode failure is not retried (as the isRetryable documentation promises)", () => {
      const decode = Schema.decodeUnknownExit(Schema.Struct({ n: Schema.Finite }))({ n: "x" })
      assert.isTrue(decode._tag === "Failure")
      const schemaError = Cause.findErrorOption(decode._tag === "Failure" ? decode.cause : Cause.empty)
      assert.isTrue(Option.isSome(schemaError))
      assert.isFalse(Retry.isRetryable(Retry.failureFromError(Option.getOrThrow(schemaError))), "Schema.SchemaError")
      const invalid = new EventError.InvalidPayload({ eventType: "test.x", issues: [] })
      assert.isFalse(Retry.isRetryable(Retry.failureFromError(invalid)), "EventError.InvalidPayload")
    })

    it("a policy's retryable predicate defaults to isRetryable and can be replaced", () => {
      assert.strictEqual(Retry.policy(Retry.defaultSchedule).retryable, Retry.isRetryable)
      const picky = Retry.policy(Retry.defaultSchedule, { retryable: (f) => f.tag !== "PaymentDeclined" })
      assert.isFalse(picky.retryable(failure))
      assert.isTrue(picky.retryable(Retry.failureFromError(new Error("other"))))
    })
  })

  describe("failureFromCause", () => {
    it("a typed failure keeps its tag, message and the error itself", () => {
      const error = new PaymentDeclined({ message: "card expired" })
      const result = Retry.failureFromCause(Cause.fail(error))
      assert.strictEqual(result.tag, "PaymentDeclined")
      assert.strictEqual(result.message, "card expired")
      assert.strictEqual(result.error, error)
    })

    it("an Error without a tag is named by its class; a plain value by its text", () => {
      const typeError = Retry.failureFromCause(Cause.fail(new TypeError("not a function")))
      assert.strictEqual(typeError.tag, "TypeError")
      assert.strictEqual(typeError.message, "not a function")
      const plain = Retry.failureFromCause(Cause.fail("nope"))
      assert.strictEqual(plain.message, "nope")
    })

    it("a defect is tagged Defect with the thrown message", () => {
      const died = Retry.failureFromCause(Cause.die(new Error("kaboom")))
      assert.strictEqual(died.tag, "Defect")
      assert.strictEqual(died.message, "kaboom")
      const diedWithText = Retry.failureFromCause(Cause.die("exploded"))
      assert.strictEqual(diedWithText.tag, "Defect")
      assert.strictEqual(diedWithText.message, "exploded")
    })

    it("a typed failure wins over a defect in the same cause", () => {
      const cause = Cause.combine(Cause.die(new Error("secondary")), Cause.fail(new PaymentDeclined({ message: "primary" })))
      assert.strictEqual(Retry.failureFromCause(cause).tag, "PaymentDeclined")
    })

    it.effect("a handler's real failure and defect causes convert the same way", () =>
      Effect.gen(function*() {
        const failed = yield* Effect.exit(Effect.fail(new PaymentDeclined({ message: "x" })))
        const died = yield* Effect.exit(Effect.sync(() => {
          throw new RangeError("out of range")
        }))
        assert.isTrue(failed._tag === "Failure" && died._tag === "Failure")
        if (failed._tag === "Failure") assert.strictEqual(Retry.failureFromCause(failed.cause).tag, "PaymentDeclined")
        if (died._tag === "Failure") {
          const f = Retry.failureFromCause(died.cause)
          assert.strictEqual(f.tag, "Defect")
          assert.strictEqual(f.message, "out of range")
        }
      }))
  })
})
