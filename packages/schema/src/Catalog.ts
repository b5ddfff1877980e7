/**
 * Catalogs of event types: lookup by wire name and typed selection by pattern.
 *
 * `platform` is the catalog of the platform's own events (approvals, users, workspaces, agents, audit), defined in
 * `catalog/*.ts` and re-exported from the package root. `make` builds a catalog of any other set of event types,
 * e.g. the platform events plus a module's own.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Agent from "./catalog/Agent.ts"
import * as Approval from "./catalog/Approval.ts"
import * as Audit from "./catalog/Audit.ts"
import * as User from "./catalog/User.ts"
import * as Workspace from "./catalog/Workspace.ts"
import * as EventPattern from "./EventPattern.ts"
import type * as EventType from "./EventType.ts"

/**
 * Represents a set of event types with distinct names.
 *
 * @category models
 * @since 0.1.0
 */
export interface Catalog<E extends EventType.Any> {
  /** The event types, in the order given to {@link make}. */
  readonly events: ReadonlyArray<E>
  /** The wire names of the event types, in the same order. */
  readonly names: ReadonlyArray<EventType.Name<E>>
  /** Returns the event type with this wire name, narrowed to it when the name is a literal. */
  readonly get: <const Name extends string>(name: Name) => Option.Option<Extract<E, { readonly type: Name }>>
  /**
   * Returns the event types whose name matches a pattern, typed as exactly those members. A pattern given as a
   * string is compiled with `EventPattern.makeUnsafe` and throws when invalid.
   */
  readonly match: <const P extends string>(
    pattern: P | EventPattern.EventPattern<P>
  ) => ReadonlyArray<EventPattern.Filter<E, P>>
}

/**
 * Creates a catalog from event types.
 *
 * **Gotchas**
 *
 * Two event types with the same name are a programmer error: `make` throws.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <const Events extends ReadonlyArray<EventType.Any>>(events: Events): Catalog<Events[number]> => {
  type E = Events[number]
  const byName = new Map<string, E>()
  for (const event of events) {
    if (byName.has(event.type)) {
      throw new globalThis.Error(`Catalog declares event type "${event.type}" twice`)
    }
    byName.set(event.type, event)
  }
  return {
    events,
    names: events.map((event): EventType.Name<E> => event.type),
    get: (name) => Option.filter(Option.fromUndefinedOr(byName.get(name)), hasName(name)),
    match: <const P extends string>(pattern: P | EventPattern.EventPattern<P>) => {
      const compiled = EventPattern.isEventPattern(pattern) ? pattern : EventPattern.makeUnsafe(pattern)
      return events.filter((event): event is EventPattern.Filter<E, P> => EventPattern.matches(compiled, event.type))
    }
  }
}

/**
 * Lists every platform event type.
 *
 * @category catalog
 * @since 0.1.0
 */
export const events = [
  Approval.ApprovalRequested,
  Approval.ApprovalApproved,
  Approval.ApprovalRejected,
  Approval.ApprovalEscalated,
  Approval.ApprovalExpired,
  Approval.ApprovalAutoApproved,
  User.UserInvited,
  User.UserJoined,
  User.UserLeft,
  Workspace.WorkspaceCreated,
  Workspace.WorkspaceUpdated,
  Workspace.WorkspaceDeleted,
  Agent.AgentStarted,
  Agent.AgentCompleted,
  Agent.AgentError,
  Agent.AgentConfirmationRequested,
  Audit.AuditLogged
] as const

/**
 * Represents any platform event type: the union of {@link events}.
 *
 * @category catalog
 * @since 0.1.0
 */
export type Event = (typeof events)[number]

/**
 * Provides the catalog of the platform's event types.
 *
 * @category catalog
 * @since 0.1.0
 */
export const platform: Catalog<Event> = make(events)

// --- internal ---

const hasName = <Name extends string>(name: Name) => <T extends EventType.Any>(
  event: T
): event is Extract<T, { readonly type: Name }> => event.type === name
