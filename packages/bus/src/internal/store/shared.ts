/**
 * What both store backends compute the same way: coalescing delivery outcomes, building
 * causation trees, cursors, and reading an archived event off a stream entry.
 */
import { Envelope } from "@hyvve/schema"
import { Exit } from "effect"
import type * as DeliveryLog from "../../DeliveryLog.ts"
import * as EventStore from "../../EventStore.ts"
import type * as RedisStream from "../../RedisStream.ts"

/** Outcomes without an event id (undecodable entries) are kept per entry. */
export const deliveryKey = (outcome: DeliveryLog.Outcome): string => outcome.eventId ?? `entry:${outcome.entryId}`

/** One delivery row to upsert: a batch's outcomes of one (event, group), folded in order. */
export interface DeliveryRow {
  readonly eventId: string
  readonly group: string
  status: EventStore.DeliveryStatus
  attempts: number
  type: string | undefined
  tenantId: string | undefined
  errorTag: string | undefined
  errorMessage: string | undefined
  firstAt: number
  lastAt: number
  processedAt: number | undefined
}

/** The row of a delivery a replay queued for `group` and nobody handled yet. */
export const pendingRow = (group: string, event: Pick<EventStore.StoredEvent, "id" | "type" | "tenantId">, at: number): DeliveryRow => ({
  eventId: event.id,
  group,
  status: "PENDING",
  attempts: 0,
  type: event.type,
  tenantId: event.tenantId,
  errorTag: undefined,
  errorMessage: undefined,
  firstAt: at,
  lastAt: at,
  processedAt: undefined
})

/** Folds outcomes (in arrival order) into one row per (event, group); the later outcome wins. */
export const coalesce = (outcomes: ReadonlyArray<DeliveryLog.Outcome>): ReadonlyArray<DeliveryRow> => {
  const rows = new Map<string, DeliveryRow>()
  for (const o of outcomes) {
    const eventId = deliveryKey(o)
    const key = `${o.group}\u0000${eventId}`
    const processedAt = o.status === "COMPLETED" || o.status === "DLQ" ? o.at : undefined
    const row = rows.get(key)
    if (row === undefined) {
      rows.set(key, {
        eventId,
        group: o.group,
        status: o.status,
        attempts: o.attempt,
        type: o.type,
        tenantId: o.tenantId,
        errorTag: o.error?.tag,
        errorMessage: o.error?.message,
        firstAt: o.at,
        lastAt: o.at,
        processedAt
      })
      continue
    }
    if (o.at >= row.lastAt) {
      row.status = o.status
      row.lastAt = o.at
    }
    row.firstAt = Math.min(row.firstAt, o.at)
    row.attempts = Math.max(row.attempts, o.attempt)
    row.type ??= o.type
    row.tenantId ??= o.tenantId
    if (o.error !== undefined) {
      row.errorTag = o.error.tag
      row.errorMessage = o.error.message
    }
    if (processedAt !== undefined) row.processedAt = Math.max(row.processedAt ?? 0, processedAt)
  }
  return Array.from(rows.values())
}

/** Builds the causation trees of one correlation id's events (given in stream order). */
export const buildTrace = (
  correlationId: string,
  events: ReadonlyArray<EventStore.StoredEvent>,
  deliveries: ReadonlyArray<EventStore.Delivery>
): EventStore.Trace => {
  const byEvent = new Map<string, Array<EventStore.Delivery>>()
  for (const d of deliveries) {
    const list = byEvent.get(d.eventId)
    if (list === undefined) byEvent.set(d.eventId, [d])
    else list.push(d)
  }
  const ids = new Set(events.map((e) => e.id))
  const children = new Map<string, Array<EventStore.StoredEvent>>()
  const roots: Array<EventStore.StoredEvent> = []
  for (const e of events) {
    if (e.causationId !== undefined && e.causationId !== e.id && ids.has(e.causationId)) {
      const list = children.get(e.causationId)
      if (list === undefined) children.set(e.causationId, [e])
      else list.push(e)
    } else roots.push(e)
  }
  // Iterative, so a deep chain cannot overflow the stack; `seen` guards against cycles.
  const seen = new Set<string>()
  const node = (e: EventStore.StoredEvent): EventStore.TraceNode => {
    seen.add(e.id)
    const kids = (children.get(e.id) ?? []).filter((k) => !seen.has(k.id))
    return { event: e, deliveries: byEvent.get(e.id) ?? [], children: kids.map(node) }
  }
  return { correlationId, roots: roots.map(node), size: events.length }
}

/**
 * A page cursor: `<entryId>:<eventId>` of the page's last event. Events are paged in the order
 * (entry id, event id): entry ids alone are unique within one stream only (the streams of a
 * multi-stream topology number their entries independently), so a page ending on one of two
 * events sharing an entry id would otherwise skip the other. A bare `<entryId>` (the 0.2 form)
 * still reads: everything after that entry id.
 */
export interface PageCursor {
  readonly entryId: string
  readonly eventId: string | undefined
}

