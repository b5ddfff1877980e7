/**
 * The wire envelope that wraps every event: who published what, when, under which correlation, and the payload.
 *
 * `Raw` is the envelope as read off the wire, with a validated header and a payload that is not decoded yet;
 * `decodeJson` / `encodeJson` turn it into JSON text and back. `Envelope<E>` is the precise type of an envelope of
 * event type `E`, produced by `EventType.makeEnvelope` and `EventType.fromRaw`. The header fields keep the seeds'
 * `BaseEvent` field for field, plus `causationId`, a W3C `traceparent` and a typed `replay` marker.
 *
 * `decodeJson` also reads what the NestJS bus writes: an envelope without `correlationId` gets the event's id (as
 * our publisher would have set it), and a seed replay (`data.__replay = true`, `correlationId = "replay-<jobId>"`)
 * gets the typed `replay` marker, with `__replay` removed from the payload.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as JsonSchema from "effect/JsonSchema"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Struct from "effect/Struct"
import * as EventError from "./EventError.ts"
import * as EventId from "./EventId.ts"
import type * as EventType from "./EventType.ts"
import * as compiled from "./internal/compiled.ts"
import * as issues from "./internal/issues.ts"
import * as seed from "./internal/seed.ts"
import * as timestamp from "./internal/timestamp.ts"
import * as traceparent from "./internal/traceparent.ts"

/**
 * Validates an ISO 8601 timestamp with date, time and zone (`2026-01-31T12:00:00.000Z` or `...+02:00`), rejecting
 * impossible dates such as 30 February. The decoded value stays the original string, so it round-trips exactly.
 *
 * @category models
 * @since 0.1.0
 */
export const Timestamp = Schema.String.check(
  Schema.makeFilter((s: string) => timestamp.pattern.test(s) && timestamp.isCalendarDate(s), {
    expected: "an ISO 8601 timestamp such as 2026-01-31T12:00:00.000Z",
    toJsonSchema: () => ({ format: "date-time" }),
    arbitraryConstraint: { patterns: [{ source: timestamp.pattern.source, flags: "" }] }
  })
).pipe(Schema.brand("Timestamp")).annotate({ description: "When the event happened, ISO 8601" })

/**
 * Represents a validated ISO 8601 timestamp.
 *
 * @category models
 * @since 0.1.0
 */
export type Timestamp = typeof Timestamp.Type

/**
 * Returns the current time from the `Clock` as a {@link Timestamp} in UTC with milliseconds
 * (`2026-01-31T12:00:00.000Z`), so `TestClock` controls it in tests.
 *
 * @category constructors
 * @since 0.1.0
 */
export const currentTimestamp: Effect.Effect<Timestamp> = Effect.map(
  DateTime.now,
  (now) => Timestamp.make(DateTime.formatIso(now))
)

/**
 * Validates a W3C Trace Context `traceparent` header (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`),
 * rejecting version `ff` and all-zero trace or parent ids as the specification requires.
 *
 * @category models
 * @since 0.1.0
 */
export const Traceparent = Schema.String.check(
  Schema.makeFilter((s: string) => traceparent.pattern.test(s) && traceparent.isAllowed(s), {
    expected: "a W3C traceparent such as 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    toJsonSchema: () => [{ pattern: traceparent.pattern.source }, true],
    arbitraryConstraint: { patterns: [{ source: traceparent.pattern.source, flags: "" }] }
  })
).pipe(Schema.brand("Traceparent")).annotate({ description: "W3C trace context of the publishing span" })

/**
 * Represents a validated W3C `traceparent`.
 *
 * @category models
 * @since 0.1.0
 */
export type Traceparent = typeof Traceparent.Type

