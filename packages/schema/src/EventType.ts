/**
 * Event types: one value per kind of event, carrying its literal wire name, payload schema and version.
 *
 * `make("approval.approved", payload)` defines an event type. The functions of this module are what publishers
 * and consumers run per event: `validate` and `encodePayload` on the way out, `decodePayload` and `fromRaw` on the
 * way in. An event type may declare previous payload versions with a migration to the current one; consumers
 * always see the current shape. It may also declare aliases: other wire names (e.g. the NestJS bus's
 * `approval.granted`) that decode to it and that patterns and subscriptions match; it is always published under
 * its own name.
 *
 * @since 0.1.0
 */
import * as Exit from "effect/Exit"
import type * as JsonSchema from "effect/JsonSchema"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Envelope from "./Envelope.ts"
import * as EventError from "./EventError.ts"
import type * as EventId from "./EventId.ts"
import * as internal from "./internal/eventType.ts"
import * as issues from "./internal/issues.ts"

/**
 * Identifies event type values at runtime, see {@link isEventType}.
 *
 * @category type IDs
 * @since 0.1.0
 */
export const TypeId: TypeId = "~@hyvve/schema/EventType"

/**
 * Identifies event type values at runtime.
 *
 * @category type IDs
 * @since 0.1.0
 */
export type TypeId = "~@hyvve/schema/EventType"

/**
 * Constrains payload schemas: any schema that decodes and encodes without services.
 *
 * **Gotchas**
 *
 * The payload travels in its canonical JSON form (`Schema.toCodecJson`), so a field such as `Schema.Date` is sent as
 * an ISO string. Prefer `Schema.Finite` over `Schema.Number` (JSON has no `NaN`) and `Schema.optionalKey` over
 * `Schema.optional` (JSON has no `undefined`).
 *
 * @category models
 * @since 0.1.0
 */
export type PayloadSchema = Schema.Codec<unknown, unknown, never, never>

/**
 * Describes an older payload version of an event type. Envelopes at this version are decoded with `payload` and
 * migrated to the current shape.
 *
 * @category models
 * @since 0.1.0
 */
export interface PreviousVersion {
  readonly version: string
  readonly payload: PayloadSchema
}

/**
 * Represents one kind of event: its literal wire name, payload schema and current version, and the other wire
 * names (`Aliases`) it is read under.
 *
 * @category models
 * @since 0.1.0
 */
export interface EventType<out Name extends string, out Payload extends PayloadSchema, out Aliases extends string = never> {
  readonly [TypeId]: TypeId
  /** The wire name, e.g. `"approval.approved"`. */
  readonly type: Name
  /** Other wire names that decode to this event type (never written: publishing uses `type`). */
  readonly aliases: ReadonlyArray<Aliases>
  /** The schema of the current payload version. */
  readonly payload: Payload
  /** The current payload version. Defaults to `"1.0"`. */
  readonly version: string
  /** What the event means, for documentation. */
  readonly description: string | undefined
  /** Older payload versions that can still be decoded, in the order declared. */
  readonly previous: ReadonlyArray<PreviousVersion>
  /** @internal */
  readonly [internal.CodecId]: internal.Codec<Payload["Type"]>
}

/**
 * Represents any event type; the constraint of every generic in this package.
 *
 * @category models
 * @since 0.1.0
 */
export type Any = EventType<string, PayloadSchema, string>

/**
 * Extracts the literal wire name of an event type (a union for a union of event types).
 *
 * @category models
 * @since 0.1.0
 */
export type Name<E extends Any> = E["type"]

/**
 * Extracts every wire name an event type is read under: its name and its aliases.
 *
 * @category models
 * @since 0.1.0
 */
export type Names<E extends Any> = E["type"] | E["aliases"][number]

/**
 * Extracts the decoded payload type of an event type.
 *
 * @category models
 * @since 0.1.0
 */
export type Payload<E extends Any> = Schema.Schema.Type<E["payload"]>

/**
 * Extracts the encoded payload type of an event type (its schema's `Encoded` side).
 *
 * @category models
 * @since 0.1.0
 */
export type Encoded<E extends Any> = Schema.Codec.Encoded<E["payload"]>

/**
 * Describes a previous payload version given to {@link make}: its version, its schema, and a migration from a decoded
 * old payload to the current payload's encoded shape. The migration's output is validated with the current schema.
 *
 * @category models
 * @since 0.1.0
 */
export interface PreviousOptions<Old extends PayloadSchema, Current extends PayloadSchema> {
  /** The version envelopes of this shape were published with, e.g. `"0.9"`. */
  readonly version: string
  /** The payload schema of that version. */
  readonly payload: Old
  /** Turns a decoded old payload into the current payload's encoded shape. */
  readonly migrate: (previous: Old["Type"]) => Current["Encoded"]
}

