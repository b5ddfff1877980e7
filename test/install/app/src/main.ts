/**
 * What a user writes: an event type of their own (with their own `effect`'s Schema) and one from
 * the platform catalog, a handler, a handler that dead-letters, the DLQ; on the in-memory bus and
 * on Redis (REDIS_URL), both through the public API of the installed packages.
 */
import { Consumer, Dlq, EventBus, Groups, IoRedisStream, Keys, Publisher, Retry } from "@hyvve/bus"
import type { Envelope } from "@hyvve/schema"
import { EventType } from "@hyvve/schema"
import { ApprovalApproved } from "@hyvve/schema/catalog/Approval"
import { Deferred, Effect, Schedule, Schema } from "effect"

export const InvoicePaid = EventType.make(
  "billing.invoice_paid",
  Schema.Struct({ invoiceId: Schema.String, amountCents: Schema.Int })
)

const context = { tenantId: "ws_1", userId: "usr_7" }

// Type tests: the packages' declarations must keep these errors (they vanish if types degrade to any).
export const typeTests = () => {
  // @ts-expect-error a field the payload does not have
  Publisher.publish(InvoicePaid, { invoiceId: "inv_1", amount: 1 }, context)
  // @ts-expect-error a decision the catalog does not allow
  Publisher.publish(ApprovalApproved, { approvalId: "a", decidedById: "u", decision: "maybe" }, context)
  const typed = (event: Envelope.Envelope<typeof InvoicePaid>): number => event.data.amountCents
  return typed
}

const scenario = (label: string) =>
  Effect.gen(function*() {
    const handled = yield* Deferred.make<string>()
    yield* Consumer.handle(InvoicePaid, (event) => Deferred.succeed(handled, event.data.invoiceId), { group: "billing" })
    yield* Consumer.handle(InvoicePaid, () => Effect.fail(new Retry.NonRetryable({ message: "rejected by audit" })), {
      group: "audit"
    })
    yield* Publisher.publish(InvoicePaid, { invoiceId: "inv_1", amountCents: 1200 }, context)
    yield* Publisher.publish(ApprovalApproved, { approvalId: "apr_1", decidedById: "usr_7", decision: "approved" }, context)
    const invoice = yield* Deferred.await(handled)
    const dlq = yield* Dlq.Dlq
    yield* dlq.size.pipe(
      Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (size) => size >= 1 }),
      Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die(new Error("no DLQ entry within 20 s")) })
    )
    const page = yield* dlq.list()
    const entry = page.entries[0]
    console.log(`${label}: handled ${invoice}; dlq ${page.entries.length} ${entry?.type} group=${entry?.group} "${entry?.error.message}"`)
  })

export const main = async (): Promise<void> => {
  await Effect.runPromise(Effect.scoped(scenario("memory")).pipe(Effect.provide(EventBus.layerMemory({ block: "100 millis" }))))

  const prefix = `hyvve-install-${process.pid}-${Date.now()}`
  // REDIS_URL from the environment, like EventBusLive; the overrides keep this run's keys apart.
  const redis = EventBus.layerFromEnv({ prefix, block: "200 millis" })
  const cleanup = Effect.andThen(Groups.deleteStream(), Groups.deleteStream(Keys.dlq(prefix)))
  await Effect.runPromise(
    Effect.gen(function*() {
      const pong = yield* IoRedisStream.use((client) => client.ping())
      yield* Effect.scoped(scenario(`redis (client ${pong})`))
    }).pipe(Effect.ensuring(Effect.ignore(cleanup)), Effect.provide(redis))
  )
}