/**
 * Validates the marker carried by a replayed event: the replay job that re-delivered it and the id of the event it
 * replays. A replayed event is never mistaken for a new one, and its payload stays untouched.
 *
 * **Gotchas**
 *
 * `originalEventId` is absent on events replayed by the NestJS bus: it re-publishes with a new id and records only
 * the job (`correlationId = "replay-<jobId>"`).
 *
 * @category models
 * @since 0.1.0
 */
export const ReplayMarker = Schema.Struct({
  jobId: Schema.String.annotate({ description: "Id of the replay job that re-delivered the event" }),
  originalEventId: Schema.optionalKey(EventId.EventId.annotate({ description: "Id of the event being replayed" }))
}).annotate({ description: "Present only on events re-delivered by a replay job" })

/**
 * Represents the marker carried by a replayed event.
 *
 * @category models
 * @since 0.1.0
 */
export type ReplayMarker = typeof ReplayMarker.Type

/**
 * Validates the header of an envelope: every field except `type` and `data`.
 *
 * @category models
 * @since 0.1.0
 */
export const Header = Schema.Struct({
  id: EventId.EventId,
  source: Schema.String.annotate({ description: `Publishing module, or "platform"` }),
  timestamp: Timestamp,
  correlationId: Schema.String.annotate({
    description: "Shared by every event caused by the same original request or event"
  }),
  tenantId: Schema.String.annotate({ description: "Tenant (workspace owner) the event belongs to" }),
  userId: Schema.String.annotate({ description: "User or agent on whose behalf the event was published" }),
  version: Schema.String.annotate({ description: `Payload version of the event type, e.g. "1.0"` }),
  causationId: Schema.optionalKey(
    Schema.String.annotate({ description: "Id of the event being handled when this one was published" })
  ),
  traceparent: Schema.optionalKey(Traceparent),
  replay: Schema.optionalKey(ReplayMarker)
})

/**
 * Represents the header of an envelope: every field except `type` and `data`.
 *
 * @category models
 * @since 0.1.0
 */
export type Header = typeof Header.Type

/**
 * Represents an envelope whose `type` is `Name` and whose decoded payload is `Data`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Of<Name extends string, Data> extends Header {
  /** The dotted event type name, e.g. `"approval.approved"`. */
  readonly type: Name
  /** The decoded payload. */
  readonly data: Data
}

/**
 * Represents a decoded envelope of event type `E`: `type` is E's literal name and `data` its decoded payload. For a
 * union of event types it is the union of their envelopes, discriminated by `type`.
 *
 * @category models
 * @since 0.1.0
 */
export type Envelope<E extends EventType.Any> = E extends EventType.Any ? Of<EventType.Name<E>, EventType.Payload<E>>
  : never

/**
 * Validates an envelope whose header is checked and whose `data` is not decoded yet (any value). The fields are
 * written to JSON in the order of the seeds' `BaseEvent`.
 *
 * @category models
 * @since 0.1.0
 */
export const Raw = Schema.Struct({
  id: Header.fields.id,
  type: Schema.String.annotate({ description: `Dotted event type name, e.g. "approval.approved"` }),
  source: Header.fields.source,
  timestamp: Header.fields.timestamp,
  correlationId: Header.fields.correlationId,
  tenantId: Header.fields.tenantId,
  userId: Header.fields.userId,
  version: Header.fields.version,
  data: Schema.Unknown.annotate({ description: "The payload, encoded with the event type's schema" }),
  causationId: Header.fields.causationId,
  traceparent: Header.fields.traceparent,
  replay: Header.fields.replay
}).annotate({ identifier: "Envelope" })

/**
 * Represents an envelope with a validated header and a payload that is not decoded yet.
 *
 * @category models
 * @since 0.1.0
 */
export type Raw = typeof Raw.Type

/**
 * Transforms JSON text into a {@link Raw} envelope and back.
 *
 * @category models
 * @since 0.1.0
 */
export const RawJson = Schema.fromJsonString(Raw)

