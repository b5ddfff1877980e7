/**
 * Patterns over dotted event names, checked at runtime and at the type level.
 *
 * A pattern is a dotted name whose segments may be wildcards: `*` matches exactly one segment and `**` any number of
 * segments, zero included, anywhere in the pattern (`approval.*`, `approval.**`, `*.approved`,
 * `approval.*.approved`, `**.approved`, `**`). `make` compiles a pattern once; `matches` is then a string comparison
 * or a single RegExp test. `Filter<E, P>` narrows a union of event types to the members a pattern matches.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Result from "effect/Result"
import * as EventError from "./EventError.ts"
import type * as EventType from "./EventType.ts"
import * as internal from "./internal/pattern.ts"

/**
 * Identifies compiled event patterns at runtime, see {@link isEventPattern}.
 *
 * @category type IDs
 * @since 0.1.0
 */
export const TypeId: TypeId = "~@hyvve/schema/EventPattern"

/**
 * Identifies compiled event patterns at runtime.
 *
 * @category type IDs
 * @since 0.1.0
 */
export type TypeId = "~@hyvve/schema/EventPattern"

/**
 * Represents a checked and compiled event pattern. `P` is the pattern's literal text when it is known statically.
 *
 * @category models
 * @since 0.1.0
 */
export interface EventPattern<out P extends string = string> {
  readonly [TypeId]: TypeId
  /** The pattern as written, e.g. `"approval.*"`. */
  readonly pattern: P
  /** The pattern's segments, with runs of `**` collapsed into one. */
  readonly segments: ReadonlyArray<string>
  /** @internal */
  readonly [internal.MatcherId]: (name: string) => boolean
}

/**
 * Checks and compiles a pattern. Fails with `InvalidPattern` for an empty pattern, an empty segment (`a..b`, a
 * leading or trailing dot), a segment with characters other than `a-z`, `0-9` and `_`, or a wildcard that is not a
 * whole segment (`a*`, `***`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <const P extends string>(pattern: P): Effect.Effect<EventPattern<P>, EventError.InvalidPattern> =>
  Result.match(internal.parse(pattern), {
    onFailure: (rejection) => Effect.fail(invalid(pattern, rejection)),
    onSuccess: (segments) => Effect.succeed(fromSegments(pattern, segments))
  })

/**
 * Checks and compiles a pattern, throwing `InvalidPattern` when it is invalid (see {@link make}).
 *
 * **When to use**
 *
 * Use for patterns written in code, where an invalid pattern is a programmer error.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeUnsafe = <const P extends string>(pattern: P): EventPattern<P> => {
  const parsed = internal.parse(pattern)
  if (Result.isFailure(parsed)) throw invalid(pattern, parsed.failure)
  return fromSegments(pattern, parsed.success)
}

/**
 * Returns `true` when an event name matches a compiled pattern.
 *
 * @category predicates
 * @since 0.1.0
 */
export const matches = (pattern: EventPattern, name: string): boolean => pattern[internal.MatcherId](name)

/**
 * Returns `true` when a pattern matches an event type under any name it is read under (its name or an alias).
 *
 * @category predicates
 * @since 0.1.0
 */
export const matchesEvent = (pattern: EventPattern, eventType: EventType.Any): boolean =>
  matches(pattern, eventType.type) || eventType.aliases.some((alias) => matches(pattern, alias))

/**
 * Returns `true` when a string contains a wildcard, i.e. it names a set of event types rather than a single one.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isPattern = (s: string): boolean => s.includes("*")

/**
 * Returns `true` when a value is a pattern compiled by {@link make} or {@link makeUnsafe}.
 *
 * @category guards
 * @since 0.1.0
 */
export const isEventPattern = (u: unknown): u is EventPattern => Predicate.hasProperty(u, TypeId)

/**
 * Computes, at the type level, whether the event name `Name` matches the pattern `P`: `true` or `false` for literal
 * types, `boolean` when either is the wide `string`.
 *
 * @category models
 * @since 0.1.0
 */
export type Matches<Name extends string, P extends string> = string extends P ? boolean
  : string extends Name ? boolean
  : MatchSegments<Split<Name>, Split<P>>

/**
 * Narrows a union of event types to the members with a name or alias that matches the pattern `P`. A wide `string`
 * pattern keeps every member.
 *
 * **Example** (Narrowing the catalog)
 *
 * ```ts
 * import type { Catalog, EventPattern } from "@hyvve/schema"
 *
 * // typeof ApprovalApproved
 * type Approved = EventPattern.Filter<Catalog.Event, "*.approved">
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Filter<E extends EventType.Any, P extends string> = E extends EventType.Any
  ? MatchesAny<EventType.Names<E>, P> extends false ? never : E
  : never

// --- internal ---

// `Matches` for each member of a union of names: `false` only when none of them matches (`never` for no names).
type MatchesAny<Names extends string, P extends string> = Names extends string ? Matches<Names, P> : never

type Split<S extends string> = S extends `${infer Head}.${infer Tail}` ? [Head, ...Split<Tail>] : [S]

type MatchSegments<N extends ReadonlyArray<string>, P extends ReadonlyArray<string>> = P extends
  readonly [infer Head, ...infer Tail extends ReadonlyArray<string>] ?
  Head extends "**" ? (
      MatchSegments<N, Tail> extends true ? true
        : N extends readonly [string, ...infer Rest extends ReadonlyArray<string>] ? MatchSegments<Rest, P>
        : false
    )
  : N extends readonly [infer First, ...infer Rest extends ReadonlyArray<string>]
    ? Head extends "*" ? MatchSegments<Rest, Tail> : First extends Head ? MatchSegments<Rest, Tail> : false
  : false
  : N extends readonly [] ? true
  : false

const fromSegments = <P extends string>(pattern: P, segments: ReadonlyArray<string>): EventPattern<P> => ({
  [TypeId]: TypeId,
  pattern,
  segments,
  [internal.MatcherId]: internal.compile(segments)
})

const invalid = (pattern: string, rejection: internal.Rejection): EventError.InvalidPattern =>
  new EventError.InvalidPattern({
    pattern,
    reason: rejection.reason,
    ...(rejection.segment === undefined ? {} : { segment: rejection.segment })
  })
