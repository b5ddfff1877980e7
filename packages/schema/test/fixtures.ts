import { Envelope, EventId, type EventType } from "../src/index.ts"

/** A complete, valid set of header fields for `EventType.makeEnvelope`. */
export const meta = {
  id: EventId.EventId.make("evt_1"),
  timestamp: Envelope.Timestamp.make("2026-01-31T12:00:00.000Z"),
  source: "approvals",
  correlationId: "corr_1",
  tenantId: "tenant_1",
  userId: "user_1"
} satisfies EventType.Meta

/** A traceparent the W3C specification accepts. */
export const traceparent = Envelope.Traceparent.make("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")

/** The envelope's header fields in the seeds' order, which the wire format keeps. */
export const headerOrder = [
  "id",
  "type",
  "source",
  "timestamp",
  "correlationId",
  "tenantId",
  "userId",
  "version",
  "data"
] as const
