/**
 * Type-level tests: `tsc` checks this file (it is in the typecheck's `include`), so every `@ts-expect-error` below
 * proves that the marked line does not compile. At run time the calls only build Effects that are never run.
 */
import type { Exit } from "effect"
import { describe, expectTypeOf, it } from "@effect/vitest"
import type { Option } from "effect"
import { Schema } from "effect"
import {
  type AgentCompleted,
  type AgentConfirmationRequested,
  type AgentError,
  type AgentStarted,
  ApprovalApproved,
  ApprovalAutoApproved,
  type ApprovalEscalated,
  type ApprovalExpired,
  type ApprovalRejected,
  type ApprovalRequested,
  type AuditLogged,
  Catalog,
  Envelope,
  type EventError,
  type EventId,
  EventPattern,
  EventType,
  type UserInvited,
  type UserJoined,
  type UserLeft,
  type WorkspaceCreated,
  WorkspaceDeleted,
  type WorkspaceUpdated
} from "../src/index.ts"
import { meta } from "./fixtures.ts"

type Approvals =
  | typeof ApprovalRequested
  | typeof ApprovalApproved
  | typeof ApprovalRejected
  | typeof ApprovalEscalated
  | typeof ApprovalExpired
  | typeof ApprovalAutoApproved

type Users = typeof UserInvited | typeof UserJoined | typeof UserLeft

