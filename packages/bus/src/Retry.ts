/**
 * Durable, per-group retries on an Effect `Schedule`.
 *
 * A failed delivery stays pending in its group; its retry is a member of the group's sorted set
 * (`Keys.retrySchedule`) scored with the due time. Consumers of that group take due members
 * atomically (`RedisStream.takeDue`) and handle them again, so a retry survives any crash,
 * reaches only the group whose handler failed, and nothing is re-published to the main stream.
 * The stale-pending sweep skips scheduled entries, so a waiting retry is never claimed early.
 *
 * Policies: the delay before retry `n` is the `n`-th delay of the schedule, given the failure as
 * input; when the schedule is done (or the error is not retryable) the entry is dead-lettered.
 *
 * @since 0.1.0
 */
import { EventError } from "@hyvve/schema"
import { Cause, Clock, Context, Duration, Effect, Layer, Option, Predicate, Schedule, Schema } from "effect"
import * as Keys from "./Keys.ts"
import * as Metrics from "./Metrics.ts"
import * as RedisStream from "./RedisStream.ts"

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
 * A failure of entry `entryId` (delivery number `attempt`) in `group`, with the policy to apply.
 *
 * @category models
 * @since 0.1.0
 */
export interface FailureReport {
  readonly stream: string
  readonly group: string
  readonly entryId: string
  readonly attempt: number
  readonly failure: Failure
  readonly policy: Policy
}

/**
 * What happened to a failed delivery.
 *
 * @category models
 * @since 0.1.0
 */
export type Decision =
  | { readonly _tag: "Scheduled"; readonly dueAt: number; readonly delay: Duration.Duration }
  | { readonly _tag: "Exhausted"; readonly record: FailureRecord }

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

// ---------------------------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------------------------

/**
 * Schedules durable retries and hands due ones back to their group.
 *
 * @category services
 * @since 0.1.0
 */
export class Retry extends Context.Service<
  Retry,
  {
    /**
     * Records a failure of `entryId` (delivery number `attempt`) in `group` and either schedules
     * its retry or reports the policy exhausted (the caller dead-letters it).
     */
    readonly onFailure: (report: FailureReport) => Effect.Effect<Decision, RedisStream.RedisStreamError>
    /** Takes up to `count` due retries of `group` on `stream`, claimed to `consumer`. */
    readonly takeDue: (options: {
      readonly stream: string
      readonly group: string
      readonly consumer: string
      readonly count: number
    }) => Effect.Effect<ReadonlyArray<RedisStream.GroupEntry>, RedisStream.RedisStreamError>
    /** Which of `entryIds` are waiting for a retry in `group` (the sweep must leave those alone). */
    readonly scheduled: (
      stream: string,
      group: string,
      entryIds: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlySet<string>, RedisStream.RedisStreamError>
    /** The failure record of an entry, if it failed before in `group`. */
    readonly record: (
      stream: string,
      group: string,
      entryId: string
    ) => Effect.Effect<FailureRecord | undefined, RedisStream.RedisStreamError>
    /** Commands that forget an entry's retry state (part of an ack or DLQ transaction). */
    readonly clearCommands: (stream: string, group: string, entryIds: ReadonlyArray<string>) => ReadonlyArray<
      RedisStream.Command
    >
  }
>()("@hyvve/bus/Retry") {}

/**
 * Creates the retry service over `RedisStream`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<Retry["Service"], never, RedisStream.RedisStream> = Effect.gen(
  function*() {
    const redis = yield* RedisStream.RedisStream
    const decodeRecord = Schema.decodeUnknownOption(Schema.fromJsonString(FailureRecord))

    const record = (stream: string, group: string, entryId: string) =>
      Effect.map(
        redis.hashGet(Keys.failures(stream, group), [entryId]),
        ([raw]) => raw === undefined ? undefined : Option.getOrUndefined(decodeRecord(raw))
      )

    const onFailure = Effect.fnUntraced(function*(options: FailureReport) {
      const now = yield* Clock.currentTimeMillis
      const previous = yield* record(options.stream, options.group, options.entryId)
      const next: FailureRecord = {
        firstFailedAt: previous?.firstFailedAt ?? now,
        lastFailedAt: now,
        error: { tag: options.failure.tag, message: options.failure.message }
      }
      const delay = options.policy.retryable(options.failure) ?
        yield* delayFor(options.policy.schedule, options.attempt, options.failure) :
        Option.none()
      if (Option.isNone(delay)) return { _tag: "Exhausted", record: next } satisfies Decision
      const dueAt = now + Duration.toMillis(delay.value)
      yield* redis.transaction([
        { _tag: "HSet", key: Keys.failures(options.stream, options.group), field: options.entryId, value: JSON.stringify(next) },
        { _tag: "ZAdd", key: Keys.retrySchedule(options.stream, options.group), score: dueAt, member: options.entryId }
      ])
      yield* Metrics.retried(options.group)
      return { _tag: "Scheduled", dueAt, delay: delay.value } satisfies Decision
    })

    const takeDue = (options: {
      readonly stream: string
      readonly group: string
      readonly consumer: string
      readonly count: number
    }) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        redis.takeDue({
          scheduleKey: Keys.retrySchedule(options.stream, options.group),
          key: options.stream,
          group: options.group,
          consumer: options.consumer,
          now,
          count: options.count
        }))

    const scheduled = (stream: string, group: string, entryIds: ReadonlyArray<string>) =>
      entryIds.length === 0 ?
        Effect.succeed(new Set<string>()) :
        Effect.map(redis.scores(Keys.retrySchedule(stream, group), entryIds), (scores) => {
          const out = new Set<string>()
          scores.forEach((score, i) => {
            if (score !== undefined) out.add(entryIds[i]!)
          })
          return out
        })

    const clearCommands = (stream: string, group: string, entryIds: ReadonlyArray<string>): ReadonlyArray<RedisStream.Command> => [
      { _tag: "ZRem", key: Keys.retrySchedule(stream, group), members: entryIds },
      { _tag: "HDel", key: Keys.failures(stream, group), fields: entryIds }
    ]

    return Retry.of({ onFailure, takeDue, scheduled, record, clearCommands })
  }
)

/**
 * Provides the retry service; needs `RedisStream`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Retry, never, RedisStream.RedisStream> = Layer.effect(Retry, make)
