/**
 * An application that registers its own events with `Consumer.Register`. Checked by its own `tsc`
 * run (`test/Register.test.ts`): the registration is global to a program, so it must not leak into
 * the main typecheck. Every `@ts-expect-error` proves that its line does not compile.
 */
import { Consumer, EventBus, RedisStream } from "@hyvve/bus"
import { Catalog, EventType } from "@hyvve/schema"
import { Effect, Schema } from "effect"

export const InvoicePaid = EventType.make("billing.invoice_paid", Schema.Struct({ invoiceId: Schema.String }), {
  aliases: ["billing.paid"]
})
export const InvoiceVoided = EventType.make("billing.invoice_voided", Schema.Struct({ reason: Schema.String }))
export const billing = Catalog.make([InvoicePaid, InvoiceVoided])

declare module "@hyvve/bus/Consumer" {
  interface Register {
    readonly events: (typeof billing.events)[number]
  }
}

// The same catalog at runtime: patterns resolve against it without a `catalog` option.
export const BusLive = EventBus.layer({ redis: RedisStream.options("redis://127.0.0.1:6379"), bus: { catalog: billing } })

export const program = Effect.gen(function*() {
  yield* Consumer.handle("billing.*", (event) => {
    switch (event.type) {
      case "billing.invoice_paid":
        return Effect.log(event.data.invoiceId)
      case "billing.invoice_voided":
        return Effect.log(event.data.reason)
    }
  })
  yield* Consumer.handle("billing.paid", (event) => Effect.log(event.data.invoiceId))
  yield* Consumer.handle("approval.*", (event) => Effect.log(event.type))
  // @ts-expect-error: registered events are still checked: nothing is named billing.refunded
  yield* Consumer.handle("billing.refunded", () => Effect.void)
  // @ts-expect-error: invoice_paid has no `reason`
  yield* Consumer.handle("billing.invoice_paid", (event) => Effect.log(event.data.reason))
})
