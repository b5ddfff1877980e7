/**
 * The event store contract, run on every backend (memory, PostgreSQL): the same inputs give the
 * same answers.
 */
import { assert, describe, it } from "@effect/vitest"
import type { DeliveryLog } from "@hyvve/bus"
import { EventStore } from "@hyvve/bus"
import { Effect, type Layer, Option } from "effect"

export const event = (
  seq: number,
  overrides: Partial<EventStore.StoredEvent> = {}
): EventStore.StoredEvent => ({
  id: `evt_${seq}`,
  entryId: `${1_700_000_000_000 + seq * 1000}-0`,
  type: "test.order_placed",
  version: "1.0",
  source: "test",
  tenantId: "tenant-a",
  userId: "user-1",
  correlationId: `cor_${seq}`,
  occurredAt: 1_700_000_000_000 + seq * 1000,
  data: { orderId: `order-${seq}`, seq, nested: { ok: true } },
  ...overrides
})

export const outcome = (
  eventId: string,
  group: string,
  status: DeliveryLog.Status,
  at: number,
  attempt = 1,
  error?: { readonly tag: string; readonly message: string }
): DeliveryLog.Outcome => ({
  status,
  group,
  stream: "s",
  entryId: "1-0",
  eventId,
  type: "test.order_placed",
  tenantId: "tenant-a",
  attempt,
  error,
  at
})

