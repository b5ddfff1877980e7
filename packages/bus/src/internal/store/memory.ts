/**
 * The in-memory event store: the same semantics as the PostgreSQL store, for unit tests. Time
 * comes from `Clock` (through the callers' timestamps), so `TestClock` drives everything. A test
 * can make it unavailable to show that the archiver and the status writer back off and catch up.
 */
import { Effect, Option } from "effect"
import * as EventStore from "../../EventStore.ts"
import * as Shared from "./shared.ts"

export const make = () => {
  let available = true
  const events = new Map<string, EventStore.StoredEvent>()
  // Page order: events sorted by entry id, then event id (inserted mostly in order; sorted lazily).
  let ordered: Array<EventStore.StoredEvent> = []
  let sorted = true
  const deliveries = new Map<string, EventStore.Delivery>()
  const gaps: Array<EventStore.Gap> = []
  const archiver = new Map<string, number>()
  const auditLog: Array<EventStore.AuditEntry> = []
  const jobs = new Map<string, EventStore.JobRecord>()

  const guard = <A, E>(operation: string, f: () => Effect.Effect<A, E>): Effect.Effect<A, E | EventStore.EventStoreError> =>
    // Checked when the effect runs, so a retried operation sees the store come back.
    Effect.suspend((): Effect.Effect<A, E | EventStore.EventStoreError> =>
      available ?
        f() :
        Effect.fail(new EventStore.EventStoreError({ operation, kind: "Unavailable", detail: "the in-memory store is down" }))
    )

  const inOrder = () => {
    if (!sorted) {
      ordered.sort(Shared.comparePageOrder)
      sorted = true
    }
    return ordered
  }

  const scan = (filter: EventStore.EventFilter, after: string, through: string, limit: number) =>
    Effect.map(select(filter), (keep) => {
      const out: Array<EventStore.StoredEvent> = []
      for (const e of inOrder()) {
        if (EventStore.compareEntryIds(e.entryId, after) <= 0) continue
        if (EventStore.compareEntryIds(e.entryId, through) > 0 || out.length >= limit) break
        if (keep(e)) out.push(e)
      }
      return out
    })

  const add = (batch: ReadonlyArray<EventStore.StoredEvent>): number => {
    let added = 0
    for (const e of batch) {
      if (events.has(e.id)) continue
      const last = ordered[ordered.length - 1]
      if (last !== undefined && Shared.comparePageOrder(last, e) > 0) sorted = false
      events.set(e.id, e)
      ordered.push(e)
      added++
    }
    return added
  }

  const deliveriesOf = (eventId: string) =>
    Array.from(deliveries.values()).filter((d) => d.eventId === eventId).sort((a, b) => a.group < b.group ? -1 : 1)

  const select = (filter: EventStore.EventFilter) =>
    Effect.map(EventStore.typeMatcher(filter), (matches) => (e: EventStore.StoredEvent) =>
      matches(e.type) &&
      (filter.tenantId === undefined || e.tenantId === filter.tenantId) &&
      (filter.from === undefined || e.occurredAt >= filter.from) &&
      (filter.to === undefined || e.occurredAt <= filter.to))

  const upsert = (row: Shared.DeliveryRow) => {
    const key = `${row.group}\u0000${row.eventId}`
    const old = deliveries.get(key)
    const later = old === undefined || row.lastAt >= old.lastAttemptAt
    const processedAt = Math.max(old?.processedAt ?? 0, row.processedAt ?? 0)
    const errorTag = row.errorTag ?? old?.errorTag
    const errorMessage = row.errorMessage ?? old?.errorMessage
    const type = row.type ?? old?.type
    const tenantId = row.tenantId ?? old?.tenantId
    deliveries.set(key, {
      eventId: row.eventId,
      group: row.group,
      status: later ? row.status : old.status,
      attempts: Math.max(row.attempts, old?.attempts ?? 0),
      ...(type === undefined ? {} : { type }),
      ...(tenantId === undefined ? {} : { tenantId }),
      ...(errorTag === undefined ? {} : { errorTag }),
      ...(errorMessage === undefined ? {} : { errorMessage }),
      firstAttemptAt: Math.min(row.firstAt, old?.firstAttemptAt ?? row.firstAt),
      lastAttemptAt: Math.max(row.lastAt, old?.lastAttemptAt ?? row.lastAt),
      ...(processedAt > 0 ? { processedAt } : {})
    })
  }

  const service: EventStore.EventStore["Service"] = {
    backend: "memory",
    archive: (batch) => guard("archive", () => Effect.sync(() => add(batch))),
    archiveEntries: (entries) =>
      guard("archiveEntries", () => {
        const batch: Array<EventStore.StoredEvent> = []
        for (const { entryId, envelope } of entries) {
          const event = Shared.fromEntry({ key: "", id: entryId, fields: { event: envelope } })
          if (event === undefined) {
            return Effect.fail(
              new EventStore.EventStoreError({ operation: "archiveEntries", kind: "Failed", detail: `unreadable envelope at ${entryId}` })
            )
          }
          batch.push(event)
        }
        return Effect.sync(() => add(batch))
      }),
    recordDeliveries: (outcomes) =>
      guard("recordDeliveries", () => Effect.sync(() => Shared.coalesce(outcomes).forEach(upsert))),
    recordPending: (group, batch, at) =>
      guard("recordPending", () =>
        Effect.sync(() => {
          for (const e of batch) upsert(Shared.pendingRow(group, e, at))
        })),
    recordGap: (gap) => guard("recordGap", () => Effect.sync(() => void gaps.push(gap))),
    archiverState: (stream) =>
      guard("archiverState", () =>
        Effect.sync(() => {
          const caughtUpAt = archiver.get(stream)
          return caughtUpAt === undefined ? undefined : { caughtUpAt }
        })),
    saveArchiverState: (stream, caughtUpAt) =>
      guard("saveArchiverState", () =>
        Effect.sync(() => void archiver.set(stream, Math.max(caughtUpAt, archiver.get(stream) ?? caughtUpAt)))),
    event: (id) =>
      guard("event", () =>
        Effect.sync(() => {
          const event = events.get(id)
          return event === undefined ? Option.none() : Option.some({ event, deliveries: deliveriesOf(id) })
        })),
    trace: (correlationId) =>
      guard("trace", () =>
        Effect.sync(() => {
          const found = inOrder().filter((e) => e.correlationId === correlationId)
          return Shared.buildTrace(correlationId, found, found.flatMap((e) => deliveriesOf(e.id)))
        })),
    events: (filter, page) =>
      guard("events", () =>
        Effect.gen(function*() {
          const cursor = page?.cursor === undefined ? undefined : Shared.parseCursor(page.cursor)
          if (page?.cursor !== undefined && cursor === undefined) {
            return yield* new EventStore.EventStoreError({ operation: "events", kind: "BadCursor", detail: page.cursor })
          }
          const limit = Shared.pageLimit(page?.limit)
          const keep = yield* select(filter)
          const out: Array<EventStore.StoredEvent> = []
          for (const e of inOrder()) {
            if (cursor !== undefined && !Shared.isAfter(e, cursor)) continue
            if (!keep(e)) continue
            if (out.length === limit) return { events: out, next: Shared.cursorAfter(out[out.length - 1]!) }
            out.push(e)
          }
          return { events: out, next: undefined }
        })),
    scan: ({ after, filter, limit, through }) => guard("scan", () => scan(filter, after, through, limit)),
    scanMarked: ({ after, filter, jobId, limit, through }) =>
      guard("scanMarked", () =>
        Effect.map(scan(filter, after, through, limit), (events) =>
          events.map((e) => ({ entryId: e.entryId, id: e.id, type: e.type, tenantId: e.tenantId, json: Shared.markedEnvelope(e, jobId) })))),
    statusCounts: (group) =>
      guard("statusCounts", () =>
        Effect.sync(() => {
          const counts = new Map<string, EventStore.StatusCount>()
          for (const d of deliveries.values()) {
            if (group !== undefined && d.group !== group) continue
            const key = `${d.group}\u0000${d.status}`
            const old = counts.get(key)
            counts.set(key, { group: d.group, status: d.status, count: (old?.count ?? 0) + 1 })
          }
          return Array.from(counts.values()).sort((a, b) =>
            a.group === b.group ? (a.status < b.status ? -1 : 1) : a.group < b.group ? -1 : 1
          )
        })),
    gaps: guard("gaps", () => Effect.sync(() => gaps.slice())),
    audit: (entry) => guard("audit", () => Effect.sync(() => void auditLog.push(entry))),
    auditLog: (options) =>
      guard("auditLog", () =>
        Effect.sync(() =>
          auditLog.filter((a) => options?.subject === undefined || a.subject === options.subject).reverse().slice(
            0,
            options?.limit ?? 100
          )
        )),
    jobs: {
      insert: (job) =>
        guard("jobs.insert", () =>
          jobs.has(job.id) ?
            Effect.fail(new EventStore.EventStoreError({ operation: "jobs.insert", kind: "Failed", detail: `job ${job.id} exists` })) :
            Effect.sync(() => void jobs.set(job.id, job))),
      update: (job) => guard("jobs.update", () => Effect.sync(() => void jobs.set(job.id, job))),
      get: (id) => guard("jobs.get", () => Effect.sync(() => Option.fromUndefinedOr(jobs.get(id)))),
      list: (limit) =>
        guard("jobs.list", () =>
          Effect.sync(() => Array.from(jobs.values()).sort((a, b) => b.createdAt - a.createdAt).slice(0, limit)))
    }
  }

  return {
    service,
    setAvailable: (up: boolean) => {
      available = up
    },
    snapshot: () => ({ events: events.size, deliveries: deliveries.size }),
    /** Test helper: all events in stream order. */
    all: () => inOrder().slice(),
    clear: () => {
      events.clear()
      ordered = []
    }
  }
}
