/**
 * Catalogs of event types: lookup by wire name and typed selection by pattern.
 *
 * `platform` is the catalog of the platform's own events (approvals, users, workspaces, agents, audit), defined in
 * `catalog/*.ts` and re-exported from the package root. `make` builds a catalog of any other set of event types,
 * e.g. the platform events plus a module's own; `merge` joins catalogs. Lookup and patterns see every name an event
 * type is read under, its aliases included.
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
import * as EventType from "./EventType.ts"

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
  /**
   * Returns the event type read under this wire name (its name or one of its aliases), narrowed to it when the
   * name is a literal.
   */
  readonly get: <const Name extends string>(name: Name) => Option.Option<ByName<E, Name>>
  /**
   * Returns the event types with a name or alias that matches a pattern, typed as exactly those members. A pattern
   * given as a string is compiled with `EventPattern.makeUnsafe` and throws when invalid.
   */
  readonly match: <const P extends string>(
    pattern: P | EventPattern.EventPattern<P>
  ) => ReadonlyArray<EventPattern.Filter<E, P>>
}

/**
 * Narrows a union of event types to the member read under the wire name `Name` (its name or an alias); every
 * member when `Name` is the wide `string`.
 *
 * @category models
 * @since 0.1.0
 */
export type ByName<E extends EventType.Any, Name extends string> = string extends Name ? E
  : E extends { readonly type: Name } ? E
  : E extends { readonly aliases: ReadonlyArray<infer Alias> } ? Name extends Alias ? E : never
  : never

/**
 * Creates a catalog from event types.
 *
 * **Gotchas**
 *
 * Two event types read under the same name (as name or alias) are a programmer error: `make` throws.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <const Events extends ReadonlyArray<EventType.Any>>(events: Events): Catalog<Events[number]> => {
  type E = Events[number]
  const byName = new Map<string, E>()
  for (const event of events) {
    for (const name of EventType.names(event)) {
      const known = byName.get(name)
      if (known !== undefined) {
        throw new globalThis.Error(
          known.type === name && event.type === name ?
            `Catalog declares event type "${name}" twice` :
            `Catalog reads the name "${name}" as both "${known.type}" and "${event.type}"`
        )
      }
      byName.set(name, event)
    }
  }
  return {
    events,
    names: events.map((event): EventType.Name<E> => event.type),
    get: <const Name extends string>(name: Name): Option.Option<ByName<E, Name>> => {
      const event = byName.get(name)
      return event !== undefined && isReadAs(event, name) ? Option.some(event) : Option.none()
    },
    match: <const P extends string>(pattern: P | EventPattern.EventPattern<P>) => {
      const compiled = EventPattern.isEventPattern(pattern) ? pattern : EventPattern.makeUnsafe(pattern)
      return events.filter((event): event is EventPattern.Filter<E, P> => EventPattern.matchesEvent(compiled, event))
    }
  }
}

/**
 * Joins catalogs into one, in order. An event type present in several (the same value) is kept once.
 *
 * **Gotchas**
 *
 * Two different event types read under the same name are a programmer error: `merge` throws, as `make` does.
 *
 * @category constructors
 * @since 0.1.0
 */
export const merge = <const Catalogs extends ReadonlyArray<Catalog<EventType.Any>>>(
  ...catalogs: Catalogs
): Catalog<Events<Catalogs[number]>> => {
  const events = new Set(catalogs.flatMap((catalog): ReadonlyArray<Events<Catalogs[number]>> => catalog.events))
  return make(Array.from(events))
}

/**
 * Extracts the event types of a catalog.
 *
 * @category models
 * @since 0.1.0
 */
export type Events<C extends Catalog<EventType.Any>> = C["events"][number]

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

// The map holds `event` under `name`; this states it in the type.
const isReadAs = <E extends EventType.Any, Name extends string>(event: E, name: Name): event is E & ByName<E, Name> =>
  EventType.hasName(event, name)
