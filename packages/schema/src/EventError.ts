/**
 * Typed errors raised while defining, validating, encoding and decoding events.
 *
 * Every error is a `Schema.TaggedError`, so it is yieldable in `Effect.gen`, matched with `Effect.catchTag`, and
 * encodable: the bus stores a `DecodeError` in the dead-letter queue in its encoded form. Each error carries the
 * structured details (event type, issues, versions) and derives a readable `message` from them.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Describes one validation failure: the path of the offending field (`"decidedById"`, `"items[2].id"`, or `""` for
 * the value itself) and what was expected there.
 *
 * @category models
 * @since 0.1.0
 */
export const Issue = Schema.Struct({
  path: Schema.String.annotate({ description: "Path of the offending field, empty for the value itself" }),
  message: Schema.String.annotate({ description: "What was expected at that path" })
}).annotate({ identifier: "EventIssue" })

/**
 * Describes one validation failure: the path of the offending field and what was expected there.
 *
 * @category models
 * @since 0.1.0
 */
export type Issue = typeof Issue.Type

/**
 * Signals that an event payload does not match its event type's schema. `issues` lists every offending field, not
 * only the first one.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidPayload extends Schema.TaggedError<InvalidPayload>("@hyvve/schema/EventError/InvalidPayload")(
  "InvalidPayload",
  {
    eventType: Schema.String,
    issues: Schema.Array(Issue)
  }
) {
  override get message(): string {
    return `Invalid payload for event type "${this.eventType}": ${formatIssues(this.issues)}`
  }
}

/**
 * Signals that an envelope carries a payload version that its event type neither is at nor declares as a previous
 * version. `known` lists the versions that can be decoded, current version first.
 *
 * @category errors
 * @since 0.1.0
 */
export class UnknownVersion extends Schema.TaggedError<UnknownVersion>("@hyvve/schema/EventError/UnknownVersion")(
  "UnknownVersion",
  {
    eventType: Schema.String,
    version: Schema.String,
    known: Schema.Array(Schema.String)
  }
) {
  override get message(): string {
    return `Unknown version "${this.version}" of event type "${this.eventType}" (known versions: ${
      this.known.join(", ")
    })`
  }
}

/**
 * Signals that a text is not a JSON envelope or that its header (every field but `data`) is invalid. `raw` keeps
 * the start of the offending text (at most 1024 characters) for the dead-letter queue.
 *
 * @category errors
 * @since 0.1.0
 */
export class MalformedEnvelope extends Schema.TaggedError<MalformedEnvelope>(
  "@hyvve/schema/EventError/MalformedEnvelope"
)("MalformedEnvelope", {
  raw: Schema.optionalKey(Schema.String),
  issues: Schema.Array(Issue)
}) {
  override get message(): string {
    return `Malformed envelope: ${formatIssues(this.issues)}`
  }
}

/**
 * Signals that an envelope was decoded against an event type whose name differs from the envelope's `type`.
 *
 * @category errors
 * @since 0.1.0
 */
export class TypeMismatch extends Schema.TaggedError<TypeMismatch>("@hyvve/schema/EventError/TypeMismatch")(
  "TypeMismatch",
  {
    expected: Schema.String,
    actual: Schema.String
  }
) {
  override get message(): string {
    return `Expected an event of type "${this.expected}", got "${this.actual}"`
  }
}

/**
 * Lists the reasons an event pattern is rejected: `Empty` (the pattern is `""`), `EmptySegment` (`"a..b"`, a leading
 * or trailing dot), `IllegalCharacter` (a segment with anything but `a-z`, `0-9` and `_`), and `PartialWildcard`
 * (`"a*"`, `"***"`: a wildcard must be a whole segment).
 *
 * @category models
 * @since 0.1.0
 */
export const InvalidPatternReason = Schema.Literals(["Empty", "EmptySegment", "IllegalCharacter", "PartialWildcard"])

/**
 * Lists the reasons an event pattern is rejected.
 *
 * @category models
 * @since 0.1.0
 */
export type InvalidPatternReason = typeof InvalidPatternReason.Type

/**
 * Signals that a string is not a valid event pattern. `segment` is the zero-based index of the offending segment,
 * absent when the whole pattern is empty.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidPattern extends Schema.TaggedError<InvalidPattern>("@hyvve/schema/EventError/InvalidPattern")(
  "InvalidPattern",
  {
    pattern: Schema.String,
    reason: InvalidPatternReason,
    segment: Schema.optionalKey(Schema.Int)
  }
) {
  override get message(): string {
    const where = this.segment === undefined ? "" : ` at segment ${this.segment}`
    return `Invalid event pattern "${this.pattern}": ${reasonText[this.reason]}${where}`
  }
}

/**
 * Describes every way reading an event off the wire can fail: the envelope is malformed, its payload is invalid, its
 * version is unknown, or it is not the expected event type.
 *
 * @category errors
 * @since 0.1.0
 */
export const DecodeError = Schema.Union([MalformedEnvelope, InvalidPayload, UnknownVersion, TypeMismatch])

/**
 * Describes every way reading an event off the wire can fail.
 *
 * @category errors
 * @since 0.1.0
 */
export type DecodeError = MalformedEnvelope | InvalidPayload | UnknownVersion | TypeMismatch

/**
 * Returns `true` when a value is one of the {@link DecodeError} errors.
 *
 * @category guards
 * @since 0.1.0
 */
export const isDecodeError = (u: unknown): u is DecodeError =>
  u instanceof MalformedEnvelope || u instanceof InvalidPayload || u instanceof UnknownVersion ||
  u instanceof TypeMismatch

/**
 * Returns `true` when a value is any error of this module.
 *
 * @category guards
 * @since 0.1.0
 */
export const isEventError = (u: unknown): u is DecodeError | InvalidPattern =>
  isDecodeError(u) || u instanceof InvalidPattern

// --- internal ---

const reasonText: Record<InvalidPatternReason, string> = {
  Empty: "the pattern is empty",
  EmptySegment: "empty segment",
  IllegalCharacter: "a segment may only contain a-z, 0-9 and _",
  PartialWildcard: "a wildcard (* or **) must be a whole segment"
}

const formatIssues = (issues: ReadonlyArray<Issue>): string =>
  issues.length === 0 ?
    "no details" :
    issues.map((issue) => issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`).join("; ")
