/**
 * The audit trail event: one `audit.logged` per security- or compliance-relevant action.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as EventType from "../EventType.ts"
import { Id } from "../internal/fields.ts"

/**
 * Validates the payload of `audit.logged`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const AuditLoggedPayload = Schema.Struct({
  auditId: Id("The audit record"),
  action: Schema.NonEmptyString.annotate({ description: `What was done, e.g. "approval.approve" or "member.remove"` }),
  actorId: Id("Who did it"),
  actorType: Schema.Literals(["user", "agent", "system"]).annotate({ description: "What kind of actor did it" }),
  resourceType: Schema.NonEmptyString.annotate({ description: `Kind of resource acted on, e.g. "approval"` }),
  resourceId: Id("The resource acted on"),
  outcome: Schema.Literals(["success", "failure"]).annotate({ description: "Whether the action succeeded" })
}).annotate({ title: "AuditLoggedPayload", description: "An auditable action happened" })

/**
 * Represents the payload of `audit.logged`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type AuditLoggedPayload = typeof AuditLoggedPayload.Type

/**
 * Defines `audit.logged`: an auditable action happened.
 *
 * @category events
 * @since 0.1.0
 */
export const AuditLogged = EventType.make("audit.logged", AuditLoggedPayload, {
  description: "An auditable action happened"
})
