/**
 * The handlers of the `history` group: the event store's queries behind the API, confined to the
 * principal's tenant. Without a store they answer `StoreNotConfigured` (503).
 */
import { EventStore } from "@hyvve/bus"
import { Effect, Option } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import {
  AdminApi,
  EventDetail,
  Forbidden,
  NotFound,
  Principal,
  type PrincipalInfo,
  StoreNotConfigured,
  Trace,
  Unavailable
} from "../AdminApi.ts"
import * as Auth from "../Auth.ts"

const storeError = (error: EventStore.EventStoreError) =>
  error.kind === "NotConfigured"
    ? new StoreNotConfigured({
      message: "no event store is configured (set DATABASE_URL): events, deliveries and traces need it; replay works without it"
    })
    : new Unavailable({ message: error.message })

/**
 * The nodes of `nodes` the principal may see: another tenant's node is left out and its visible
 * descendants take its place.
 */
export const visibleNodes = (
  principal: PrincipalInfo,
  nodes: ReadonlyArray<EventStore.TraceNode>
): Array<EventStore.TraceNode> =>
  nodes.flatMap((node) => {
    const children = visibleNodes(principal, node.children)
    return Auth.sees(principal, node.event.tenantId) ? [{ ...node, children }] : children
  })

const count = (nodes: ReadonlyArray<EventStore.TraceNode>): number =>
  nodes.reduce((n, node) => n + 1 + count(node.children), 0)

/**
 * The `history` group's handlers.
 */
export const layer = HttpApiBuilder.group(AdminApi, "history", (handlers) =>
  Effect.map(EventStore.EventStore, (store) =>
    handlers
      .handle("event", ({ params }) =>
        Effect.gen(function*() {
          const principal = yield* Principal
          const found = yield* store.event(params.id).pipe(Effect.mapError(storeError))
          if (Option.isNone(found)) return yield* new NotFound({ message: `no event ${params.id} in the store`, id: params.id })
          if (!Auth.sees(principal, found.value.event.tenantId)) {
            return yield* new Forbidden({ message: `event ${params.id} is outside this token's tenant` })
          }
          return new EventDetail({ event: found.value.event, deliveries: found.value.deliveries })
        }))
      .handle("trace", ({ params }) =>
        Effect.gen(function*() {
          const principal = yield* Principal
          const trace = yield* store.trace(params.correlationId).pipe(Effect.mapError(storeError))
          if (trace.size === 0) {
            return yield* new NotFound({ message: `no events with correlation id ${params.correlationId}`, id: params.correlationId })
          }
          const roots = visibleNodes(principal, trace.roots)
          if (roots.length === 0) {
            return yield* new Forbidden({ message: `the trace of ${params.correlationId} is outside this token's tenant` })
          }
          return new Trace({ correlationId: trace.correlationId, roots, size: count(roots) })
        }))))