/** Parses a page cursor, or `undefined` when it is not one. */
export const parseCursor = (cursor: string): PageCursor | undefined => {
  const match = /^(\d+-\d+)(?::(.+))?$/s.exec(cursor)
  return match === null ? undefined : { entryId: match[1]!, eventId: match[2] }
}

/** The cursor of the page that ends on `event`. */
export const cursorAfter = (event: Pick<EventStore.StoredEvent, "entryId" | "id">): string => `${event.entryId}:${event.id}`

/** The page order: entry id, then event id (ties are events of several streams). */
export const comparePageOrder = (
  a: Pick<EventStore.StoredEvent, "entryId" | "id">,
  b: Pick<EventStore.StoredEvent, "entryId" | "id">
): number => EventStore.compareEntryIds(a.entryId, b.entryId) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** Whether `event` comes after `cursor` in the page order. */
export const isAfter = (event: Pick<EventStore.StoredEvent, "entryId" | "id">, cursor: PageCursor): boolean => {
  const byEntry = EventStore.compareEntryIds(event.entryId, cursor.entryId)
  return byEntry > 0 || (byEntry === 0 && cursor.eventId !== undefined && event.id > cursor.eventId)
}

/** Page sizes: 100 by default, between 1 and 1000. */
export const pageLimit = (limit: number | undefined): number =>
  Math.max(1, Math.min(1000, Math.floor(limit ?? 100)))

/** An entry's envelope, parsed once: the object as published and the event as archived. */
export interface Parsed {
  readonly object: object
  readonly event: EventStore.StoredEvent
}

const text = (o: object, key: string): string | undefined => {
  const value: unknown = Reflect.get(o, key)
  return typeof value === "string" ? value : undefined
}

/**
 * Reads the envelope of a main-stream entry with one `JSON.parse`: the header fields must be
 * present and strings and the timestamp a date (the consumers validate every format when they
 * decode; the archiver and replay only need the fields, and run for every event). Undefined when
 * the entry has no readable envelope (the consumers dead-letter those).
 */
export const parseEntry = (entry: RedisStream.Entry): Parsed | undefined => {
  const json = entry.fields["event"]
  if (json === undefined) return undefined
  let object: unknown
  try {
    object = JSON.parse(json)
  } catch {
    return undefined
  }
  if (typeof object !== "object" || object === null || Array.isArray(object)) return undefined
  const id = text(object, "id")
  const type = text(object, "type")
  const version = text(object, "version")
  const source = text(object, "source")
  const tenantId = text(object, "tenantId")
  const userId = text(object, "userId")
  const correlationId = text(object, "correlationId")
  const timestamp = text(object, "timestamp")
  const occurredAt = timestamp === undefined ? Number.NaN : Date.parse(timestamp)
  if (
    id === undefined || type === undefined || version === undefined || source === undefined ||
    tenantId === undefined || userId === undefined || correlationId === undefined || !Number.isFinite(occurredAt)
  ) return undefined
  const causationId = text(object, "causationId")
  const traceparent = text(object, "traceparent")
  const replay: unknown = Reflect.get(object, "replay")
  const jobId = typeof replay === "object" && replay !== null ? text(replay, "jobId") : undefined
  const originalEventId = typeof replay === "object" && replay !== null ? text(replay, "originalEventId") : undefined
  return {
    object,
    event: {
      id,
      entryId: entry.id,
      type,
      version,
      source,
      tenantId,
      userId,
      correlationId,
      ...(causationId === undefined ? {} : { causationId }),
      ...(traceparent === undefined ? {} : { traceparent }),
      ...(jobId === undefined || originalEventId === undefined ? {} : { replay: { jobId, originalEventId } }),
      occurredAt,
      data: Reflect.get(object, "data") ?? null
    }
  }
}

/** The event of a main-stream entry (see `parseEntry`). */
export const fromEntry = (entry: RedisStream.Entry): EventStore.StoredEvent | undefined => parseEntry(entry)?.event

/** The envelope of JSON text, header validated, or undefined. */
export const decodeRaw = (json: string): Envelope.Raw | undefined => {
  const raw = Envelope.decodeJson(json)
  return Exit.isSuccess(raw) ? raw.value : undefined
}

/**
 * An archived event's envelope JSON with the replay marker of `jobId` set, in the envelope's
 * field order (what PostgreSQL builds for `scanMarked`).
 */
export const markedEnvelope = (event: EventStore.StoredEvent, jobId: string): string =>
  JSON.stringify({
    id: event.id,
    type: event.type,
    source: event.source,
    timestamp: new Date(event.occurredAt).toISOString(),
    correlationId: event.correlationId,
    tenantId: event.tenantId,
    userId: event.userId,
    version: event.version,
    data: event.data,
    ...(event.causationId === undefined ? {} : { causationId: event.causationId }),
    ...(event.traceparent === undefined ? {} : { traceparent: event.traceparent }),
    replay: { jobId, originalEventId: event.replay?.originalEventId ?? event.id }
  })
