import * as Result from "effect/Result"
import type * as EventError from "../EventError.ts"
import * as name from "./name.ts"

/** Why a pattern is rejected, and at which segment. */
export interface Rejection {
  readonly reason: EventError.InvalidPatternReason
  readonly segment?: number
}

/** Splits and checks a pattern, collapsing runs of `**` (which match the same names as one `**`). */
export const parse = (pattern: string): Result.Result<ReadonlyArray<string>, Rejection> => {
  if (pattern === "") return Result.fail({ reason: "Empty" })
  const segments: Array<string> = []
  for (const [index, segment] of pattern.split(".").entries()) {
    if (segment === "") return Result.fail({ reason: "EmptySegment", segment: index })
    if (segment === "*" || segment === "**") {
      if (!(segment === "**" && segments.at(-1) === "**")) segments.push(segment)
      continue
    }
    if (segment.includes("*")) return Result.fail({ reason: "PartialWildcard", segment: index })
    if (!name.segment.test(segment)) return Result.fail({ reason: "IllegalCharacter", segment: index })
    segments.push(segment)
  }
  return Result.succeed(segments)
}

/**
 * Compiles checked segments to a predicate on event names: string equality without wildcards, a constant for `**`,
 * and an anchored RegExp otherwise.
 */
export const compile = (segments: ReadonlyArray<string>): (name: string) => boolean => {
  if (!segments.some(isWildcard)) {
    const exact = segments.join(".")
    return (name) => name === exact
  }
  if (segments.length === 1 && segments[0] === "**") return () => true
  const regExp = new RegExp(`^${toRegExpSource(segments)}$`)
  return (name) => regExp.test(name)
}

const isWildcard = (segment: string): boolean => segment === "*" || segment === "**"

// A lone `**` never gets here (`compile` handles it). Each `**` absorbs the dot on its open side, so that it can
// stand for zero segments: `a.**.b` matches `a.b`, `**.b` matches `b`.
const toRegExpSource = (segments: ReadonlyArray<string>): string => {
  let source = ""
  for (const [index, segment] of segments.entries()) {
    if (segment === "**") {
      source += index === 0 ? "(?:[^.]+\\.)*" : "(?:\\.[^.]+)*"
      continue
    }
    const separator = index === 0 || (index === 1 && segments[0] === "**") ? "" : "\\."
    // Literal segments are `[a-z0-9_]+` (checked by `parse`), so they need no escaping.
    source += separator + (segment === "*" ? "[^.]+" : segment)
  }
  return source
}

/** Key of the compiled matcher an event pattern carries. */
export const MatcherId: unique symbol = Symbol.for("@hyvve/schema/EventPattern/Matcher")
