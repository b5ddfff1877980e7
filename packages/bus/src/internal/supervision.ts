/**
 * Supervision of the loops that talk to Redis, written once: the backoff they share, a `retry`
 * that costs nothing until something fails (the loops run it per read or per batch), and a
 * circuit per subscription that counts consecutive Redis errors over all of its loops, opens after
 * `threshold` of them, closes as soon as Redis answers again, and remembers when that was.
 *
 * The time of the last recovery is what keeps live consumers' entries safe across an outage: while
 * Redis is away no heartbeat lands, so entries a live consumer still handles look idle. When Redis
 * answers again the subscription refreshes its held entries at once (`onRecovered`), and sweeps of
 * other consumers' entries hold off until every live consumer had a claim timeout to do the same
 * (`quietFor`).
 */
import { Clock, Duration, Effect, Schedule } from "effect"
import { dual } from "effect/Function"
import type * as RedisStream from "../RedisStream.ts"

/**
 * Redis errors back off from 100 ms to 5 s (×1.5 per error, jittered): a short outage is
 * recovered from within a second, a long one costs one probe per loop every 5 s.
 */
export const backoff = Schedule.exponential("100 millis", 1.5).pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(5)))),
  Schedule.jittered
)

/**
 * `Effect.retry` that sets up its schedule only once `self` has failed: the same retries, delays
 * and `while` test, but a run that succeeds allocates nothing for them. `Effect.retry` builds the
 * schedule's state every time it runs, and the loops here run per read, per settle step and per
 * notifier round: at a steady 1,000 events/s that was about a quarter of a consumer's garbage.
 */
export const retry: {
  <E, B, R1>(
    options: { readonly schedule: Schedule.Schedule<B, NoInfer<E>, never, R1>; readonly while?: ((error: E) => boolean) | undefined }
  ): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R | R1>
  <A, E, R, B, R1>(
    self: Effect.Effect<A, E, R>,
    options: { readonly schedule: Schedule.Schedule<B, NoInfer<E>, never, R1>; readonly while?: ((error: E) => boolean) | undefined }
  ): Effect.Effect<A, E, R | R1>
} = dual(2, <A, E, R, B, R1>(
  self: Effect.Effect<A, E, R>,
  options: { readonly schedule: Schedule.Schedule<B, NoInfer<E>, never, R1>; readonly while?: ((error: E) => boolean) | undefined }
): Effect.Effect<A, E, R | R1> =>
  Effect.catch(self, (first) => {
    // The schedule sees the first failure as its first input, exactly as under `Effect.retry`.
    let replay = true
    const again = Effect.suspend(() => {
      if (!replay) return self
      replay = false
      return Effect.fail(first)
    })
    const test = options.while
    return test === undefined ? Effect.retry(again, options.schedule) : Effect.retry(again, { schedule: options.schedule, while: test })
  }))

/** What a circuit reports to health checks. */
export interface CircuitState {
  readonly circuit: "closed" | "open"
  readonly consecutiveErrors: number
  readonly lastError: string | undefined
}

/** The circuit of one subscription. */
export interface Circuit {
  readonly state: () => CircuitState
  /** Records a Redis answer; after errors, closes the circuit and runs `onRecovered`. */
  readonly success: Effect.Effect<void>
  /** Records a Redis error (and logs the first of a streak, and the circuit opening). */
  readonly failure: (error: RedisStream.RedisStreamError) => Effect.Effect<void>
  /**
   * True when Redis has answered without an error for at least `duration`: nothing failed since,
   * and the last recovery (if any) is that long ago.
   */
  readonly quietFor: (duration: Duration.Duration) => Effect.Effect<boolean>
  /**
   * Runs `step` forever: errors back off on `backoff` and count toward the circuit; `step`
   * succeeds with whether Redis answered (a step that sent nothing proves nothing about Redis).
   */
  readonly supervise: (name: string, step: Effect.Effect<boolean, RedisStream.RedisStreamError>) => Effect.Effect<never>
}

/** Creates a circuit; `onRecovered` runs (once) each time Redis answers after errors. */
export const makeCircuit = (options: {
  readonly threshold: number
  readonly annotations: Readonly<Record<string, unknown>>
  readonly onRecovered: Effect.Effect<void>
  /** Runs on every error (e.g. re-creating groups after `NoGroup`). */
  readonly onError?: ((error: RedisStream.RedisStreamError) => Effect.Effect<void>) | undefined
}): Circuit => {
  let circuit: "closed" | "open" = "closed"
  let consecutiveErrors = 0
  let lastError: string | undefined
  let recoveredAt = Number.NEGATIVE_INFINITY

  const success = Effect.suspend(() => {
    if (consecutiveErrors === 0 && circuit === "closed") return Effect.void
    const wasOpen = circuit === "open"
    circuit = "closed"
    consecutiveErrors = 0
    return Clock.currentTimeMillis.pipe(
      Effect.flatMap((now) => {
        recoveredAt = now
        return options.onRecovered
      }),
      Effect.andThen(
        wasOpen ? Effect.logInfo("Redis answers again: circuit closed") : Effect.logInfo("Redis answers again")
      ),
      Effect.annotateLogs(options.annotations)
    )
  })

  const failure = (error: RedisStream.RedisStreamError) =>
    Effect.suspend(() => {
      consecutiveErrors++
      lastError = error.message
      let log: Effect.Effect<void> = Effect.void
      if (consecutiveErrors === 1) {
        log = Effect.logWarning("Redis error; backing off").pipe(Effect.annotateLogs({ error: error.message }))
      } else if (consecutiveErrors >= options.threshold && circuit === "closed") {
        circuit = "open"
        log = Effect.logError("circuit open: Redis keeps failing; probing on backoff").pipe(
          Effect.annotateLogs({ consecutiveErrors, error: error.message })
        )
      }
      const after = options.onError === undefined ? Effect.void : options.onError(error)
      return Effect.andThen(log.pipe(Effect.annotateLogs(options.annotations)), after)
    })

  const quietFor = (duration: Duration.Duration) =>
    Effect.map(
      Clock.currentTimeMillis,
      (now) => consecutiveErrors === 0 && now - recoveredAt >= Duration.toMillis(duration)
    )

  const supervise = (name: string, step: Effect.Effect<boolean, RedisStream.RedisStreamError>) =>
    step.pipe(
      Effect.tap((answered) => (answered ? success : Effect.void)),
      Effect.tapError(failure),
      retry({ schedule: backoff }),
      Effect.forever,
      // The backoff never gives up: Redis errors cannot escape this loop.
      Effect.orDie,
      Effect.annotateLogs({ ...options.annotations, fiber: name })
    )

  return {
    state: () => ({ circuit, consecutiveErrors, lastError }),
    success,
    failure,
    quietFor,
    supervise
  }
}
