/**
 * Wire compatibility with the NestJS bus, on the real Redis, by playing its side exactly as the
 * seeds' code reads and writes (see `fixtures/NestJS.ts`): both run on one stream.
 *
 * - NestJS → us: raw `XADD <stream> MAXLEN ~ 2600000 * event <json>` entries (only the `event`
 *   field) with and without `correlationId`, replays with `data.__replay`, and the seeds' event
 *   names (aliases), consumed by typed and pattern subscriptions.
 * - us → NestJS: what `publish` and `publishBatch` append, read with `XREADGROUP` and
 *   `JSON.parse(fields[1])`, and replayed by the seeds' replay processor back to us.
 *
 * - The dead-letter queue both ways: our entries read by the seed dashboard by position
 *   (`fields[1]` event, `fields[3]` error text, `fields[5]` movedAt), and entries the seed
 *   `moveToDLQ` wrote listed, counted, filtered, re-driven to a named group and purged by ours.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, Dlq, EventBus, Keys, Publisher, RedisStream, Retry } from "@hyvve/bus"
import {
  AgentCompleted,
  AgentConfirmationRequested,
  ApprovalApproved,
  ApprovalRequested,
  type Envelope,
  type EventType
} from "@hyvve/schema"
import { type Context, Effect, Layer, Queue, type Scope } from "effect"
import * as NestJS from "./fixtures/NestJS.ts"
import { redisUrl, uniquePrefix } from "./utils/TestEnv.ts"

const approved = { approvalId: "apr_1", decidedById: "usr_7", decision: "approved" } as const
const seedContext = { tenantId: "ws_1", userId: "usr_7" }

// A bus over the real Redis under a fresh prefix, with the NestJS side's connection and the
// main stream both use; every key is deleted afterwards.
const setup = (label: string) =>
  Effect.gen(function*() {
    const prefix = uniquePrefix(label)
    const seed = yield* NestJS.connect
    yield* Effect.addFinalizer(() => NestJS.deleteKeys(seed, prefix))
    const bus = EventBus.layer({
      redis: RedisStream.options(redisUrl, `nestjs-${label}`),
      bus: { prefix, block: "200 millis", retryPoll: "50 millis" }
    })
    const context = yield* Layer.build(bus)
    return { prefix, seed, stream: `${prefix}:events:main`, context }
  })

// Starts a handler that offers every event it receives to a queue; returns the queue.
const collect = (
  context: Context.Context<EventBus.Services>,
  start: (received: Queue.Queue<Envelope.Envelope<EventType.Any>>) => Effect.Effect<void, unknown, Consumer.Consumer | Scope.Scope>
) =>
  Effect.gen(function*() {
    const received = yield* Queue.unbounded<Envelope.Envelope<EventType.Any>>()
    yield* start(received).pipe(Effect.provideContext(context))
    return { received, take: (n: number) => takeN(received, n) }
  })

// Waits for `n` handled events (the handler's own effect), failing after 15 s.
const takeN = (queue: Queue.Queue<Envelope.Envelope<EventType.Any>>, n: number) =>
  Effect.forEach(Array.from({ length: n }), () => Queue.take(queue)).pipe(
    Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die(new Error(`fewer than ${n} events handled`)) })
  )

const offer = (queue: Queue.Queue<Envelope.Envelope<EventType.Any>>) => (event: Envelope.Envelope<EventType.Any>) =>
  Queue.offer(queue, event).pipe(Effect.asVoid)

describe("NestJS bus → this bus", () => {
  it.live("an entry with only the event field, with and without correlationId, is handled", () =>
    Effect.gen(function*() {
      const { context, seed, stream } = yield* setup("seed-publish")
      const { take } = yield* collect(context, (q) => Consumer.handle(ApprovalApproved, offer(q), { group: "approvals" }))
      const withCorrelation = yield* NestJS.publish(seed, stream, "approval.approved", approved, { ...seedContext, correlationId: "req_1" })
      const without = yield* NestJS.publish(seed, stream, "approval.approved", approved, seedContext, { withoutCorrelation: true })

      const [first, second] = yield* take(2)
      assert.deepStrictEqual<unknown>(first, {
        ...withCorrelation.event,
        correlationId: "req_1",
        type: "approval.approved",
        data: approved
      })
      assert.strictEqual(second?.id, without.event.id)
      assert.strictEqual(second?.correlationId, without.event.id, "a missing correlationId defaults to the event id")
      assert.isUndefined(second?.replay)
    }))

  it.live("the seeds' names are aliases: typed and pattern subscriptions receive them as our event types", () =>
    Effect.gen(function*() {
      const { context, seed, stream } = yield* setup("seed-aliases")
      const typed = yield* collect(context, (q) => Consumer.handle(ApprovalApproved, offer(q), { group: "typed" }))
      const pattern = yield* collect(context, (q) => Consumer.handle("approval.*", offer(q), { group: "pattern" }))
      const agents = yield* collect(context, (q) => Consumer.handle("agent.**", offer(q), { group: "agents" }))
      yield* NestJS.publish(seed, stream, "approval.granted", approved, seedContext)
      yield* NestJS.publish(seed, stream, "approval.item.approved", approved, seedContext)
      yield* NestJS.publish(seed, stream, "approval.created", { approvalId: "apr_2", workspaceId: "ws_1", requestedById: "usr_1", kind: "content" }, seedContext)
      yield* NestJS.publish(seed, stream, "agent.run.completed", { runId: "run_1", agentId: "agt_1", durationMs: 5, outcome: "success" }, seedContext)
      yield* NestJS.publish(seed, stream, "agent.confirmation.requested", { runId: "run_1", agentId: "agt_1", confirmationId: "cf_1", action: "send" }, seedContext)

      const typedEvents = yield* typed.take(2)
      assert.deepStrictEqual(typedEvents.map((e) => e.type), ["approval.approved", "approval.approved"])
      const patternEvents = yield* pattern.take(3)
      assert.deepStrictEqual(patternEvents.map((e) => e.type), [ApprovalApproved.type, ApprovalApproved.type, ApprovalRequested.type])
      const agentEvents = yield* agents.take(2)
      assert.deepStrictEqual(agentEvents.map((e) => e.type), [AgentCompleted.type, AgentConfirmationRequested.type])
      assert.strictEqual(yield* Queue.size(typed.received), 0, "the typed subscription got only its own type")
    }))

  it.live("a seed replay carries the typed replay marker and a clean payload", () =>
    Effect.gen(function*() {
      const { context, seed, stream } = yield* setup("seed-replay")
      const { take } = yield* collect(context, (q) => Consumer.handle(ApprovalApproved, offer(q), { group: "approvals" }))
      const original = yield* NestJS.publish(seed, stream, "approval.approved", approved, seedContext)
      yield* take(1)
      assert.strictEqual(yield* NestJS.replay(seed, stream, "job_9", { eventTypes: ["approval.approved"] }), 1)
      const [replayed] = yield* take(1)
      assert.deepStrictEqual(replayed?.replay, { jobId: "job_9" })
      assert.strictEqual(replayed?.correlationId, "replay-job_9")
      assert.deepStrictEqual(replayed?.data, approved, "no __replay in the payload")
      assert.notStrictEqual(replayed?.id, original.event.id, "the seeds replay under a new id")
    }))
})

describe("this bus → NestJS bus", () => {
  it.live("publish and publishBatch entries are read with XREADGROUP + JSON.parse(fields[1])", () =>
    Effect.gen(function*() {
      const { context, seed, stream } = yield* setup("our-publish")
      yield* NestJS.createGroup(seed, stream, "hyvve-platform")
      const single = yield* Publisher.publish(ApprovalApproved, approved, { ...seedContext, correlationId: "req_1" }).pipe(
        Effect.provideContext(context)
      )
      const batch = yield* Publisher.publishBatch([
        { event: ApprovalApproved, payload: { ...approved, notes: "ok" }, context: seedContext },
        { event: AgentCompleted, payload: { runId: "run_1", agentId: "agt_1", durationMs: 12, outcome: "success" }, context: seedContext }
      ]).pipe(Effect.provideContext(context))

      const read = yield* NestJS.readAll(seed, stream, "hyvve-platform", 3)
      assert.strictEqual(read.length, 3)
      assert.deepStrictEqual(read.map((d) => d.event.id), [single, ...batch])
      for (const delivery of read) {
        // `event` first, then our index fields.
        assert.deepStrictEqual([delivery.fields[0], delivery.fields[2], delivery.fields[4]], ["event", "type", "tenant"])
        // The seeds' BaseEvent fields in its order, then ours (the trace of the publish span).
        const keys = Object.keys(delivery.event)
        assert.deepStrictEqual(keys.slice(9), ["traceparent"])
        assert.deepStrictEqual(keys.slice(0, 9), [
          "id",
          "type",
          "source",
          "timestamp",
          "correlationId",
          "tenantId",
          "userId",
          "version",
          "data"
        ])
        assert.strictEqual(delivery.event.source, "platform")
        assert.strictEqual(delivery.event.version, "1.0")
        assert.strictEqual(delivery.event.tenantId, "ws_1")
        assert.match(delivery.event.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      }
      assert.deepStrictEqual(read[0]?.event.data, approved)
      assert.strictEqual(read[0]?.event.correlationId, "req_1")
      assert.strictEqual(read[1]?.event.correlationId, batch[0], "a new correlation is the event's own id")
      assert.deepStrictEqual(read.map((d) => d.event.type), ["approval.approved", "approval.approved", "agent.completed"])
      const pending = yield* Effect.promise(() => seed.xpending(stream, "hyvve-platform"))
      assert.strictEqual(pending[0], 0, "the seed consumer acked everything it parsed")
    }))

  it.live("the seeds' replay processor replays our entries back to us", () =>
    Effect.gen(function*() {
      const { context, seed, stream } = yield* setup("our-replay")
      const { take } = yield* collect(context, (q) => Consumer.handle(ApprovalApproved, offer(q), { group: "approvals" }))
      const id = yield* Publisher.publish(ApprovalApproved, approved, seedContext).pipe(Effect.provideContext(context))
      const [original] = yield* take(1)
      assert.strictEqual(original?.id, id)
      assert.strictEqual(yield* NestJS.replay(seed, stream, "job_ours"), 1)
      const [replayed] = yield* take(1)
      assert.deepStrictEqual(replayed?.replay, { jobId: "job_ours" })
      assert.deepStrictEqual(replayed?.data, approved)
    }))
})

describe("the dead-letter queue, both ways", () => {
  it.live("the seed dashboard reads our DLQ entries by position: event JSON, error text, movedAt", () =>
    Effect.gen(function*() {
      const { context, prefix, seed } = yield* setup("dlq-ours")
      const { take } = yield* collect(context, (q) =>
        Consumer.handle(ApprovalApproved, (event) =>
          Effect.andThen(offer(q)(event), Effect.fail(new Retry.NonRetryable({ message: "approver left the company" }))), {
          group: "approvals"
        }))
      const id = yield* Publisher.publish(ApprovalApproved, approved, seedContext).pipe(Effect.provideContext(context))
      yield* take(1)
      const dlq = Keys.dlq(prefix)
      const entries = yield* Effect.gen(function*() {
        for (let i = 0; i < 100; i++) {
          const read = yield* NestJS.readDlq(seed, dlq)
          if (read.length > 0) return read
          yield* Effect.sleep("50 millis")
        }
        return yield* Effect.die(new Error("no DLQ entry"))
      })
      assert.strictEqual(entries.length, 1)
      const [entry] = entries
      assert.strictEqual(entry?.event.id, id)
      assert.strictEqual(entry?.event.type, "approval.approved")
      assert.deepStrictEqual(entry?.event.data, approved)
      assert.strictEqual(entry?.error, "approver left the company")
      assert.strictEqual(new Date(entry!.movedAt).toISOString(), entry?.movedAt, "movedAt is ISO 8601")
    }))

  it.live("entries the seed bus dead-lettered are listed, counted, re-driven to a named group only, and purged", () =>
    Effect.gen(function*() {
      const { context, prefix, seed, stream } = yield* setup("dlq-seed")
      const dlq = Keys.dlq(prefix)
      const run = <A, E>(effect: Effect.Effect<A, E, Dlq.Dlq>) => effect.pipe(Effect.provideContext(context))
      const a = yield* collect(context, (q) => Consumer.handle(ApprovalApproved, offer(q), { group: "approvals-a" }))
      const b = yield* collect(context, (q) => Consumer.handle(ApprovalApproved, offer(q), { group: "approvals-b" }))
      // The seed bus publishes, fails, and dead-letters (its own moveToDLQ), twice.
      const first = yield* NestJS.publish(seed, `${stream}-elsewhere`, "approval.granted", approved, { ...seedContext, tenantId: "ws_9" })
      const second = yield* NestJS.publish(seed, `${stream}-elsewhere`, "approval.approved", approved, seedContext)
      const firstDlqId = yield* NestJS.moveToDlq(seed, dlq, first.event, "handler crashed")
      yield* NestJS.moveToDlq(seed, dlq, second.event, "timeout")

      const page = yield* run(Dlq.Dlq.use((d) => d.list()))
      assert.deepStrictEqual(
        page.entries.map((e) => [e.origin, e.eventId, e.type, e.tenantId, e.error.message, e.group]),
        [
          ["nestjs", first.event.id, "approval.granted", "ws_9", "handler crashed", undefined],
          ["nestjs", second.event.id, "approval.approved", "ws_1", "timeout", undefined]
        ]
      )
      const byTenant = yield* run(Dlq.Dlq.use((d) => d.list({ filter: { tenantId: "ws_9" } })))
      assert.deepStrictEqual(byTenant.entries.map((e) => e.eventId), [first.event.id])
      const stats = yield* run(Dlq.Dlq.use((d) => d.stats))
      assert.strictEqual(stats.size, 2)
      assert.deepStrictEqual(stats.byGroup, { "(unknown)": 2 })

      // No group in the entry: re-driving it needs one, and then reaches that group only.
      const refused = yield* run(Effect.flip(Dlq.Dlq.use((d) => d.retry(firstDlqId))))
      assert.strictEqual(refused._tag, "DlqGroupRequired")
      yield* run(Dlq.Dlq.use((d) => d.retry(firstDlqId, { group: "approvals-b" })))
      const [redriven] = yield* b.take(1)
      assert.strictEqual(redriven?.id, first.event.id)
      assert.strictEqual(redriven?.type, "approval.approved", "the seed name decodes to our type")
      yield* Effect.sleep("500 millis")
      assert.strictEqual(yield* Queue.size(a.received), 0, "the other group never sees it")

      const purged = yield* run(Dlq.Dlq.use((d) => d.purge({ type: "approval.approved" })))
      assert.strictEqual(purged, 1)
      assert.deepStrictEqual(yield* NestJS.readDlq(seed, dlq), [])
    }))

  it.live("an event with invalid UTF-8 keeps its bytes in the DLQ and when re-driven", () =>
    Effect.gen(function*() {
      const { context, prefix, seed, stream } = yield* setup("dlq-bytes")
      const { take } = yield* collect(context, (q) =>
        Consumer.handle(ApprovalApproved, (event) =>
          Effect.andThen(offer(q)(event), Effect.fail(new Retry.NonRetryable({ message: "rejected" }))), {
          group: "bytes"
        }))
      // A payload string with a byte that is not UTF-8 (0xff), as another writer could append it.
      const json = JSON.stringify({
        id: "evt_bytes_1",
        type: "approval.approved",
        source: "platform",
        timestamp: new Date().toISOString(),
        correlationId: "c1",
        tenantId: "ws_1",
        userId: "usr_7",
        version: "1.0",
        data: { approvalId: "apr_@", decidedById: "usr_7", decision: "approved" }
      })
      const bytes = Buffer.from(json, "utf8")
      bytes[bytes.indexOf("apr_@") + 4] = 0xff
      yield* Effect.promise(() => seed.xadd(stream, "*", "event", bytes))
      yield* take(1)
      const dlq = Keys.dlq(prefix)
      const dlqEntry = yield* Effect.gen(function*() {
        for (let i = 0; i < 100; i++) {
          const [entry] = yield* Effect.promise(() => seed.xrangeBuffer(dlq, "-", "+"))
          if (entry !== undefined) return entry
          yield* Effect.sleep("50 millis")
        }
        return yield* Effect.die(new Error("no DLQ entry"))
      })
      const [dlqId, dlqFields] = dlqEntry
      assert.strictEqual(dlqFields[0]?.toString(), "event")
      assert.isTrue(dlqFields[1]?.equals(bytes), "the DLQ keeps the original bytes")

      yield* Dlq.Dlq.use((d) => d.retry(dlqId.toString())).pipe(Effect.provideContext(context))
      const [redriven] = yield* take(1)
      assert.strictEqual(redriven?.id, "evt_bytes_1")
      const [, redeliverFields] = (yield* Effect.promise(() =>
        seed.xrangeBuffer(`${prefix}:events:redeliver:bytes`, "-", "+")
      ))[0]!
      assert.isTrue(redeliverFields[1]?.equals(bytes), "and so does the re-driven entry")
    }))

  it.live("a tenant id with a lone surrogate is found by the DLQ tenant filter", () =>
    Effect.gen(function*() {
      const { context } = yield* setup("dlq-surrogate")
      const { take } = yield* collect(context, (q) =>
        Consumer.handle(ApprovalApproved, (event) =>
          Effect.andThen(offer(q)(event), Effect.fail(new Retry.NonRetryable({ message: "rejected" }))), {
          group: "surrogates"
        }))
      const tenantId = "ws_\ud800"
      const id = yield* Publisher.publish(ApprovalApproved, approved, { tenantId, userId: "usr_7" }).pipe(Effect.provideContext(context))
      yield* take(1)
      const list = Dlq.Dlq.use((d) => d.list({ filter: { tenantId } })).pipe(Effect.provideContext(context))
      const found = yield* Effect.gen(function*() {
        for (let i = 0; i < 100; i++) {
          const page = yield* list
          if (page.entries.length > 0) return page.entries
          yield* Effect.sleep("50 millis")
        }
        return []
      })
      assert.deepStrictEqual(found.map((e) => e.eventId), [id])
    }))
})
