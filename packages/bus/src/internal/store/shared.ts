/**
 * What both store backends compute the same way: coalescing delivery outcomes, building
 * causation trees, cursors, and reading an archived event off a stream entry.
 */
import { Envelope } from "@hyvve/schema"
import { Exit } from "effect"
import type * as DeliveryLog from "../../DeliveryLog.ts"
import type * as EventStore from "../../EventStore.ts"
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

/** A page cursor is the entry id of the page's last event. */
export const isCursor = (cursor: string): boolean => /^\d+-\d+$/.test(cursor)

/** Page sizes: 100 by default, between 1 and 1000. */
export const pageLimit = (limit: number | undefined): number =>
  Math.max(1, Math.min(1000, Math.floor(limit ?? 100)))

/**
 * Reads the event of a main-stream entry: its envelope header and encoded payload. Undefined when
 * the entry has no readable envelope (the consumers dead-letter those; the archive skips them).
 */
export const fromEntry = (entry: RedisStream.Entry): EventStore.StoredEvent | undefined => {
  const json = entry.fields["event"]
  if (json === undefined) return undefined
  const raw = Envelope.decodeJson(json)
  if (Exit.isFailure(raw)) return undefined
  const e = raw.value
  return {
    id: e.id,
    entryId: entry.id,
    type: e.type,
    version: e.version,
    source: e.source,
    tenantId: e.tenantId,
    userId: e.userId,
    correlationId: e.correlationId,
    ...(e.causationId === undefined ? {} : { causationId: e.causationId }),
    ...(e.traceparent === undefined ? {} : { traceparent: e.traceparent }),
    ...(e.replay === undefined ? {} : { replay: e.replay }),
    occurredAt: Date.parse(e.timestamp),
    data: e.data
  }
}

/** The envelope of JSON text, header validated, or undefined. */
export const decodeRaw = (json: string): Envelope.Raw | undefined => {
  const raw = Envelope.decodeJson(json)
  return Exit.isSuccess(raw) ? raw.value : undefined
}