/**
 * Creates an event type from its wire name and payload schema.
 *
 * **Details**
 *
 * `version` defaults to `"1.0"`. `previous` lists older versions, each with the schema it was published with and
 * a `migrate` function to the current encoded shape. `aliases` lists other wire names that decode to this event
 * type and that patterns and subscriptions match (events are always published under `type`). The name is written
 * out explicitly, never derived from an identifier, so renaming a variable never changes the wire.
 *
 * **Gotchas**
 *
 * An invalid definition throws when the module loads, since it is a programmer error: a name or alias that is not
 * two or more dot-separated segments of `a-z`, `0-9` and `_`, a name declared twice (as alias or name), an empty
 * version, or a version declared twice.
 *
 * TypeScript widens string literals returned by an inline `migrate` (`decision: "approved"` becomes `string`).
 * Annotate its return type with the current payload's encoded type, `(old): typeof Payload.Encoded => ...`.
 *
 * **Example** (Defining an event type)
 *
 * ```ts
 * import { Schema } from "effect"
 * import { EventType } from "@hyvve/schema"
 *
 * export const InvoicePaid = EventType.make(
 *   "invoice.paid",
 *   Schema.Struct({ invoiceId: Schema.String, amountCents: Schema.Int }),
 *   { description: "An invoice was paid in full" }
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <
  const Name extends string,
  Payload extends PayloadSchema,
  const Previous extends ReadonlyArray<PayloadSchema> = readonly [],
  const Aliases extends string = never
>(
  type: Name,
  payload: Payload,
  options?: {
    readonly version?: string | undefined
    readonly description?: string | undefined
    readonly previous?: { readonly [K in keyof Previous]: PreviousOptions<Previous[K], Payload> } | undefined
    readonly aliases?: ReadonlyArray<Aliases> | undefined
  }
): EventType<Name, Payload, Aliases> => {
  const version = options?.version ?? defaultVersion
  const previous: ReadonlyArray<PreviousOptions<PayloadSchema, Payload>> = options?.previous ?? []
  const aliases: ReadonlyArray<Aliases> = options?.aliases ?? []
  internal.assertDefinition(type, version, previous, aliases)
  return {
    [TypeId]: TypeId,
    type,
    aliases,
    payload,
    version,
    description: options?.description,
    previous: previous.map((old) => ({ version: old.version, payload: old.payload })),
    [internal.CodecId]: internal.compile(payload, previous)
  }
}

/**
 * Returns `true` when a value is an event type created by {@link make}.
 *
 * @category guards
 * @since 0.1.0
 */
export const isEventType = (u: unknown): u is Any => Predicate.hasProperty(u, TypeId)

/**
 * Returns every wire name an event type is read under: its name first, then its aliases.
 *
 * @category getters
 * @since 0.1.0
 */
export const names = <E extends Any>(eventType: E): ReadonlyArray<Names<E>> => [eventType.type, ...eventType.aliases]

/**
 * Returns `true` when `name` is the event type's name or one of its aliases.
 *
 * @category predicates
 * @since 0.1.0
 */
export const hasName = (eventType: Any, name: string): boolean =>
  eventType.type === name || eventType.aliases.includes(name)

/**
 * Checks an in-memory payload against the event type's schema. Fails with `InvalidPayload` listing every offending
 * field.
 *
 * @category validation
 * @since 0.1.0
 */
export const validate = <E extends Any>(
  eventType: E,
  payload: unknown
): Exit.Exit<Payload<E>, EventError.InvalidPayload> =>
  Exit.mapError(internal.codecOf(eventType).validate(payload), invalidPayload(eventType))

/**
 * Checks a payload and encodes it to the JSON value that goes into an envelope's `data`. Fails with `InvalidPayload`
 * listing every offending field.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodePayload = <E extends Any>(
  eventType: E,
  payload: NoInfer<Payload<E>>
): Exit.Exit<Schema.Json, EventError.InvalidPayload> =>
  Exit.mapError(internal.codecOf(eventType).encode(payload), invalidPayload(eventType))

/**
 * Decodes an envelope's `data` published at `version`. The current version is decoded with the current schema; a
 * previous version is decoded with its own schema and migrated, so the result always has the current shape.
 *
 * **Details**
 *
 * Fails with `UnknownVersion` when `version` is neither the current one nor a declared previous one, and with
 * `InvalidPayload` when the data (or a migration's output) does not match its schema.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodePayload = <E extends Any>(
  eventType: E,
  version: string,
  data: unknown
): Exit.Exit<Payload<E>, EventError.InvalidPayload | EventError.UnknownVersion> => {
  const codec = internal.codecOf(eventType)
  if (version === eventType.version) return Exit.mapError(codec.decode(data), invalidPayload(eventType))
  const upgrade = codec.upgrades.get(version)
  if (upgrade === undefined) {
    return Exit.fail(
      new EventError.UnknownVersion({
        eventType: eventType.type,
        version,
        known: [eventType.version, ...eventType.previous.map((old) => old.version)]
      })
    )
  }
  return Exit.mapError(upgrade(data), invalidPayload(eventType))
}

/**
 * Describes the header fields of an envelope that the publisher supplies: everything except `type`, `version` and
 * `data`, which come from the event type and the payload.
 *
 * @category models
 * @since 0.1.0
 */
