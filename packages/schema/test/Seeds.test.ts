/**
 * What the NestJS bus (the seeds) writes, read as ours: envelopes without `correlationId`, the `__replay` flag of
 * its replay job, and its event names, which are aliases of our event types.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Schema } from "effect"
import {
  AgentCompleted,
  AgentConfirmationRequested,
  ApprovalApproved,
  ApprovalRequested,
  Catalog,
  Envelope,
  EventError,
  EventId,
  EventPattern,
  EventType
} from "../src/index.ts"

// A BaseEvent exactly as the seeds' EventPublisherService builds it (tech spec, story 05.2).
const seedEvent = (overrides: Record<string, unknown> = {}) => ({
  id: "ckx1seed0000000000000001",
  type: "approval.approved",
  source: "platform",
  timestamp: "2026-01-31T12:00:00.000Z",
  correlationId: "ckx1corr0000000000000001",
  tenantId: "ws_1",
  userId: "usr_7",
  version: "1.0",
  data: { approvalId: "apr_1", decidedById: "usr_7", decision: "approved" },
  ...overrides
})

const decode = (json: unknown) =>
  Effect.flatMap(Envelope.decodeJson(JSON.stringify(json)), (raw) => {
    const eventType = Catalog.platform.get(raw.type)
    return Option.isSome(eventType) ? EventType.fromRaw(eventType.value, raw) : Effect.die(`unknown ${raw.type}`)
  })

describe("the NestJS bus's envelopes", () => {
  it.effect("an envelope without correlationId decodes, its correlationId defaulting to its id", () =>
    Effect.gen(function*() {
      const { correlationId: _, ...withoutCorrelation } = seedEvent()
      const event = yield* decode(withoutCorrelation)
      assert.strictEqual(event.correlationId, "ckx1seed0000000000000001")
      assert.strictEqual(event.type, "approval.approved")
    }))

  it.effect("a correlationId it carries is kept", () =>
    Effect.gen(function*() {
      const event = yield* decode(seedEvent())
      assert.strictEqual(event.correlationId, "ckx1corr0000000000000001")
      assert.isUndefined(event.replay)
    }))

  it.effect("data.__replay = true becomes the typed replay marker, and the payload stays clean", () =>
    Effect.gen(function*() {
      const event = yield* decode(seedEvent({
        correlationId: "replay-job_42",
        data: { approvalId: "apr_1", decidedById: "usr_7", decision: "approved", __replay: true }
      }))
      assert.deepStrictEqual(event.replay, { jobId: "job_42" })
      assert.deepStrictEqual(event.data, { approvalId: "apr_1", decidedById: "usr_7", decision: "approved" })
      assert.strictEqual(event.correlationId, "replay-job_42")
    }))

  it.effect("decodeJson alone already leaves __replay out of data", () =>
    Effect.gen(function*() {
      const raw = yield* Envelope.decodeJson(JSON.stringify(seedEvent({
        correlationId: "replay-job_1",
        data: { approvalId: "apr_1", decidedById: "usr_7", decision: "approved", __replay: true }
      })))
      assert.deepStrictEqual(raw.data, { approvalId: "apr_1", decidedById: "usr_7", decision: "approved" })
      assert.deepStrictEqual(raw.replay, { jobId: "job_1" })
    }))

  it.effect("a replay whose correlationId is not replay-<jobId> keeps it whole as the job id", () =>
    Effect.gen(function*() {
      const event = yield* decode(seedEvent({ data: { ...seedEvent().data, __replay: true } }))
      assert.deepStrictEqual(event.replay, { jobId: "ckx1corr0000000000000001" })
    }))

  it.effect("an own replay marker wins over __replay", () =>
    Effect.gen(function*() {
      const event = yield* decode(seedEvent({
        replay: { jobId: "ours", originalEventId: "evt_0" },
        data: { ...seedEvent().data, __replay: true }
      }))
      assert.deepStrictEqual(event.replay, { jobId: "ours", originalEventId: EventId.EventId.make("evt_0") })
      assert.notProperty(event.data, "__replay")
    }))

  it.effect("__replay other than true is not a replay", () =>
    Effect.gen(function*() {
      const event = yield* decode(seedEvent({ data: { ...seedEvent().data, __replay: "yes" } }))
      assert.isUndefined(event.replay)
    }))

  it.effect("without an id there is nothing to default to: still a MalformedEnvelope", () =>
    Effect.gen(function*() {
      const { correlationId: _c, id: _i, ...bare } = seedEvent()
      const error = yield* Effect.flip(Envelope.decodeJson(JSON.stringify(bare)))
      assert.instanceOf(error, EventError.MalformedEnvelope)
      assert.deepStrictEqual(error.issues.map((issue) => issue.path), ["id", "correlationId"])
    }))
})

describe("aliases", () => {
  const seedNames = [
    ["approval.granted", ApprovalApproved],
    ["approval.item.approved", ApprovalApproved],
    ["approval.created", ApprovalRequested],
    ["agent.run.completed", AgentCompleted],
    ["agent.confirmation.requested", AgentConfirmationRequested]
  ] as const

  it("the platform catalog reads every seed name as one of its event types", () => {
    for (const [name, eventType] of seedNames) {
      assert.deepStrictEqual(Catalog.platform.get(name), Option.some(eventType), name)
    }
    assert.deepStrictEqual(EventType.names(ApprovalApproved), ["approval.approved", "approval.granted", "approval.item.approved"])
    assert.notInclude(Catalog.platform.names, "approval.granted", "names lists the names events are published under")
  })

  it.effect("an envelope under an alias decodes as the canonical event type", () =>
    Effect.gen(function*() {
      const event = yield* decode(seedEvent({ type: "approval.granted" }))
      assert.strictEqual(event.type, "approval.approved")
      assert.deepStrictEqual(event.data, { approvalId: "apr_1", decidedById: "usr_7", decision: "approved" })
      const agent = yield* decode(seedEvent({
        type: "agent.run.completed",
        data: { runId: "run_1", agentId: "agt_1", durationMs: 12, outcome: "success" }
      }))
      assert.strictEqual(agent.type, "agent.completed")
    }))

  it.effect("fromRaw of a name that is neither the name nor an alias is still a TypeMismatch", () =>
    Effect.gen(function*() {
      const raw = yield* Envelope.decodeJson(JSON.stringify(seedEvent({ type: "approval.created" })))
      const exit = EventType.fromRaw(ApprovalApproved, raw)
      assert.isTrue(Exit.isFailure(exit))
    }))

  it("patterns match an event type under any of its names", () => {
    assert.deepStrictEqual(Catalog.platform.match("*.*.approved"), [ApprovalApproved])
    assert.deepStrictEqual(Catalog.platform.match("approval.granted"), [ApprovalApproved])
    assert.deepStrictEqual(Catalog.platform.match("agent.run.*"), [AgentCompleted])
    assert.isTrue(EventPattern.matchesEvent(EventPattern.makeUnsafe("agent.confirmation.*"), AgentConfirmationRequested))
    assert.isFalse(EventPattern.matchesEvent(EventPattern.makeUnsafe("agent.confirmation.*"), AgentCompleted))
  })

  it("an invalid or repeated alias, or a name read as two event types, throws at definition time", () => {
    const payload = Schema.Struct({ id: Schema.String })
    assert.throws(() => EventType.make("test.a", payload, { aliases: ["Test.A"] }), /alias "Test.A"/)
    assert.throws(() => EventType.make("test.a", payload, { aliases: ["test.b", "test.b"] }), /"test.b" twice/)
    assert.throws(() => EventType.make("test.a", payload, { aliases: ["test.a"] }), /"test.a" twice/)
    const A = EventType.make("test.a", payload, { aliases: ["test.shared"] })
    const B = EventType.make("test.b", payload, { aliases: ["test.shared"] })
    assert.throws(() => Catalog.make([A, B]), /"test.shared" as both "test.a" and "test.b"/)
    assert.throws(() => Catalog.make([A, EventType.make("test.shared", payload)]), /"test.shared"/)
  })

  it("merge joins catalogs, keeping an event type present in several once", () => {
    const Invoice = EventType.make("billing.invoice_paid", Schema.Struct({ id: Schema.String }), {
      aliases: ["billing.paid"]
    })
    const merged = Catalog.merge(Catalog.platform, Catalog.make([Invoice, ApprovalApproved]))
    assert.deepStrictEqual(merged.names, [...Catalog.platform.names, "billing.invoice_paid"])
    assert.deepStrictEqual(merged.get("billing.paid"), Option.some(Invoice))
  })

  it("the envelope JSON Schema lists the aliases", () => {
    const description = Envelope.jsonSchema(ApprovalApproved).schema.description
    assert.include(description, "approval.granted, approval.item.approved")
  })
})
