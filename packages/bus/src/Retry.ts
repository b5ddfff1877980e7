/**
 * Retry policies: a pure decision, no Redis. A policy is an Effect `Schedule` (its input is the
 * failure) and a `retryable` predicate; `decide` turns a failure of attempt `n` into "retry after
 * this delay" or "exhausted". Where a retry waits and how it comes back (durably, per
 * subscription, surviving any crash) is the settlement's business (`Consumer`), not this module's.
 *
 * Policies: the delay before retry `n` is the `n`-th delay of the schedule, given the failure as
 * input; when the schedule is done (or the error is not retryable) the entry is dead-lettered.
 *
 * @since 0.1.0
 */
import { EventError } from "@hyvve/schema"
import { Cause, Clock, Duration, Effect, Option, Predicate, Schedule, Schema } from "effect"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * A retry policy: the schedule of delays between attempts (its input is the failure), and which
 * failures are worth retrying at all. `E` is the error type of the handler it serves.
 *
 * @category models
 * @since 0.1.0
 */
export interface Policy<E = unknown> {
  readonly schedule: Schedule.Schedule<unknown, Failure<E>>
  /** Failures for which this returns false go straight to the DLQ. Defaults to `isRetryable`. */
  readonly retryable: (failure: Failure<E>) => boolean
}

/**
 * A handler failure as the retry machinery sees it: the error's tag and message, and the error
 * itself. `E` is the handler's error type: for each member, `tag` is its `_tag` (when it has
 * one) and `error` that member, so comparing `tag` narrows `error`. A defect has tag `"Defect"`
 * and the defect as `error`; a failure with neither has tag `"Unknown"`.
 *
 * @category models
 * @since 0.1.0
 */
export type Failure<E = unknown> =
  | FailedWith<E>
  | { readonly tag: "Defect"; readonly message: string; readonly error: unknown }
  | { readonly tag: "Unknown"; readonly message: string; readonly error: undefined }

/**
 * A failure with an error of the handler's error type, one member per error type.
 *
 * @category models
 * @since 0.1.0
 */
export type FailedWith<E> = E extends unknown ? {
    readonly tag: E extends { readonly _tag: infer Tag extends string } ? Tag : string
    readonly message: string
    readonly error: E
  }
  : never

/**
 * A failure as stored with a DLQ entry or a failure record.
 *
 * @category models
 * @since 0.1.0
 */
export const FailureInfo = Schema.Struct({ tag: Schema.String, message: Schema.String })

/**
 * @category models
 * @since 0.1.0
 */
export type FailureInfo = typeof FailureInfo.Type

/**
 * What the bus remembers between attempts of one entry in one group.
 *
 * @category models
 * @since 0.1.0
 */
export const FailureRecord = Schema.Struct({
  firstFailedAt: Schema.Finite,
  lastFailedAt: Schema.Finite,
  error: FailureInfo
})

/**
 * @category models
 * @since 0.1.0
 */
export type FailureRecord = typeof FailureRecord.Type

/**
 * What the policy decided for a failed attempt: retry after `delay`, or give up (the schedule is
 * done, or the failure is not retryable) and dead-letter.
 *
 * @category models
 * @since 0.1.0
 */
export type Decision =
  | { readonly _tag: "Retry"; readonly delay: Duration.Duration }
  | { readonly _tag: "Exhausted"; readonly reason: "NotRetryable" | "ScheduleDone" }

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/**
 * Fail a handler with this to dead-letter the event at once: retrying cannot help (bad data,
 * a rule violation). Any error whose `isRetryable` property is `false` is treated the same way.
 *
 * @category errors
 * @since 0.1.0
 */
