/**
 * How a subscription resolves what it receives: aliases (in the entry's `type` field, or only in
 * the envelope), the bus's catalog as the default for patterns, and names known only at runtime
 * that match nothing. Memory backend.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, Consumer, EventBus, Publisher, RedisStream } from "@hyvve/bus"
import { ApprovalApproved, Catalog, type Envelope, EventType } from "@hyvve/schema"
import { Data, Effect, Queue, Schema } from "effect"
import { TestClock } from "effect/testing"
import { envelopeJson } from "./fixtures/events.ts"

const InvoicePaid = EventType.make("billing.invoice_paid", Schema.Struct({ invoiceId: Schema.String }), {
  aliases: ["billing.paid"]
})
const billing = Catalog.make([InvoicePaid])

class Declined extends Data.TaggedError("Declined")<{ readonly amountCents: number }> {}

const approved = { approvalId: "apr_1", decidedById: "usr_7", decision: "approved" } as const
const approvedJson = (type: string) => envelopeJson({ type, data: approved })

// Lets the in-memory workers run until `n` events are in the queue (time moves in 10 ms steps).
const takeN = <A>(queue: Queue.Queue<A>, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500 && (yield* Queue.size(queue)) < n; i++) yield* TestClock.adjust("10 millis")
    return yield* Queue.takeN(queue, n)
  })

const main = BusConfig.BusConfig.useSync((settings) => `${settings.prefix}:events:main`)

describe("subscriptions", () => {
  it.effect("an alias reaches a typed subscription, in the type field or only in the envelope; any field order", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<Envelope.Envelope<typeof ApprovalApproved>>()
      yield* Consumer.handle(ApprovalApproved, (event) => Queue.offer(received, event), { group: "typed" })
      const redis = yield* RedisStream.RedisStream
      const key = yield* main
      yield* redis.append(key, { event: approvedJson("approval.granted"), type: "approval.granted", tenant: "tenant-a" })
      yield* redis.append(key, { event: approvedJson("approval.item.approved") })
      yield* redis.append(key, { event: approvedJson("approval.rejected"), type: "approval.rejected" })
      // The field order this bus wrote before `event` went first.
      yield* redis.append(key, { type: "approval.approved", tenant: "tenant-a", event: approvedJson("approval.approved") })
      const events = yield* takeN(received, 3)
      assert.deepStrictEqual(events.map((e) => e.type), ["approval.approved", "approval.approved", "approval.approved"])
      assert.deepStrictEqual(events.map((e) => e.data), [approved, approved, approved])
    }).pipe(Effect.provide(EventBus.layerMemory())))

  it.effect("patterns resolve against the bus's catalog by default, the platform's merged with the app's", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<string>()
      yield* Consumer.handle("billing.*", (event) => Queue.offer(received, event.data.invoiceId), { group: "billing", catalog: billing })
      // The same, from the bus's configuration: a name known at runtime, no catalog option.
      const fromConfig: string = "billing.*"
      yield* Consumer.handle(fromConfig, (event) => Queue.offer(received, `config:${event.type}`), { group: "config" })
      yield* Publisher.publish(InvoicePaid, { invoiceId: "inv_1" }, { tenantId: "ws_1", userId: "usr_1" })
      const redis = yield* RedisStream.RedisStream
      yield* redis.append(yield* main, {
        event: envelopeJson({ type: "billing.paid", data: { invoiceId: "inv_2" } })
      })
      const got = yield* takeN(received, 4)
      assert.sameMembers([...got], ["inv_1", "inv_2", "config:billing.invoice_paid", "config:billing.invoice_paid"])
    }).pipe(Effect.provide(EventBus.layerMemory({ catalog: billing }))))

  it.effect("a name known only at runtime that matches nothing fails the subscription with NoMatchingEvents", () =>
    Effect.gen(function*() {
      const typo: string = "approval.aproved"
      const error = yield* Effect.flip(Consumer.handle(typo, () => Effect.void))
      assert.instanceOf(error, Consumer.NoMatchingEvents)
      assert.strictEqual(error._tag, "NoMatchingEvents")
      assert.include(error.message, `"approval.aproved"`)
      const billingWithoutCatalog: string = "billing.*"
      const stream = yield* Effect.flip(Consumer.subscribeScoped(billingWithoutCatalog))
      assert.instanceOf(stream, Consumer.NoMatchingEvents)
    }).pipe(Effect.provide(EventBus.layerMemory())))

  it.effect("the retry policy receives the handler's tagged error", () =>
    Effect.gen(function*() {
      const seen = yield* Queue.unbounded<number>()
      yield* Consumer.handle(ApprovalApproved, () => Effect.fail(new Declined({ amountCents: 42 })), {
        group: "typed-retry",
        retryable: (failure) => {
          if (failure.tag === "Declined") Queue.offerUnsafe(seen, failure.error.amountCents)
          return false
        }
      })
      yield* Publisher.publish(ApprovalApproved, approved, { tenantId: "ws_1", userId: "usr_1" })
      assert.deepStrictEqual(yield* takeN(seen, 1), [42])
    }).pipe(Effect.provide(EventBus.layerMemory())))
})
