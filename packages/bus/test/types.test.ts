/**
 * Type-level tests of the bus's public signatures: `tsc` checks this file (it is in the
 * typecheck's `include`), so every `@ts-expect-error` below proves that the marked line does not
 * compile. At run time the calls only build Effects that are never run.
 */
import { describe, expectTypeOf, it } from "@effect/vitest"
import { Consumer, type Delivery, Publisher, Retry } from "@hyvve/bus"
import { type AgentCompleted, ApprovalApproved, type ApprovalRequested, Catalog, type Envelope, EventType } from "@hyvve/schema"
import { Data, Duration, Effect, Schedule, Schema, type Stream } from "effect"

class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{ readonly message: string; readonly amountCents: number }> {}
class RateLimited extends Data.TaggedError("RateLimited")<{ readonly message: string; readonly retryAfterMs: number }> {}

const InvoicePaid = EventType.make("billing.invoice_paid", Schema.Struct({ invoiceId: Schema.String }))
const InvoiceVoided = EventType.make("billing.invoice_voided", Schema.Struct({ invoiceId: Schema.String }))
const billing = Catalog.make([InvoicePaid, InvoiceVoided])

const context = { tenantId: "ws_1", userId: "usr_1" }
const approved = { approvalId: "apr_1", decidedById: "usr_1", decision: "approved" } as const

type EventOf<S extends Stream.Stream<Delivery.Delivery<EventType.Any>, unknown, unknown>> = S extends
  Stream.Stream<Delivery.Delivery<infer E>, unknown, unknown> ? E : never

describe("types", () => {
  it("publishBatch checks the payload of items written as object literals", () => {
    Publisher.publishBatch([
      { event: ApprovalApproved, payload: approved, context },
      { event: InvoicePaid, payload: { invoiceId: "inv_1" }, context }
    ])
    Publisher.publishBatch([
      // @ts-expect-error: not a payload of approval.approved
      { event: ApprovalApproved, payload: { nope: 1 }, context }
    ])
    Publisher.publishBatch([
      { event: InvoicePaid, payload: { invoiceId: "inv_1" }, context },
      // @ts-expect-error: the payload of billing.invoice_paid, not approval.approved
      { event: ApprovalApproved, payload: { invoiceId: "inv_1" }, context }
    ])
    // `item(...)` and arrays built elsewhere keep working.
    Publisher.publishBatch([Publisher.item(ApprovalApproved, approved, context), Publisher.item(InvoicePaid, { invoiceId: "i" }, context)])
    const built: ReadonlyArray<Publisher.Item<typeof InvoicePaid>> = []
    Publisher.publishBatch(built)
  })

  it("a literal name or pattern that matches no event does not compile", () => {
    // @ts-expect-error: a typo matches nothing
    Consumer.subscribe("approval.aproved")
    // @ts-expect-error: nothing is named approvals.*
    Consumer.handle("approvals.*", () => Effect.void)
    // @ts-expect-error: the billing events are not in the platform catalog
    Consumer.handle("billing.*", () => Effect.void)
    // @ts-expect-error: nor in the catalog given
    Consumer.subscribe("approval.*", { catalog: billing })
    Consumer.subscribe("approval.approved")
    Consumer.subscribe("approval.*")
    Consumer.handle("billing.*", () => Effect.void, { catalog: billing })
    // A string known only at runtime is checked when the subscription starts (NoMatchingEvents).
    const fromConfig: string = "approval.*"
    Consumer.subscribe(fromConfig)
    expectTypeOf<Consumer.Source<"approval.aproved">>().toEqualTypeOf<
      `no event type in the catalog is named or matches "approval.aproved"`
    >()
  })

  it("names and patterns resolve to the event types they match, aliases included", () => {
    expectTypeOf<EventOf<ReturnType<typeof Consumer.subscribe<"approval.granted">>>>().toEqualTypeOf<
      typeof ApprovalApproved
    >()
    expectTypeOf<Consumer.EventsOf<"approval.created">>().toEqualTypeOf<typeof ApprovalRequested>()
    expectTypeOf<Consumer.EventsOf<"agent.run.*">>().toEqualTypeOf<typeof AgentCompleted>()
    expectTypeOf<Consumer.EventsOf<"billing.*", typeof InvoicePaid | typeof InvoiceVoided>>().toEqualTypeOf<
      typeof InvoicePaid | typeof InvoiceVoided
    >()
    Consumer.handle("billing.*", (event) => {
      expectTypeOf(event.type).toEqualTypeOf<"billing.invoice_paid" | "billing.invoice_voided">()
      return Effect.void
    }, { catalog: billing })
    Consumer.handle("approval.item.approved", (event) => {
      expectTypeOf(event).toEqualTypeOf<Envelope.Envelope<typeof ApprovalApproved>>()
      return Effect.void
    })
  })

  it("the retry policy sees the handler's error type", () => {
    const handler = (): Effect.Effect<void, PaymentDeclined | RateLimited> => Effect.void
    Consumer.handle(ApprovalApproved, handler, {
      retryable: (failure) => {
        expectTypeOf(failure).toEqualTypeOf<Retry.Failure<PaymentDeclined | RateLimited | Consumer.HandlerTimeout>>()
        switch (failure.tag) {
          case "PaymentDeclined":
            return failure.error.amountCents < 10_000
          case "RateLimited":
            return failure.error.retryAfterMs < 60_000
          case "HandlerTimeout":
            return failure.error.millis < 1_000
          case "Defect":
            expectTypeOf(failure.error).toEqualTypeOf<unknown>()
            return false
          case "Unknown":
            return false
        }
      }
    })
    Consumer.handle(ApprovalApproved, handler, {
      // @ts-expect-error: PaymentDeclined has no retryAfterMs
      retryable: (failure) => failure.tag === "PaymentDeclined" && failure.error.retryAfterMs > 0
    })

    // A custom Schedule over the same failures: back off longer when rate limited.
    const schedule = Schedule.spaced("1 second").pipe(
      Schedule.setInputType<Retry.Failure<PaymentDeclined | RateLimited | Consumer.HandlerTimeout>>(),
      Schedule.modifyDelay(({ duration, input }) =>
        Effect.succeed(input.tag === "RateLimited" ? Duration.millis(input.error.retryAfterMs) : duration)
      ),
      Schedule.upTo({ times: 5 })
    )
    Consumer.handle(ApprovalApproved, handler, { retry: schedule })
    const other = Schedule.spaced("1 second").pipe(Schedule.setInputType<Retry.Failure<RateLimited>>())
    // @ts-expect-error: a schedule for another handler's errors
    Consumer.handle(ApprovalApproved, (): Effect.Effect<void, PaymentDeclined> => Effect.void, { retry: other })
    // Schedules that ignore their input, and the defaults, fit every handler.
    Consumer.handle(ApprovalApproved, handler, { retry: Retry.exponential("1 second", 3), retryable: Retry.isRetryable })
  })
})
