/**
 * Helpers for unit tests over the in-memory bus (`EventBus.layerMemory`) under `TestClock`
 * (`it.effect` from `@effect/vitest` provides it). The bus works in forked fibers (consumer loops,
 * retry pollers, claim sweeps) that only run when the test fiber yields, and its time only moves
 * when the test moves the `TestClock`:
 *
 * - `waitUntil(label, check)` waits for an outcome (a handler ran, the DLQ has an entry), letting
 *   the fibers run and time pass in small steps, and fails the test when it does not come;
 * - `settle` lets the fibers run without moving time, to check that something has NOT happened
 *   (yet);
 * - `advance(duration)` moves the `TestClock` and then settles.
 *
 * ```ts
 * it.effect("retries after a minute", () =>
 *   Effect.gen(function*() {
 *     const attempts = yield* Ref.make(0)
 *     yield* Consumer.handle(InvoicePaid, () => Effect.andThen(Ref.update(attempts, (n) => n + 1), Effect.fail("down")), {
 *       retry: Retry.delays(["1 minute"])
 *     })
 *     yield* Publisher.publish(InvoicePaid, { invoiceId: "inv_1", amountCents: 100 }, { tenantId: "t_1", userId: "u_1" })
 *     yield* Testing.waitUntil("the first attempt", Effect.map(Ref.get(attempts), (n) => n === 1))
 *     yield* Testing.advance("59 seconds")
 *     assert.strictEqual(yield* Ref.get(attempts), 1) // not retried before the minute
 *     yield* Testing.waitUntil("the retry", Effect.map(Ref.get(attempts), (n) => n === 2))
 *   }).pipe(Effect.provide(EventBus.layerMemory())))
 * ```
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect } from "effect"
import { TestClock } from "effect/testing"

/**
 * Lets forked fibers run without moving the clock: yields the test fiber `rounds` times (100 by
 * default), enough for the bus's fibers to take what is ready and go back to waiting.
 *
 * @category combinators
 * @since 0.1.0
 */
export const settleFor = (rounds: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let i = 0; i < rounds; i++) yield* Effect.yieldNow
  })

/**
 * `settleFor(100)`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const settle: Effect.Effect<void> = settleFor(100)

/**
 * Moves the `TestClock` by `duration` (running what was scheduled until then) and settles.
 *
 * @category combinators
 * @since 0.1.0
 */
export const advance = (duration: Duration.Input): Effect.Effect<void> =>
  Effect.andThen(TestClock.adjust(duration), settle)

/**
 * Evaluates `check` until it returns true, settling and moving the `TestClock` by `step` (10 ms by
 * default) between tries; dies with an error naming `label` once `within` (5 seconds of
 * `TestClock` time by default) has passed. Time moves only as far as the outcome needs, so a
 * retry due in a minute is reached after a minute of test time, at once.
 *
 * @category combinators
 * @since 0.1.0
 */
export const waitUntil = <E = never, R = never>(
  label: string,
  check: Effect.Effect<boolean, E, R>,
  options?: { readonly within?: Duration.Input | undefined; readonly step?: Duration.Input | undefined }
): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    const budget = Duration.toMillis(Duration.fromInputUnsafe(options?.within ?? "5 seconds"))
    const step = options?.step ?? "10 millis"
    const started = yield* Clock.currentTimeMillis
    yield* settle
    while (!(yield* check)) {
      const elapsed = (yield* Clock.currentTimeMillis) - started
      if (elapsed >= budget) {
        return yield* Effect.die(new Error(`Testing.waitUntil: timed out after ${elapsed} ms of test time waiting for ${label}`))
      }
      yield* advance(step)
    }
  })