describe("types", () => {
  it("an event type keeps its literal name and payload type", () => {
    expectTypeOf(ApprovalApproved.type).toEqualTypeOf<"approval.approved">()
    expectTypeOf<EventType.Name<typeof ApprovalApproved>>().toEqualTypeOf<"approval.approved">()
    expectTypeOf<EventType.Payload<typeof ApprovalApproved>>().toEqualTypeOf<{
      readonly approvalId: string
      readonly decidedById: string
      readonly decision: "approved" | "rejected"
      readonly notes?: string
    }>()
    expectTypeOf<EventType.Name<Users>>().toEqualTypeOf<"user.invited" | "user.joined" | "user.left">()
  })

  it("an envelope's type is the literal name and its data the decoded payload", () => {
    type Approved = Envelope.Envelope<typeof ApprovalApproved>
    expectTypeOf<Approved["type"]>().toEqualTypeOf<"approval.approved">()
    expectTypeOf<Approved["data"]>().toEqualTypeOf<EventType.Payload<typeof ApprovalApproved>>()
    expectTypeOf<Approved["id"]>().toEqualTypeOf<EventId.EventId>()
    expectTypeOf<Approved["causationId"]>().toEqualTypeOf<string | undefined>()
    expectTypeOf<Approved["replay"]>().toEqualTypeOf<Envelope.ReplayMarker | undefined>()
  })

  it("the envelope of a union of event types is a union discriminated by type", () => {
    const handle = (envelope: Envelope.Envelope<Users>): string => {
      switch (envelope.type) {
        case "user.invited":
          return envelope.data.invitationId
        case "user.joined":
          return envelope.data.role
        case "user.left":
          return envelope.data.reason
      }
    }
    expectTypeOf(handle).returns.toEqualTypeOf<string>()
  })

  it("Raw is an envelope of any name whose data is unknown", () => {
    expectTypeOf<Envelope.Raw>().toEqualTypeOf<Envelope.Envelope<EventType.Any>>()
    expectTypeOf<Envelope.Raw["data"]>().toEqualTypeOf<unknown>()
  })

  it("a wrong payload does not compile", () => {
    EventType.makeEnvelope(ApprovalApproved, { approvalId: "a", decidedById: "u", decision: "approved" }, meta)
    // @ts-expect-error decidedById is missing
    EventType.makeEnvelope(ApprovalApproved, { approvalId: "a", decision: "approved" }, meta)
    // @ts-expect-error "maybe" is not a decision
    EventType.makeEnvelope(ApprovalApproved, { approvalId: "a", decidedById: "u", decision: "maybe" }, meta)
    // @ts-expect-error the payload of another event type
    EventType.makeRaw(ApprovalApproved, { workspaceId: "w", deletedById: "u" }, meta)
    // @ts-expect-error confidence is a number
    EventType.encodePayload(ApprovalAutoApproved, { approvalId: "a", confidence: "high" })
    // @ts-expect-error the header needs an EventId, not any string
    EventType.makeEnvelope(WorkspaceDeleted, { workspaceId: "w", deletedById: "u" }, { ...meta, id: "evt_1" })
    // @ts-expect-error the timestamp must be a validated Timestamp
    EventType.makeRaw(WorkspaceDeleted, { workspaceId: "w", deletedById: "u" }, { ...meta, timestamp: "now" })
  })

  it("runtime functions return precise types and typed errors", () => {
    expectTypeOf(EventType.validate(ApprovalApproved, {})).toEqualTypeOf<
      Exit.Exit<EventType.Payload<typeof ApprovalApproved>, EventError.InvalidPayload>
    >()
    expectTypeOf(EventType.decodePayload(ApprovalApproved, "1.0", {})).toEqualTypeOf<
      Exit.Exit<
        EventType.Payload<typeof ApprovalApproved>,
        EventError.InvalidPayload | EventError.UnknownVersion
      >
    >()
    expectTypeOf(EventType.fromRaw(ApprovalApproved, { ...meta, type: "x", version: "1", data: null })).toEqualTypeOf<
      Exit.Exit<
        Envelope.Envelope<typeof ApprovalApproved>,
        EventError.InvalidPayload | EventError.UnknownVersion | EventError.TypeMismatch
      >
    >()
    expectTypeOf(Envelope.decodeJson("")).toEqualTypeOf<Exit.Exit<Envelope.Raw, EventError.MalformedEnvelope>>()
  })

  it("fromRaw with a union of event types yields the union of their envelopes", () => {
    const decode = (event: Users, raw: Envelope.Raw) => EventType.fromRaw(event, raw)
    expectTypeOf(decode).returns.toEqualTypeOf<
      Exit.Exit<
        Envelope.Envelope<Users>,
        EventError.InvalidPayload | EventError.UnknownVersion | EventError.TypeMismatch
      >
    >()
  })

  it("a migration must return the current encoded payload", () => {
    const Current = Schema.Struct({ count: Schema.Int })
    EventType.make("test.migrated", Current, {
      previous: [{ version: "0.1", payload: Schema.Struct({ n: Schema.Int }), migrate: (old) => ({ count: old.n }) }]
    })
    EventType.make("test.migrated", Current, {
      // @ts-expect-error the old payload has no `count`
      previous: [{ version: "0.1", payload: Schema.Struct({ n: Schema.Int }), migrate: (old) => ({ count: old.count }) }]
    })
    EventType.make("test.migrated", Current, {
      // @ts-expect-error the migration returns the old shape
      previous: [{ version: "0.1", payload: Schema.Struct({ n: Schema.Int }), migrate: (old) => old }]
    })
  })

  it("Matches compares literal names and patterns segment by segment", () => {
    expectTypeOf<EventPattern.Matches<"approval.approved", "approval.*">>().toEqualTypeOf<true>()
    expectTypeOf<EventPattern.Matches<"approval.approved", "*.approved">>().toEqualTypeOf<true>()
    expectTypeOf<EventPattern.Matches<"approval.step.approved", "approval.*">>().toEqualTypeOf<false>()
    expectTypeOf<EventPattern.Matches<"approval.step.approved", "approval.**">>().toEqualTypeOf<true>()
    expectTypeOf<EventPattern.Matches<"approval.step.approved", "**.approved">>().toEqualTypeOf<true>()
    expectTypeOf<EventPattern.Matches<"approval.approved", "approval.**.approved">>().toEqualTypeOf<true>()
    expectTypeOf<EventPattern.Matches<"approval", "approval.**">>().toEqualTypeOf<true>()
    expectTypeOf<EventPattern.Matches<"user.joined", "approval.**">>().toEqualTypeOf<false>()
    expectTypeOf<EventPattern.Matches<string, "approval.*">>().toEqualTypeOf<boolean>()
    expectTypeOf<EventPattern.Matches<"approval.approved", string>>().toEqualTypeOf<boolean>()
  })

  it("Filter narrows the catalog to exactly the matching event types", () => {
    expectTypeOf<EventPattern.Filter<Catalog.Event, "approval.*">>().toEqualTypeOf<Approvals>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "approval.**">>().toEqualTypeOf<Approvals>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "*.approved">>().toEqualTypeOf<typeof ApprovalApproved>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "**.approved">>().toEqualTypeOf<typeof ApprovalApproved>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "**">>().toEqualTypeOf<Catalog.Event>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "user.**">>().toEqualTypeOf<Users>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "*.*">>().toEqualTypeOf<Catalog.Event>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "agent.*">>().toEqualTypeOf<
      typeof AgentStarted | typeof AgentCompleted | typeof AgentError | typeof AgentConfirmationRequested
    >()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "workspace.created">>().toEqualTypeOf<typeof WorkspaceCreated>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "*.logged">>().toEqualTypeOf<typeof AuditLogged>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "*">>().toEqualTypeOf<never>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "billing.**">>().toEqualTypeOf<never>()
    // Through its alias `approval.item.approved`.
    expectTypeOf<EventPattern.Filter<Catalog.Event, "*.*.approved">>().toEqualTypeOf<typeof ApprovalApproved>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, "*.*.*.approved">>().toEqualTypeOf<never>()
    expectTypeOf<EventPattern.Filter<Catalog.Event, string>>().toEqualTypeOf<Catalog.Event>()
    expectTypeOf<EventPattern.Filter<typeof WorkspaceUpdated | typeof WorkspaceDeleted, "*.deleted">>()
      .toEqualTypeOf<typeof WorkspaceDeleted>()
  })

  it("a catalog's match and get are typed by the pattern and the name", () => {
    expectTypeOf(Catalog.platform.match("user.**")).toEqualTypeOf<ReadonlyArray<Users>>()
    expectTypeOf(Catalog.platform.match(EventPattern.makeUnsafe("*.approved"))).toEqualTypeOf<
      ReadonlyArray<typeof ApprovalApproved>
    >()
    expectTypeOf(Catalog.platform.get("user.left")).toEqualTypeOf<Option.Option<typeof UserLeft>>()
    const name: string = "user.left"
    expectTypeOf(Catalog.platform.get(name)).toEqualTypeOf<Option.Option<Catalog.Event>>()
  })

  it("an invalid header value does not typecheck as a branded field", () => {
    // @ts-expect-error a plain string is not a Traceparent
    const _traceparent: Envelope.Traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    // @ts-expect-error a plain string is not an EventId
    const _id: EventId.EventId = "evt_1"
  })
})