export const suite = (name: string, store: () => Layer.Layer<EventStore.EventStore>) =>
  describe(`EventStore contract (${name})`, () => {
    const withStore = <A, E>(f: (store: EventStore.EventStore["Service"]) => Effect.Effect<A, E>) =>
      EventStore.EventStore.use(f).pipe(Effect.provide(store()))

    it.effect("archives idempotently on the event id and reads an event back exactly", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const events = [
            event(1, { causationId: "evt_0", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }),
            event(2),
            event(3, { replay: { jobId: "rpl_1", originalEventId: "evt_0" } })
          ]
          assert.strictEqual(yield* store.archive(events), 3)
          assert.strictEqual(yield* store.archive([...events, event(4)]), 1)
          const found = yield* store.event("evt_1")
          assert.isTrue(Option.isSome(found))
          if (Option.isSome(found)) {
            assert.deepStrictEqual(found.value.event, events[0])
            assert.deepStrictEqual(found.value.deliveries, [])
          }
          const replayed = yield* store.event("evt_3")
          assert.deepStrictEqual(Option.map(replayed, (d) => d.event.replay), Option.some({ jobId: "rpl_1", originalEventId: "evt_0" }))
          assert.isTrue(Option.isNone(yield* store.event("evt_missing")))
        })
      ))

    it.effect("archives entries as read off the stream: the envelope parsed by the store, duplicates ignored, unreadable ones rejected", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const envelope = (id: string, extra: Record<string, unknown> = {}) =>
            JSON.stringify({
              id,
              type: "test.order_placed",
              source: "raw",
              timestamp: "2026-01-31T12:00:00.000Z",
              correlationId: "cor_raw",
              tenantId: "tenant-a",
              userId: "user-1",
              version: "1.0",
              data: { orderId: "o-1", lines: [{ sku: "a\"b", quantity: 2 }] },
              ...extra
            })
          const added = yield* store.archiveEntries([
            { entryId: "1700000000000-0", envelope: envelope("evt_r1") },
            { entryId: "1700000000000-1", envelope: envelope("evt_r2", { causationId: "evt_r1", replay: { jobId: "j", originalEventId: "evt_r0" } }) },
            { entryId: "1700000000001-0", envelope: envelope("evt_r1") }
          ])
          assert.strictEqual(added, 2)
          const found = yield* store.event("evt_r2")
          assert.deepStrictEqual(Option.map(found, (d) => d.event), Option.some<EventStore.StoredEvent>({
            id: "evt_r2",
            entryId: "1700000000000-1",
            type: "test.order_placed",
            version: "1.0",
            source: "raw",
            tenantId: "tenant-a",
            userId: "user-1",
            correlationId: "cor_raw",
            causationId: "evt_r1",
            replay: { jobId: "j", originalEventId: "evt_r0" },
            occurredAt: Date.parse("2026-01-31T12:00:00.000Z"),
            data: { orderId: "o-1", lines: [{ sku: "a\"b", quantity: 2 }] }
          }))
          for (const bad of ["{not json", JSON.stringify({ id: "evt_r3", type: "x" })]) {
            const error = yield* Effect.flip(store.archiveEntries([{ entryId: "1700000000002-0", envelope: bad }]))
            assert.strictEqual(error.kind, "Failed")
          }
          assert.strictEqual((yield* store.events({})).events.length, 2)
        })
      ))

    it.effect("folds delivery outcomes per event and group; the latest outcome wins, attempts and errors kept", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.archive([event(1)])
          yield* store.recordDeliveries([
            outcome("evt_1", "g1", "PROCESSING", 1_000, 1),
            outcome("evt_1", "g1", "FAILED", 1_100, 1, { tag: "Boom", message: "first" }),
            outcome("evt_1", "g2", "PROCESSING", 1_050, 1)
          ])
          yield* store.recordDeliveries([
            outcome("evt_1", "g1", "PROCESSING", 2_000, 2),
            outcome("evt_1", "g1", "COMPLETED", 2_100, 2),
            outcome("evt_1", "g2", "DLQ", 1_200, 1, { tag: "Poison", message: "bad" })
          ])
          // An outcome older than what is stored does not overwrite the status.
          yield* store.recordDeliveries([outcome("evt_1", "g1", "PROCESSING", 1_500, 1)])
          const detail = yield* store.event("evt_1")
          assert.isTrue(Option.isSome(detail))
          if (Option.isNone(detail)) return
          const [g1, g2] = detail.value.deliveries
          assert.deepStrictEqual(g1, {
            eventId: "evt_1",
            group: "g1",
            status: "COMPLETED",
            attempts: 2,
            type: "test.order_placed",
            tenantId: "tenant-a",
            errorTag: "Boom",
            errorMessage: "first",
            firstAttemptAt: 1_000,
            lastAttemptAt: 2_100,
            processedAt: 2_100
          })
          assert.strictEqual(g2?.status, "DLQ")
          assert.strictEqual(g2?.errorTag, "Poison")
          assert.strictEqual(g2?.processedAt, 1_200)
          assert.deepStrictEqual(yield* store.statusCounts(), [
            { group: "g1", status: "COMPLETED", count: 1 },
            { group: "g2", status: "DLQ", count: 1 }
          ])
          assert.deepStrictEqual(yield* store.statusCounts("g2"), [{ group: "g2", status: "DLQ", count: 1 }])
        })
      ))

    it.effect("filters exactly by tenant, types, pattern and time, in cursor pages that cover each event once", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const events = Array.from({ length: 25 }, (_, i) =>
            event(i, {
              tenantId: i % 2 === 0 ? "tenant-a" : "tenant-b",
              type: i % 3 === 0 ? "test.order_shipped" : i % 3 === 1 ? "test.order_placed" : "billing.invoice.paid"
            }))
          // Out of order on purpose: pages follow the stream order, not the insert order.
          yield* store.archive(events.slice(10))
          yield* store.archive(events.slice(0, 10))
          const all = (filter: EventStore.EventFilter, limit: number) =>
            Effect.gen(function*() {
              const out: Array<string> = []
              let cursor: string | undefined
              let pages = 0
              do {
                const page = yield* store.events(filter, { cursor, limit })
                out.push(...page.events.map((e) => e.id))
                cursor = page.next
                pages++
              } while (cursor !== undefined && pages < 100)
              return out
            })
          const ids = (keep: (e: EventStore.StoredEvent) => boolean) => events.filter(keep).map((e) => e.id)
          assert.deepStrictEqual(yield* all({}, 7), ids(() => true))
          assert.deepStrictEqual(yield* all({ tenantId: "tenant-b" }, 4), ids((e) => e.tenantId === "tenant-b"))
          assert.deepStrictEqual(yield* all({ types: ["test.order_shipped"] }, 3), ids((e) => e.type === "test.order_shipped"))
          assert.deepStrictEqual(yield* all({ pattern: "test.*" }, 5), ids((e) => e.type.startsWith("test.")))
          assert.deepStrictEqual(yield* all({ pattern: "**.paid" }, 5), ids((e) => e.type === "billing.invoice.paid"))
          assert.deepStrictEqual(yield* all({ pattern: "billing.**" }, 5), ids((e) => e.type === "billing.invoice.paid"))
          assert.deepStrictEqual(yield* all({ pattern: "*.invoice" }, 5), [])
          assert.deepStrictEqual(
            yield* all({ tenantId: "tenant-a", pattern: "test.**", from: events[4]!.occurredAt, to: events[20]!.occurredAt }, 2),
            ids((e) => e.tenantId === "tenant-a" && e.type.startsWith("test.") && e.occurredAt >= events[4]!.occurredAt && e.occurredAt <= events[20]!.occurredAt)
          )
          assert.deepStrictEqual(yield* all({ types: [] }, 5), [])
          const bad = yield* Effect.flip(store.events({ pattern: "a..b" }))
          assert.strictEqual(bad._tag, "InvalidPattern")
          const cursor = yield* Effect.flip(store.events({}, { cursor: "nonsense" }))
          assert.strictEqual(cursor._tag === "EventStoreError" ? cursor.kind : cursor._tag, "BadCursor")
        })
      ))

    it.effect("pages cover events of several streams that share entry ids, each once, whatever the page size", () =>
      withStore((store) =>
        Effect.gen(function*() {
          // Three streams number their entries independently: ids 1..4 ms, up to three events on one id.
          const at = (ms: number) => `${1_700_000_000_000 + ms}-0`
          const events = [
            event(1, { id: "evt_b1", entryId: at(1) }),
            event(2, { id: "evt_a1", entryId: at(1) }),
            event(3, { id: "evt_c1", entryId: at(1) }),
            event(4, { id: "evt_a2", entryId: at(2) }),
            event(5, { id: "evt_c3", entryId: at(3) }),
            event(6, { id: "evt_a3", entryId: at(3) }),
            event(7, { id: "evt_b4", entryId: at(4) })
          ]
          yield* store.archive(events)
          const expected = ["evt_a1", "evt_b1", "evt_c1", "evt_a2", "evt_a3", "evt_c3", "evt_b4"]
          for (const limit of [1, 2, 3, 4]) {
            const out: Array<string> = []
            let cursor: string | undefined
            let pages = 0
            do {
              const page = yield* store.events({}, { cursor, limit })
              out.push(...page.events.map((e) => e.id))
              cursor = page.next
              pages++
            } while (cursor !== undefined && pages < 20)
            assert.deepStrictEqual(out, expected, `page size ${limit}`)
          }
          // A bare entry id (the 0.2 cursor) still reads: everything after that id.
          const after = yield* store.events({}, { cursor: at(1) })
          assert.deepStrictEqual(after.events.map((e) => e.id), expected.slice(3))
          const bad = yield* Effect.flip(store.events({}, { cursor: `${at(1)}:` }))
          assert.strictEqual(bad._tag === "EventStoreError" ? bad.kind : bad._tag, "BadCursor")
        })
      ))

    it.effect("scans a position range after a cursor, bounded and filtered (the archive side of a replay)", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const events = Array.from({ length: 10 }, (_, i) => event(i, { tenantId: i < 5 ? "tenant-a" : "tenant-b" }))
          yield* store.archive(events)
          const first = yield* store.scan({ filter: {}, after: events[1]!.entryId, through: events[8]!.entryId, limit: 3 })
          assert.deepStrictEqual(first.map((e) => e.id), ["evt_2", "evt_3", "evt_4"])
          const rest = yield* store.scan({ filter: { tenantId: "tenant-b" }, after: "0-0", through: events[8]!.entryId, limit: 100 })
          assert.deepStrictEqual(rest.map((e) => e.id), ["evt_5", "evt_6", "evt_7", "evt_8"])
        })
      ))

    it.effect("scanMarked returns each event's envelope with the replay marker, in the envelope's field order", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const plain = event(1, { data: { text: "line\nbreak \"quoted\" ünï", n: 1.5, list: [1, null, true] } })
          const replayed = event(2, { causationId: "evt_1", traceparent: "00-abc-def-01", replay: { jobId: "old", originalEventId: "evt_0" } })
          const other = event(3, { tenantId: "tenant-b" })
          yield* store.archive([plain, replayed, other])
          const marked = yield* store.scanMarked({ filter: { tenantId: "tenant-a" }, after: "0-0", through: other.entryId, limit: 10, jobId: "rpl_1" })
          assert.deepStrictEqual(marked.map((m) => [m.entryId, m.id, m.type, m.tenantId]), [
            [plain.entryId, "evt_1", "test.order_placed", "tenant-a"],
            [replayed.entryId, "evt_2", "test.order_placed", "tenant-a"]
          ])
          const keysOf = (json: string) => Object.keys(JSON.parse(json) as object)
          assert.deepStrictEqual(keysOf(marked[0]!.json), ["id", "type", "source", "timestamp", "correlationId", "tenantId", "userId", "version", "data", "replay"])
          assert.deepStrictEqual(keysOf(marked[1]!.json), [
            "id", "type", "source", "timestamp", "correlationId", "tenantId", "userId", "version", "data", "causationId", "traceparent", "replay"
          ])
          const header = (e: EventStore.StoredEvent) => ({
            id: e.id,
            type: e.type,
            source: e.source,
            timestamp: new Date(e.occurredAt).toISOString(),
            correlationId: e.correlationId,
            tenantId: e.tenantId,
            userId: e.userId,
            version: e.version,
            data: e.data
          })
          assert.deepStrictEqual(JSON.parse(marked[0]!.json), { ...header(plain), replay: { jobId: "rpl_1", originalEventId: "evt_1" } })
          assert.deepStrictEqual(JSON.parse(marked[1]!.json), {
            ...header(replayed),
            causationId: "evt_1",
            traceparent: "00-abc-def-01",
            replay: { jobId: "rpl_1", originalEventId: "evt_0" }
          })
          assert.isFalse(marked.some((m) => m.json.includes("\n")))
          const bounded = yield* store.scanMarked({ filter: {}, after: plain.entryId, through: other.entryId, limit: 1, jobId: "rpl_1" })
          assert.deepStrictEqual(bounded.map((m) => m.id), ["evt_2"])
        })
      ))

    it.effect("traces a correlation id as causation trees with each event's deliveries", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const root = event(1, { correlationId: "cor_x" })
          const child = event(2, { correlationId: "cor_x", causationId: "evt_1", type: "test.order_shipped" })
          const sibling = event(3, { correlationId: "cor_x", causationId: "evt_1" })
          const grandchild = event(4, { correlationId: "cor_x", causationId: "evt_2" })
          const other = event(5, { correlationId: "cor_y" })
          yield* store.archive([grandchild, other, sibling, child, root])
          yield* store.recordDeliveries([outcome("evt_2", "shipping", "COMPLETED", 5_000)])
          const trace = yield* store.trace("cor_x")
          assert.strictEqual(trace.size, 4)
          const shape = (n: EventStore.TraceNode): unknown => ({
            id: n.event.id,
            groups: n.deliveries.map((d) => `${d.group}:${d.status}`),
            children: n.children.map(shape)
          })
          assert.deepStrictEqual(trace.roots.map(shape), [{
            id: "evt_1",
            groups: [],
            children: [
              { id: "evt_2", groups: ["shipping:COMPLETED"], children: [{ id: "evt_4", groups: [], children: [] }] },
              { id: "evt_3", groups: [], children: [] }
            ]
          }])
          assert.deepStrictEqual((yield* store.trace("cor_none")).roots, [])
        })
      ))

    it.effect("keeps replay jobs, the audit log, gaps and the archiver's state", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.jobs.insert({ id: "j1", status: "pending", createdAt: 1_000, document: { a: 1 } })
          yield* store.jobs.insert({ id: "j2", status: "running", createdAt: 2_000, document: { b: [1, 2] } })
          const dup = yield* Effect.flip(store.jobs.insert({ id: "j1", status: "pending", createdAt: 1, document: {} }))
          assert.strictEqual(dup.kind, "Failed")
          yield* store.jobs.update({ id: "j1", status: "completed", createdAt: 1_000, document: { a: 2 } })
          assert.deepStrictEqual(yield* store.jobs.get("j1"), Option.some({ id: "j1", status: "completed", createdAt: 1_000, document: { a: 2 } }))
          assert.deepStrictEqual((yield* store.jobs.list(10)).map((j) => j.id), ["j2", "j1"])
          assert.isTrue(Option.isNone(yield* store.jobs.get("nope")))
          yield* store.audit({ at: 1_000, actor: "ops", action: "replay.start", subject: "j1", details: { types: ["x"] } })
          yield* store.audit({ at: 2_000, actor: "ops", action: "replay.cancel", subject: "j1", details: {} })
          yield* store.audit({ at: 3_000, actor: "ops", action: "replay.start", subject: "j2", details: {} })
          assert.deepStrictEqual((yield* store.auditLog({ subject: "j1" })).map((a) => a.action), ["replay.cancel", "replay.start"])
          assert.deepStrictEqual((yield* store.auditLog({ subject: "j1" }))[1], {
            at: 1_000,
            actor: "ops",
            action: "replay.start",
            subject: "j1",
            details: { types: ["x"] }
          })
          yield* store.recordGap({ stream: "s", afterEntryId: "1-0", beforeEntryId: "9-0", detectedAt: 10_000 })
          assert.deepStrictEqual(yield* store.gaps, [{ stream: "s", afterEntryId: "1-0", beforeEntryId: "9-0", detectedAt: 10_000 }])
          assert.isUndefined(yield* store.archiverState("s"))
          yield* store.saveArchiverState("s", 5_000)
          yield* store.saveArchiverState("s", 4_000)
          assert.deepStrictEqual(yield* store.archiverState("s"), { caughtUpAt: 5_000 })
        })
      ))
  })