export class NonRetryable extends Schema.TaggedError<NonRetryable>("@hyvve/bus/Retry/NonRetryable")(
  "NonRetryable",
  { message: Schema.String, cause: Schema.optionalKey(Schema.Defect()) }
) {
  get isRetryable(): boolean {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// policies
// ---------------------------------------------------------------------------------------------

/**
 * A schedule that waits the given delays in turn and then stops: `delays(["1 minute", "5 minutes"])`
 * retries twice.
 *
 * @category constructors
 * @since 0.1.0
 */
export const delays = (steps: ReadonlyArray<Duration.Input>): Schedule.Schedule<number, unknown> => {
  const durations = steps.map(Duration.fromInputUnsafe)
  return Schedule.spaced(Duration.zero).pipe(
    Schedule.modifyDelay(({ attempt }) => Effect.succeed(durations[attempt - 1] ?? Duration.zero)),
    Schedule.upTo({ times: durations.length })
  )
}

/**
 * Exponential delays `base, 2·base, 4·base, ...`, `times` retries: the retrospective's 1 s → 16 s
 * is `exponential("1 second", 5)`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const exponential = (base: Duration.Input, times: number): Schedule.Schedule<Duration.Duration, unknown> =>
  Schedule.exponential(base, 2).pipe(Schedule.upTo({ times }))

/**
 * The epic's default: retry after 1 minute, 5 minutes and 30 minutes, then dead-letter.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultSchedule: Schedule.Schedule<number, unknown> = delays(["1 minute", "5 minutes", "30 minutes"])

/**
 * True unless retrying cannot help: the error says so (`isRetryable === false`, as `NonRetryable`
 * does), or it is a schema failure (`Schema.SchemaError`, or an `@hyvve/schema` decode or payload
 * error), since the same data fails the same way on every attempt.
 *
 * @category guards
 * @since 0.1.0
 */
export const isRetryable = (failure: Failure): boolean =>
  !(Predicate.hasProperty(failure.error, "isRetryable") && failure.error.isRetryable === false) &&
  !Schema.isSchemaError(failure.error) &&
  !EventError.isEventError(failure.error)

/**
 * Builds a policy from a schedule (any input type: the failure is passed as input) and an
 * optional retryable predicate.
 *
 * @category constructors
 * @since 0.1.0
 */
export const policy = <E = unknown>(
  schedule: Schedule.Schedule<unknown, Failure<E>> | Schedule.Schedule<unknown, unknown>,
  options?: { readonly retryable?: ((failure: Failure<E>) => boolean) | undefined }
): Policy<E> => ({ schedule, retryable: options?.retryable ?? isRetryable })

/**
 * The default policy: `defaultSchedule` and `isRetryable`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultPolicy: Policy = policy(defaultSchedule)

/**
 * Returns the delay before retry number `retry` (1 for the first retry), or none when the
 * schedule stops first. Schedules are stepped from a fresh start each time, so a delay depends
 * only on the attempt and the failure, as a durable retry needs.
 *
 * @category constructors
 * @since 0.1.0
 */
export const delayFor = (
  schedule: Schedule.Schedule<unknown, Failure>,
  retry: number,
  failure: Failure
): Effect.Effect<Option.Option<Duration.Duration>> =>
  Effect.gen(function*() {
    const step = yield* Schedule.toStep(schedule)
    const now = yield* Clock.currentTimeMillis
    let delay = Duration.zero
    for (let i = 0; i < retry; i++) {
      const next = yield* step(now, failure).pipe(
        Effect.map(([, d]) => Option.some(d)),
        // The step fails with `Cause.Done` when the schedule is over: no further retry.
        Effect.catchCause(() => Effect.succeed(Option.none<Duration.Duration>()))
      )
      if (Option.isNone(next)) return Option.none()
      delay = next.value
    }
    return Option.some(delay)
  })

/**
 * Turns any handler error (or defect) into a `Failure`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const failureFromCause = (cause: Cause.Cause<unknown>): Failure => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) return failureFromError(error.value)
  const defect = Cause.findDefect(cause)
  if (defect._tag === "Success") return { ...failureFromError(defect.success), tag: "Defect" }
  return { tag: "Unknown", message: Cause.pretty(cause), error: undefined }
}

/**
 * Turns an error value into a `Failure` (tag from `_tag`, else its class name).
 *
 * @category constructors
 * @since 0.1.0
 */
export const failureFromError = (error: unknown): Failure => {
  const tag = Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ?
    error._tag :
    error instanceof Error ?
    error.name :
    "Error"
  const message = error instanceof Error ? error.message : Predicate.hasProperty(error, "message") ?
    String(error.message) :
    String(error)
  return { tag, message, error }
}

/**
 * Decides what happens after attempt `attempt` (1 for the first delivery) failed with `failure`:
 * the schedule's `attempt`-th delay, or exhausted when the schedule is done or the failure is not
 * retryable. Pure: the same inputs give the same decision, as a durable retry needs.
 *
 * @category constructors
 * @since 0.2.0
 */
export const decide = (policy: Policy, attempt: number, failure: Failure): Effect.Effect<Decision> => {
  if (!policy.retryable(failure)) return Effect.succeed(notRetryable)
  return Effect.map(
    delayFor(policy.schedule, attempt, failure),
    (delay): Decision => Option.isSome(delay) ? { _tag: "Retry", delay: delay.value } : scheduleDone
  )
}

const notRetryable: Decision = { _tag: "Exhausted", reason: "NotRetryable" }
const scheduleDone: Decision = { _tag: "Exhausted", reason: "ScheduleDone" }
