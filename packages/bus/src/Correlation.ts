/**
 * The event being handled by the current fiber. The consumer sets it around every handler, and
 * the publisher reads it: an event published from inside a handler inherits the handled event's
 * `correlationId` and gets its id as `causationId`, without the caller passing either.
 *
 * @since 0.1.0
 */
import { Context, Effect } from "effect"

/**
 * What a published event inherits from the event being handled.
 *
 * @category models
 * @since 0.1.0
 */
export interface HandledEvent {
  readonly id: string
  readonly correlationId: string
  readonly tenantId: string
  readonly userId: string
}

/**
 * The event the current fiber is handling, if any. Defaults to none.
 *
 * @category services
 * @since 0.1.0
 */
export const CurrentEvent = Context.Reference<HandledEvent | undefined>("@hyvve/bus/Correlation/CurrentEvent", {
  defaultValue: () => undefined
})

/**
 * Runs `effect` as the handling of `event`: events it publishes are correlated with it.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withEvent =
  (event: HandledEvent) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provideService(effect, CurrentEvent, event)
