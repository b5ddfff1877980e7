/**
 * Workspace lifecycle events: created, updated, deleted.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as EventType from "../EventType.ts"
import { Id } from "../internal/fields.ts"

/**
 * Validates the payload of `workspace.created`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const WorkspaceCreatedPayload = Schema.Struct({
  workspaceId: Id("The new workspace"),
  createdById: Id("User who created it and became its owner"),
  plan: Schema.optionalKey(Schema.NonEmptyString.annotate({ description: `Billing plan, e.g. "free" or "team"` }))
}).annotate({ title: "WorkspaceCreatedPayload", description: "A workspace was created" })

/**
 * Represents the payload of `workspace.created`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type WorkspaceCreatedPayload = typeof WorkspaceCreatedPayload.Type

/**
 * Validates the payload of `workspace.updated`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const WorkspaceUpdatedPayload = Schema.Struct({
  workspaceId: Id("The updated workspace"),
  updatedById: Id("User who changed it"),
  changedFields: Schema.Array(Schema.NonEmptyString).annotate({
    description: "Names of the settings that changed; read the workspace for the new values"
  })
}).annotate({ title: "WorkspaceUpdatedPayload", description: "Workspace settings changed" })

/**
 * Represents the payload of `workspace.updated`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type WorkspaceUpdatedPayload = typeof WorkspaceUpdatedPayload.Type

/**
 * Validates the payload of `workspace.deleted`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const WorkspaceDeletedPayload = Schema.Struct({
  workspaceId: Id("The deleted workspace"),
  deletedById: Id("User who deleted it")
}).annotate({ title: "WorkspaceDeletedPayload", description: "A workspace was deleted" })

/**
 * Represents the payload of `workspace.deleted`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type WorkspaceDeletedPayload = typeof WorkspaceDeletedPayload.Type

/**
 * Defines `workspace.created`: a workspace was created.
 *
 * @category events
 * @since 0.1.0
 */
export const WorkspaceCreated = EventType.make("workspace.created", WorkspaceCreatedPayload, {
  description: "A workspace was created"
})

/**
 * Defines `workspace.updated`: workspace settings changed.
 *
 * @category events
 * @since 0.1.0
 */
export const WorkspaceUpdated = EventType.make("workspace.updated", WorkspaceUpdatedPayload, {
  description: "Workspace settings changed"
})

/**
 * Defines `workspace.deleted`: a workspace was deleted.
 *
 * @category events
 * @since 0.1.0
 */
export const WorkspaceDeleted = EventType.make("workspace.deleted", WorkspaceDeletedPayload, {
  description: "A workspace was deleted"
})
