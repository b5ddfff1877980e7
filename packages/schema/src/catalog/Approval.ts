/**
 * Approval events: an item awaiting a human (or automatic) decision, from request to outcome.
 *
 * `approval.requested` opens an approval; it ends with exactly one of `approval.approved`, `approval.rejected`,
 * `approval.expired` or `approval.auto_approved`, possibly after `approval.escalated`. `approval.approved` also
 * decodes its previous payload version `0.9`. The NestJS bus's names are aliases: `approval.created` for
 * `approval.requested`, `approval.granted` and `approval.item.approved` for `approval.approved`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Envelope from "../Envelope.ts"
import * as EventType from "../EventType.ts"
import { Confidence, Id } from "../internal/fields.ts"

/**
 * Validates the payload of `approval.requested`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const ApprovalRequestedPayload = Schema.Struct({
  approvalId: Id("The approval item"),
  workspaceId: Id("Workspace the approval belongs to"),
  requestedById: Id("User or agent that asked for the approval"),
  kind: Schema.NonEmptyString.annotate({
    description: `What is being approved, e.g. "content", "deal" or "agent_action"`
  }),
  title: Schema.optionalKey(Schema.String.annotate({ description: "Short label shown in the review queue" })),
  confidence: Schema.optionalKey(Confidence("Confidence of the requesting agent that approving is right, 0 to 100")),
  dueAt: Schema.optionalKey(Envelope.Timestamp.annotate({ description: "When the approval expires if undecided" }))
}).annotate({ title: "ApprovalRequestedPayload", description: "An item needs a decision" })

/**
 * Represents the payload of `approval.requested`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type ApprovalRequestedPayload = typeof ApprovalRequestedPayload.Type

/**
 * Validates the payload of `approval.approved` and `approval.rejected`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const ApprovalDecisionPayload = Schema.Struct({
  approvalId: Id("The approval item"),
  decidedById: Id("User who decided"),
  decision: Schema.Literals(["approved", "rejected"]).annotate({ description: "The outcome" }),
  notes: Schema.optionalKey(Schema.String.annotate({ description: "Reviewer's notes on the decision" }))
}).annotate({ title: "ApprovalDecisionPayload", description: "A reviewer decided on an item" })

/**
 * Represents the payload of `approval.approved` and `approval.rejected`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type ApprovalDecisionPayload = typeof ApprovalDecisionPayload.Type

/**
 * Validates version `0.9` of the `approval.approved` payload, which named the reviewer `approverId` and had no
 * `decision` field. Envelopes at this version are migrated to {@link ApprovalDecisionPayload}.
 *
 * @category payloads
 * @since 0.1.0
 */
export const ApprovalApprovedPayloadV0_9 = Schema.Struct({
  approvalId: Id("The approval item"),
  approverId: Id("User who approved"),
  notes: Schema.optionalKey(Schema.String.annotate({ description: "Reviewer's notes on the decision" }))
}).annotate({ title: "ApprovalApprovedPayloadV0_9" })

/**
 * Represents version `0.9` of the `approval.approved` payload.
 *
 * @category payloads
 * @since 0.1.0
 */
export type ApprovalApprovedPayloadV0_9 = typeof ApprovalApprovedPayloadV0_9.Type

/**
 * Validates the payload of `approval.escalated`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const ApprovalEscalatedPayload = Schema.Struct({
  approvalId: Id("The approval item"),
  escalatedToId: Id("User or role the approval now waits on"),
  reason: Schema.Literals(["timeout", "low_confidence", "manual", "policy"]).annotate({
    description: "Why the approval was escalated"
  })
}).annotate({ title: "ApprovalEscalatedPayload", description: "An undecided item was handed to someone else" })

/**
 * Represents the payload of `approval.escalated`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type ApprovalEscalatedPayload = typeof ApprovalEscalatedPayload.Type

/**
 * Validates the payload of `approval.expired`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const ApprovalExpiredPayload = Schema.Struct({
  approvalId: Id("The approval item"),
  expiredAt: Envelope.Timestamp.annotate({ description: "When the approval's deadline passed" })
}).annotate({ title: "ApprovalExpiredPayload", description: "An item was not decided before its deadline" })

/**
 * Represents the payload of `approval.expired`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type ApprovalExpiredPayload = typeof ApprovalExpiredPayload.Type

/**
 * Validates the payload of `approval.auto_approved`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const ApprovalAutoApprovedPayload = Schema.Struct({
  approvalId: Id("The approval item"),
  confidence: Confidence("Confidence score that cleared the auto-approval threshold, 0 to 100"),
  rule: Schema.optionalKey(Id("Auto-approval rule that applied"))
}).annotate({ title: "ApprovalAutoApprovedPayload", description: "An item was approved without a reviewer" })

/**
 * Represents the payload of `approval.auto_approved`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type ApprovalAutoApprovedPayload = typeof ApprovalAutoApprovedPayload.Type

/**
 * Defines `approval.requested`: an item needs a decision. Also read under the NestJS name `approval.created`.
 *
 * @category events
 * @since 0.1.0
 */
export const ApprovalRequested = EventType.make("approval.requested", ApprovalRequestedPayload, {
  description: "An item needs a decision",
  // The NestJS bus's name (retrospective: `EventFactory.createApprovalCreated`).
  aliases: ["approval.created"]
})

/**
 * Defines `approval.approved`: a reviewer approved an item. Version `0.9` envelopes are migrated on decode. Also
 * read under the NestJS names `approval.granted` and `approval.item.approved`.
 *
 * @category events
 * @since 0.1.0
 */
export const ApprovalApproved = EventType.make("approval.approved", ApprovalDecisionPayload, {
  description: "A reviewer approved an item",
  // The NestJS bus's names (epic 05 story 05.3; tech spec subscriber example).
  aliases: ["approval.granted", "approval.item.approved"],
  previous: [{
    version: "0.9",
    payload: ApprovalApprovedPayloadV0_9,
    migrate: ({ approvalId, approverId, notes }): typeof ApprovalDecisionPayload.Encoded => ({
      approvalId,
      decidedById: approverId,
      decision: "approved",
      ...(notes === undefined ? {} : { notes })
    })
  }]
})

/**
 * Defines `approval.rejected`: a reviewer rejected an item.
 *
 * @category events
 * @since 0.1.0
 */
export const ApprovalRejected = EventType.make("approval.rejected", ApprovalDecisionPayload, {
  description: "A reviewer rejected an item"
})

/**
 * Defines `approval.escalated`: an undecided item was handed to someone else.
 *
 * @category events
 * @since 0.1.0
 */
export const ApprovalEscalated = EventType.make("approval.escalated", ApprovalEscalatedPayload, {
  description: "An undecided item was handed to someone else"
})

/**
 * Defines `approval.expired`: an item was not decided before its deadline.
 *
 * @category events
 * @since 0.1.0
 */
export const ApprovalExpired = EventType.make("approval.expired", ApprovalExpiredPayload, {
  description: "An item was not decided before its deadline"
})

/**
 * Defines `approval.auto_approved`: an item was approved without a reviewer.
 *
 * @category events
 * @since 0.1.0
 */
export const ApprovalAutoApproved = EventType.make("approval.auto_approved", ApprovalAutoApprovedPayload, {
  description: "An item was approved without a reviewer"
})