/**
 * Parses JSON text into a {@link Raw} envelope, validating its header. Fails with `MalformedEnvelope` listing every
 * offending field when the text is not JSON or the header is invalid; the payload is left for
 * `EventType.fromRaw`.
 *
 * **Details**
 *
 * Envelopes written by the NestJS bus are read as ours: a missing `correlationId` defaults to the event's `id`
 * (the seeds' `BaseEvent` declares it optional), and `data.__replay === true` (a seed replay) becomes the `replay`
 * marker, its `jobId` taken from `correlationId = "replay-<jobId>"`, with `__replay` removed from `data`.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeJson = (text: string): Exit.Exit<Raw, EventError.MalformedEnvelope> => {
  const json = Result.try({ try: (): unknown => JSON.parse(text), catch: errorMessage })
  if (Result.isFailure(json)) {
    return Exit.fail(malformed(text, [{ path: "", message: `Expected JSON text: ${json.failure}` }]))
  }
  return Exit.mapError(decodeRaw(seed.normalize(json.success)), (error) => malformed(text, issues.fromSchemaError(error)))
}

/**
 * Serialises a {@link Raw} envelope to JSON text, the exact inverse of {@link decodeJson}.
 *
 * **Details**
 *
 * Every header check is carried by a brand (`EventId`, `Timestamp`, `Traceparent`), so a `Raw` value is valid by
 * construction and encoding skips validation: it writes the envelope's fields in schema order, the same text as
 * `Schema.encodeSync(RawJson)`, at a fraction of the cost.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeJson = (raw: Raw): string => {
  const encoded: Record<string, unknown> = {}
  for (const key of rawKeys) {
    const value = raw[key]
    if (value !== undefined) encoded[key] = value
  }
  return JSON.stringify(encoded)
}

/**
 * Returns the full schema of an envelope of one event type: the header of {@link Raw}, `type` and `version` fixed
 * to the event type's name and current version, and `data` decoded with its payload schema (in its JSON form).
 *
 * **When to use**
 *
 * Use to document or validate envelopes of a single event type with standard schema tooling. To read events off
 * the wire use {@link decodeJson} and `EventType.fromRaw`, which also understand previous payload versions.
 *
 * @category models
 * @since 0.1.0
 */
export const schema = <E extends EventType.Any>(eventType: E) =>
  Schema.Struct({
    ...Raw.fields,
    type: Schema.Literal(eventType.type),
    version: Schema.Literal(eventType.version),
    data: Schema.toCodecJson(eventType.payload)
  }).annotate({
    title: `${eventType.type} envelope`,
    ...(description(eventType) === undefined ? {} : { description: description(eventType) })
  })

/**
 * Returns the JSON Schema (draft 2020-12) of an envelope of one event type, see {@link schema}.
 *
 * @category models
 * @since 0.1.0
 */
export const jsonSchema = (eventType: EventType.Any): JsonSchema.Document<"draft-2020-12"> =>
  Schema.toJsonSchemaDocument(schema(eventType))

// --- internal ---

// The event type's description, and the other names it is read under (they are part of its contract).
const description = (eventType: EventType.Any): string | undefined => {
  if (eventType.aliases.length === 0) return eventType.description
  const also = `Also read under: ${eventType.aliases.join(", ")}`
  return eventType.description === undefined ? also : `${eventType.description}. ${also}`
}

const maxRawLength = 1024

// Runs for every envelope read: compiled (`./internal/compiled.ts`).
const decodeRaw = Schema.decodeUnknownExit(compiled.forDecoding(Raw), { errors: "all" })

const rawKeys = Struct.keys(Raw.fields)

const malformed = (text: string, found: ReadonlyArray<EventError.Issue>): EventError.MalformedEnvelope =>
  new EventError.MalformedEnvelope({
    raw: text.length > maxRawLength ? text.slice(0, maxRawLength) : text,
    issues: found
  })

const errorMessage = (cause: unknown): string => cause instanceof globalThis.Error ? cause.message : String(cause)