export interface Meta {
  readonly id: EventId.EventId
  readonly timestamp: Envelope.Timestamp
  readonly source: string
  readonly correlationId: string
  readonly tenantId: string
  readonly userId: string
  readonly causationId?: string | undefined
  readonly traceparent?: Envelope.Traceparent | undefined
  readonly replay?: Envelope.ReplayMarker | undefined
}

/**
 * Creates an envelope of an event type: making an event validates its payload. Fails with `InvalidPayload` listing
 * every offending field.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeEnvelope = <E extends Any>(
  eventType: E,
  payload: NoInfer<Payload<E>>,
  meta: Meta
): Exit.Exit<Envelope.Envelope<E>, EventError.InvalidPayload> =>
  Exit.map(validate(eventType, payload), (data) => internal.envelope(eventType, header(meta), data))

/**
 * Creates a wire-ready envelope straight from a payload, validating and encoding the payload in one pass.
 *
 * **When to use**
 *
 * Use on the publish path: it is `makeEnvelope` followed by `toRaw` without checking the payload twice.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeRaw = <E extends Any>(
  eventType: E,
  payload: NoInfer<Payload<E>>,
  meta: Meta
): Exit.Exit<Envelope.Raw, EventError.InvalidPayload> =>
  Exit.map(
    encodePayload(eventType, payload),
    (data) => ({ ...header(meta), type: eventType.type, version: eventType.version, data })
  )

/**
 * Encodes the payload of an envelope, producing the {@link Envelope.Raw} form that `Envelope.encodeJson` writes.
 *
 * @category encoding
 * @since 0.1.0
 */
export const toRaw = <E extends Any>(
  eventType: E,
  envelope: NoInfer<Envelope.Envelope<E>>
): Exit.Exit<Envelope.Raw, EventError.InvalidPayload> => {
  const of: Envelope.Of<string, unknown> = envelope
  const data = Exit.mapError(internal.codecOf(eventType).encode(of.data), invalidPayload(eventType))
  return Exit.map(data, (encoded): Envelope.Raw => ({ ...of, data: encoded }))
}

/**
 * Decodes a {@link Envelope.Raw} envelope read off the wire as an envelope of this event type.
 *
 * **Details**
 *
 * Fails with `TypeMismatch` when the envelope's `type` is another event type, then decodes `data` as
 * {@link decodePayload} does. An envelope published at a previous version is migrated, and its `version` becomes
 * the current one, so that `version` always describes `data`. An envelope under one of the event type's aliases
 * decodes with its `type` set to the event type's own name.
 *
 * @category decoding
 * @since 0.1.0
 */
export const fromRaw = <E extends Any>(
  eventType: E,
  raw: Envelope.Raw
): Exit.Exit<
  Envelope.Envelope<E>,
  EventError.InvalidPayload | EventError.UnknownVersion | EventError.TypeMismatch
> => {
  if (raw.type !== eventType.type && !eventType.aliases.includes(raw.type)) {
    return Exit.fail(new EventError.TypeMismatch({ expected: eventType.type, actual: raw.type }))
  }
  return Exit.map(decodePayload(eventType, raw.version, raw.data), (data) => internal.envelope(eventType, raw, data))
}

/**
 * Returns the JSON Schema (draft 2020-12) of the event type's current payload, as it appears in an envelope's
 * `data`. `Envelope.jsonSchema` documents the whole envelope.
 *
 * @category models
 * @since 0.1.0
 */
export const jsonSchema = (eventType: Any): JsonSchema.Document<"draft-2020-12"> =>
  Schema.toJsonSchemaDocument(eventType.payload)

// --- internal ---

const defaultVersion = "1.0"

const invalidPayload = (eventType: Any) => (error: Schema.SchemaError) =>
  new EventError.InvalidPayload({ eventType: eventType.type, issues: issues.fromSchemaError(error) })

// Copies the header fields, leaving out absent optional ones: the envelope's optional keys are exact.
const header = (meta: Meta): Omit<Envelope.Header, "version"> => ({
  id: meta.id,
  source: meta.source,
  timestamp: meta.timestamp,
  correlationId: meta.correlationId,
  tenantId: meta.tenantId,
  userId: meta.userId,
  ...(meta.causationId === undefined ? {} : { causationId: meta.causationId }),
  ...(meta.traceparent === undefined ? {} : { traceparent: meta.traceparent }),
  ...(meta.replay === undefined ? {} : { replay: meta.replay })
})
