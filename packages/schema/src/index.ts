/**
 * @since 0.1.0
 */

/**
 * Catalogs of event types: lookup by wire name and typed selection by pattern, and the platform catalog.
 *
 * @since 0.1.0
 */
export * as Catalog from "./Catalog.ts"

/**
 * The wire envelope that wraps every event, and its JSON codec.
 *
 * @since 0.1.0
 */
export * as Envelope from "./Envelope.ts"

/**
 * Typed errors raised while defining, validating, encoding and decoding events.
 *
 * @since 0.1.0
 */
export * as EventError from "./EventError.ts"

/**
 * Event identifiers and the generator that mints them.
 *
 * @since 0.1.0
 */
export * as EventId from "./EventId.ts"

/**
 * Patterns over dotted event names, checked at runtime and at the type level.
 *
 * @since 0.1.0
 */
export * as EventPattern from "./EventPattern.ts"

/**
 * Event types: one value per kind of event, carrying its wire name, payload schema and version.
 *
 * @since 0.1.0
 */
export * as EventType from "./EventType.ts"

/**
 * Agent run events: started, completed, error, confirmation requested.
 *
 * @since 0.1.0
 */
export * from "./catalog/Agent.ts"

/**
 * Approval events: requested, approved, rejected, escalated, expired, auto-approved.
 *
 * @since 0.1.0
 */
export * from "./catalog/Approval.ts"

/**
 * The audit trail event.
 *
 * @since 0.1.0
 */
export * from "./catalog/Audit.ts"

/**
 * User membership events: invited, joined, left.
 *
 * @since 0.1.0
 */
export * from "./catalog/User.ts"

/**
 * Workspace lifecycle events: created, updated, deleted.
 *
 * @since 0.1.0
 */
export * from "./catalog/Workspace.ts"
