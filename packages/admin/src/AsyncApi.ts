/**
 * The AsyncAPI 3 document of the bus (`GET /asyncapi.json`), generated from the catalog's
 * Schemas: one channel (the main stream), one message per event type whose payload is the JSON
 * Schema (draft-07) of its envelope, with the event's aliases and current version, and the
 * payload schemas of its previous versions (`x-previous-versions`). Shared definitions live in
 * `components.schemas`.
 *
 * @since 0.1.0
 */
import { Envelope, type Catalog, type EventType } from "@hyvve/schema"
import { JsonSchema, Schema } from "effect"

// `$ref`s of a draft-07 document point at its `definitions`; in the AsyncAPI document they live in
// `components.schemas`.
const relocate = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(relocate)
  if (typeof value !== "object" || value === null) return value
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) {
    out[key] = key === "$ref" && typeof field === "string"
      ? field.replace(/^#\/definitions\//, "#/components/schemas/")
      : relocate(field)
  }
  return out
}

const messageKey = (name: string) => name.replace(/[^\w.-]/g, "_")

/**
 * Builds the document for `catalog` on the stream `address`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  catalog: Catalog.Catalog<EventType.Any>,
  options: { readonly address: string; readonly title?: string | undefined; readonly version?: string | undefined }
): Record<string, unknown> => {
  const schemas: Record<string, unknown> = {}
  const messages: Record<string, unknown> = {}
  for (const eventType of catalog.events) {
    const document = JsonSchema.toDocumentDraft07(Envelope.jsonSchema(eventType))
    for (const [name, definition] of Object.entries(document.definitions)) schemas[name] = relocate(definition)
    const previous = eventType.previous.map((version) => {
      const payload = JsonSchema.toDocumentDraft07(Schema.toJsonSchemaDocument(version.payload))
      for (const [name, definition] of Object.entries(payload.definitions)) schemas[name] = relocate(definition)
      return { version: version.version, payload: relocate(payload.schema) }
    })
    messages[messageKey(eventType.type)] = {
      name: eventType.type,
      title: eventType.type,
      ...(eventType.description === undefined ? {} : { summary: eventType.description }),
      contentType: "application/json",
      payload: relocate(document.schema),
      "x-version": eventType.version,
      "x-aliases": eventType.aliases,
      ...(previous.length === 0 ? {} : { "x-previous-versions": previous })
    }
  }
  const refs = Object.fromEntries(Object.keys(messages).map((key) => [key, { $ref: `#/components/messages/${key}` }]))
  return {
    asyncapi: "3.0.0",
    info: {
      title: options.title ?? "HYVVE event bus",
      version: options.version ?? "0.1.0",
      description: "Events on the HYVVE bus: a Redis stream whose entries carry the envelope JSON in the field `event`."
    },
    defaultContentType: "application/json",
    channels: { events: { address: options.address, messages: refs } },
    operations: {
      publishEvents: {
        action: "send",
        channel: { $ref: "#/channels/events" },
        messages: Object.keys(refs).map((key) => ({ $ref: `#/channels/events/messages/${key}` }))
      },
      consumeEvents: {
        action: "receive",
        channel: { $ref: "#/channels/events" },
        messages: Object.keys(refs).map((key) => ({ $ref: `#/channels/events/messages/${key}` }))
      }
    },
    components: { schemas, messages }
  }
}
