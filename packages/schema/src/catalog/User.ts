/**
 * User membership events: invitations to a workspace and members joining or leaving it.
 *
 * Payloads reference users by id only; names and e-mail addresses never travel on the bus.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as EventType from "../EventType.ts"
import { Id } from "../internal/fields.ts"

/**
 * Validates the role of a workspace member.
 *
 * @category payloads
 * @since 0.1.0
 */
export const WorkspaceRole = Schema.Literals(["owner", "admin", "member", "viewer"]).annotate({
  description: "Role of the user in the workspace"
})

/**
 * Validates the payload of `user.invited`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const UserInvitedPayload = Schema.Struct({
  invitationId: Id("The invitation; the invitee's address stays with it, not on the bus"),
  workspaceId: Id("Workspace the user is invited to"),
  invitedById: Id("User who sent the invitation"),
  role: WorkspaceRole
}).annotate({ title: "UserInvitedPayload", description: "Someone was invited to a workspace" })

/**
 * Represents the payload of `user.invited`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type UserInvitedPayload = typeof UserInvitedPayload.Type

/**
 * Validates the payload of `user.joined`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const UserJoinedPayload = Schema.Struct({
  userId: Id("User who joined"),
  workspaceId: Id("Workspace joined"),
  role: WorkspaceRole,
  invitationId: Schema.optionalKey(Id("Invitation that was accepted, absent when added directly"))
}).annotate({ title: "UserJoinedPayload", description: "A user became a member of a workspace" })

/**
 * Represents the payload of `user.joined`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type UserJoinedPayload = typeof UserJoinedPayload.Type

/**
 * Validates the payload of `user.left`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const UserLeftPayload = Schema.Struct({
  userId: Id("User who left"),
  workspaceId: Id("Workspace left"),
  reason: Schema.Literals(["left", "removed"]).annotate({
    description: `"left" when the user left, "removed" when an admin removed them`
  }),
  removedById: Schema.optionalKey(Id("Admin who removed the user, when reason is \"removed\""))
}).annotate({ title: "UserLeftPayload", description: "A user stopped being a member of a workspace" })

/**
 * Represents the payload of `user.left`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type UserLeftPayload = typeof UserLeftPayload.Type

/**
 * Defines `user.invited`: someone was invited to a workspace.
 *
 * @category events
 * @since 0.1.0
 */
export const UserInvited = EventType.make("user.invited", UserInvitedPayload, {
  description: "Someone was invited to a workspace"
})

/**
 * Defines `user.joined`: a user became a member of a workspace.
 *
 * @category events
 * @since 0.1.0
 */
export const UserJoined = EventType.make("user.joined", UserJoinedPayload, {
  description: "A user became a member of a workspace"
})

/**
 * Defines `user.left`: a user stopped being a member of a workspace.
 *
 * @category events
 * @since 0.1.0
 */
export const UserLeft = EventType.make("user.left", UserLeftPayload, {
  description: "A user stopped being a member of a workspace"
})
