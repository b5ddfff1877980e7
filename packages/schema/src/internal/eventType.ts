import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type * as Envelope from "../Envelope.ts"
import type * as EventType from "../EventType.ts"
import * as compiled from "./compiled.ts"
import * as name from "./name.ts"

/** Key of the compiled codecs an event type carries. */
export const CodecId: unique symbol = Symbol.for("@hyvve/schema/EventType/Codec")

/**
 * Decoders and encoders compiled once per event type, so the per-event path only runs them. They are synchronous:
 * an `Exit` is also an `Effect`, so callers can yield the result or inspect it without running a fiber, which the
 * bus does for every event it reads.
 */
export interface Codec<out A> {
  /** Checks an in-memory (decoded) payload. */
  readonly validate: (payload: unknown) => Exit.Exit<A, Schema.SchemaError>
  /** Checks and encodes an in-memory payload to its JSON form. */
  readonly encode: (payload: unknown) => Exit.Exit<Schema.Json, Schema.SchemaError>
  /** Decodes the JSON form of the current version. */
  readonly decode: (data: unknown) => Exit.Exit<A, Schema.SchemaError>
  /** Decodes the JSON form of each previous version and migrates it to the current one, by version. */
  readonly upgrades: ReadonlyMap<string, (data: unknown) => Exit.Exit<A, Schema.SchemaError>>
}

/** Compiles the codec of an event type from its payload schema and its previous versions. */
export const compile = <P extends EventType.PayloadSchema>(
  payload: P,
  previous: ReadonlyArray<EventType.PreviousOptions<EventType.PayloadSchema, P>>
): Codec<P["Type"]> => {
  // `decodeUnknownExit(payload)` reads the schema's Encoded side, which is what a migration returns.
  // Every parser runs once per event published or read: compiled (`./compiled.ts`).
  const fromEncoded = Schema.decodeUnknownExit(compiled.forDecoding(payload), options)
  const json = Schema.toCodecJson(payload)
  return {
    validate: Schema.decodeUnknownExit(compiled.forDecoding(Schema.toType(payload)), options),
    encode: Schema.encodeUnknownExit(compiled.forEncoding(json), options),
    decode: Schema.decodeUnknownExit(compiled.forDecoding(json), options),
    upgrades: new Map(previous.map((old) => {
      const decodeOld = Schema.decodeUnknownExit(compiled.forDecoding(Schema.toCodecJson(old.payload)), options)
      return [old.version, (data: unknown) => {
        const decoded = decodeOld(data)
        return Exit.isSuccess(decoded) ? fromEncoded(old.migrate(decoded.value)) : decoded
      }]
    }))
  }
}

/**
 * Returns the codec of an event type, typed with its payload.
 *
 * TypeScript reads `E[typeof CodecId]` of a generic `E` through its constraint, `Codec<unknown>`. Every event type
 * is built by `make`, which pairs the codec with the event type's own payload schema, so the cast restores what
 * `make` established.
 */
export const codecOf = <E extends EventType.Any>(eventType: E): Codec<EventType.Payload<E>> =>
  eventType[CodecId] as Codec<EventType.Payload<E>>

/**
 * Assembles an envelope of an event type from a header and a payload of that event type.
 *
 * `Envelope<E>` distributes over a union `E`, which TypeScript cannot relate to the single object built here. The
 * object carries `eventType.type` and a payload decoded by `eventType`'s own schema, so it is the member of the
 * union whose name it carries; the cast states exactly that.
 */
export const envelope = <E extends EventType.Any>(
  eventType: E,
  header: Omit<Envelope.Header, "version">,
  data: EventType.Payload<E>
): Envelope.Envelope<E> =>
  ({ ...header, type: eventType.type, version: eventType.version, data }) as Envelope.Envelope<E>

/** Throws when an event type definition is invalid: these are programmer errors caught at module load. */
export const assertDefinition = (
  type: string,
  version: string,
  previous: ReadonlyArray<{ readonly version: string }>,
  aliases: ReadonlyArray<string>
): void => {
  const names = [type, ...aliases]
  for (const [index, n] of names.entries()) {
    if (!name.eventName.test(n)) {
      throw new globalThis.Error(
        `Invalid event type ${index === 0 ? "name" : "alias"} "${n}": expected dot-separated lowercase segments of a-z, 0-9 and _ (at least two, e.g. "approval.approved")`
      )
    }
    if (names.indexOf(n) !== index) throw new globalThis.Error(`Event type "${type}" declares the name "${n}" twice`)
  }
  const versions = [version, ...previous.map((old) => old.version)]
  for (const [index, v] of versions.entries()) {
    if (v === "") throw new globalThis.Error(`Event type "${type}" declares an empty version`)
    if (versions.indexOf(v) !== index) throw new globalThis.Error(`Event type "${type}" declares version "${v}" twice`)
  }
}

const options = { errors: "all" } as const
