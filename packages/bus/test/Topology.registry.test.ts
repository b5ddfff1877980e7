/**
 * The stream registry under `family`, on memory (cross-slot steps rejected) and a real Redis: a
 * publisher whose catalog has a family the subscriber's lacks records its stream before its first
 * append; a `**` subscription that was already running (a handler, and a `subscribe` stream)
 * picks the stream up and reads it from its beginning, dead-lettering the events it cannot
 * decode as `UnknownEventType` (as it does under `single`, where every family is one stream), and
 * the DLQ, health and group views list the new stream. A restarted subscription goes on with the
 * same group. With and without an application (the new stream is read with a group on it, not
 * through the router, in both).
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, Dlq, Groups, Health, Publisher, Topology } from "@hyvve/bus"
import { Catalog, EventType } from "@hyvve/schema"
import { Effect, Schema, Stream } from "effect"
import { ctx, order, OrderPlaced, OrderShipped } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as Recorder from "./fixtures/Recorder.ts"
import * as Router from "../src/internal/router.ts"

/** A family only the publisher knows. */
const InvoicePaid = EventType.make("billing.invoice_paid", Schema.Struct({ invoiceId: Schema.String }))
const larger = Catalog.make([OrderPlaced, OrderShipped, InvoicePaid])

const scenario = (backend: Harness.Backend, caps: Harness.Capabilities) =>
  Effect.gen(function*() {
    const h = yield* Harness.make(backend, caps, "registry")
    const subscriber = yield* h.node()
    const rec = Recorder.make()
    yield* subscriber.run(Consumer.handle("**", rec.handler(subscriber.consumer), { group: "everything" }))
    const streamed: Array<string> = []
    yield* subscriber.run(
      Consumer.subscribe("**", { group: "streamed" }).pipe(
        Stream.runForEach((delivery) => Effect.andThen(Effect.sync(() => streamed.push(delivery.event.id)), delivery.ack))
      )
    ).pipe(Effect.forkChild)
    // On the stream, or (routed) on the subscription's inbox.
    const groupKey = caps.routed === true ? Router.inboxKey(h.main, "streamed") : h.main
    yield* h.waitUntil("the streamed subscription's group", Effect.map(h.redis.groups(groupKey), (gs) => gs.some((g) => g.name === "streamed")))

    const publisher = yield* h.node({ catalog: larger })
    const billing = Topology.of(publisher.settings).route({ type: InvoicePaid.type, tenantId: "tenant-a" })
    assert.isUndefined(Topology.of(subscriber.settings).find(billing.key), "the subscriber's layout does not list billing")
    const known = yield* publisher.run(Publisher.publish(OrderPlaced, order(1), ctx()))
    const paid = yield* Effect.forEach(["inv-1", "inv-2"], (invoiceId) =>
      publisher.run(Publisher.publish(InvoicePaid, { invoiceId }, ctx())))
    assert.include(yield* h.redis.hashFields(Topology.registryKey(h.prefix)), "billing")

    // Both `**` subscriptions read the new stream from its start: each event dead-lettered once.
    const dlqOf = (group: string) =>
      subscriber.run(Dlq.Dlq.use((dlq) => dlq.list({ filter: { group }, limit: 100 })))
    for (const group of ["everything", "streamed"]) {
      yield* h.waitUntil(`${group} to dead-letter the billing events`, Effect.map(dlqOf(group), (page) => page.entries.length >= 2), "10 seconds")
    }
    yield* h.waitUntil("the known event handled", () => rec.items.length >= 1 && streamed.length >= 1)
    yield* h.advance("800 millis")
    for (const group of ["everything", "streamed"]) {
      const entries = (yield* dlqOf(group)).entries
      const ids = entries.map((e) => (JSON.parse(e.event) as { readonly id: string }).id)
      assert.deepStrictEqual(ids.sort(), [...paid].sort(), `${group}: each billing event once`)
      assert.isTrue(entries.every((e) => e.error.tag === "UnknownEventType" && e.stream === billing.key))
    }
    assert.deepStrictEqual(rec.items.map((s) => s.eventId), [known])
    assert.deepStrictEqual(streamed, [known])

    // The operators' views of the subscriber (smaller catalog) list the stream too.
    const report = yield* subscriber.run(Health.check)
    assert.deepInclude(report.streams, { key: billing.key, length: 2 })
    assert.strictEqual(report.dlq.size, 4)
    const groups = yield* subscriber.run(Groups.list())
    assert.strictEqual(groups.find((g) => g.name === "everything")?.pending, 0)
    // A DLQ entry of the new stream is found by its id.
    const entry = (yield* dlqOf("everything")).entries[0]!
    assert.isTrue(yield* subscriber.run(Dlq.Dlq.use((dlq) => dlq.delete(entry.id))))
    assert.strictEqual(yield* subscriber.run(Dlq.Dlq.use((dlq) => dlq.size)), 3)

    // Restarted, the subscription finds the stream in the registry at once and goes on with the
    // same group where it was: the next event once, nothing read again.
    yield* subscriber.close
    const later = yield* publisher.run(Publisher.publish(InvoicePaid, { invoiceId: "inv-3" }, ctx()))
    const restarted = yield* h.node()
    yield* restarted.run(Consumer.handle("**", rec.handler(restarted.consumer), { group: "everything" }))
    const idsOf = (group: string) =>
      Effect.map(
        restarted.run(Dlq.Dlq.use((dlq) => dlq.list({ filter: { group }, limit: 100 }))),
        (page) => page.entries.map((e) => (JSON.parse(e.event) as { readonly id: string }).id)
      )
    yield* h.waitUntil("the event published while it was down", Effect.map(idsOf("everything"), (ids) => ids.includes(later)), "10 seconds")
    yield* h.advance("800 millis")
    const after = yield* idsOf("everything")
    assert.strictEqual(after.length, 2, `the one left and the new one, nothing read again: ${after}`)
    assert.strictEqual(after.filter((id) => id === later).length, 1)
    yield* h.waitUntil("nothing pending", Effect.map(h.pendingCount("everything", billing.key), (n) => n === 0))

    // Groups.ensure of a `**` subscription creates its group on the recorded stream too.
    yield* restarted.run(Groups.ensure("**", { group: "ensured" }))
    const onBilling = yield* h.redis.groups(billing.key)
    assert.isTrue(onBilling.some((g) => g.name === "ensured"), "the ensured group is on the billing stream")
  })

describe("Topology stream registry", () => {
  for (const routed of [false, true]) {
    const mode = routed ? ", routed" : ""
    it.effect(`memory${mode}: a \`**\` subscription reads a family recorded while it runs, and after a restart`, () =>
      scenario(Harness.memoryTopologyBackend("family"), { realTime: false, routed }))
    it.live(`redis${mode}: a \`**\` subscription reads a family recorded while it runs, and after a restart`, () =>
      scenario(Harness.redisTopologyBackend("family"), { realTime: true, routed }))
  }
})
