/**
 * The application router (`internal/router.ts`) on both backends (memory on `TestClock`, Redis on
 * the wall clock): what only routed subscriptions do — one read per application, forwarding
 * for subscriptions a process does not run (rolling deploys), taking over a dead router's
 * entries, removing a subscription, and routes lost with the data of a Redis restarted empty.
 * The bus contract in application mode is `EventBus.routed.*.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, Groups, Publisher } from "@hyvve/bus"
import { Effect } from "effect"
import * as Router from "../src/internal/router.ts"
import { ctx, order, OrderPlaced, OrderShipped, orders } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as Recorder from "./fixtures/Recorder.ts"

const suite = (backend: Harness.Backend, caps: Harness.Capabilities) => {
  const test = caps.realTime ? it.live : it.effect
  const routed = { ...caps, routed: true }
  const routerGroup = Router.groupName(Harness.application)
  const shipped = (seq: number) => ({ orderId: `order-${seq}`, carrier: "dhl" })

  describe(`Router (${backend.name})`, () => {
    test("the stream is read once per application: only the router's group is on it, and each inbox gets only its types", () =>
      Effect.gen(function*() {
        const h = yield* Harness.make(backend, routed, "once")
        const node = yield* h.node()
        const rec = Recorder.make()
        yield* node.run(Consumer.handle(OrderPlaced, rec.handler(node.consumer), { group: "placed" }))
        yield* node.run(Consumer.handle(OrderShipped, rec.handler(node.consumer), { group: "shipped" }))
        yield* node.run(Consumer.handle(OrderShipped, rec.handler(node.consumer), { group: "isolated", isolated: true }))
        yield* node.run(Publisher.publishBatch(orders(0, 5)))
        yield* node.run(Publisher.publish(OrderShipped, shipped(1), ctx()))
        yield* h.waitUntil("every delivery", () => rec.items.length >= 7)
        yield* h.waitUntil("everything settled", Effect.map(
          Effect.all([h.pendingCount("placed"), h.pendingCount("shipped"), h.pendingCount("isolated")]),
          (counts) => counts.every((n) => n === 0)
        ))
        assert.strictEqual(rec.of("placed").length, 5)
        assert.strictEqual(rec.of("shipped").length, 1)
        assert.strictEqual(rec.of("isolated").length, 1)
        const onStream = (yield* h.redis.groups(h.main)).map((g) => g.name).sort()
        assert.deepStrictEqual(onStream, ["isolated", routerGroup].sort(), "routed groups are not on the stream")
        // Settled inbox entries are deleted: inboxes do not grow.
        assert.strictEqual(yield* h.redis.length(Router.inboxKey(h.main, "placed")), 0)
        assert.strictEqual(yield* h.redis.length(Router.inboxKey(h.main, "shipped")), 0)
      }))

    test("a process forwards for a subscription it does not run (rolling deploy), and the route's inbox keeps the events", () =>
      Effect.gen(function*() {
        const h = yield* Harness.make(backend, routed, "rolling")
        const rec = Recorder.make()
        // The old version runs only `placed`; the new one adds `shipped`, then goes away.
        const old = yield* h.node()
        yield* old.run(Consumer.handle(OrderPlaced, rec.handler("old"), { group: "placed" }))
        const next = yield* h.node()
        yield* next.run(Consumer.handle(OrderShipped, rec.handler("next"), { group: "shipped" }))
        yield* next.close
        const ids = yield* Effect.forEach([1, 2, 3], (n) => old.run(Publisher.publish(OrderShipped, shipped(n), ctx())))
        yield* old.run(Publisher.publish(OrderPlaced, order(9), ctx()))
        yield* h.waitUntil("the old version's router to forward the new route's events", Effect.map(
          h.redis.length(Router.inboxKey(h.main, "shipped")),
          (n) => n === 3
        ))
        yield* h.waitUntil("its own event handled", () => rec.of("placed").length === 1)
        const again = yield* h.node()
        yield* again.run(Consumer.handle(OrderShipped, rec.handler("again"), { group: "shipped" }))
        yield* h.waitUntil("the kept events handled", () => rec.of("shipped").length >= 3)
        yield* h.advance("500 millis")
        assert.deepStrictEqual(rec.of("shipped").map((s) => s.eventId), ids, "each once, in order")
        assert.deepStrictEqual(rec.of("shipped").map((s) => s.info.stream), [h.main, h.main, h.main])
      }))

    test("entries a dead router held are forwarded by a live one after the claim timeout, each once", () =>
      Effect.gen(function*() {
        const h = yield* Harness.make(backend, routed, "takeover")
        const rec = Recorder.make()
        const first = yield* h.node()
        yield* first.run(Consumer.handle(OrderPlaced, rec.handler("first"), { group: "placed" }))
        yield* first.close
        // Another process's router reads a batch and dies before its forward step.
        const ids = yield* first.run(Publisher.publishBatch(orders(0, 20)))
        const stolen = yield* h.redis.readGroup({ keys: [h.main], group: routerGroup, consumer: "dead", count: 10, block: "10 millis" })
        assert.strictEqual(stolen.length, 10)
        const node = yield* h.node()
        yield* node.run(Consumer.handle(OrderPlaced, rec.handler(node.consumer), { group: "placed" }))
        yield* h.waitUntil("every event handled", () => rec.distinct("placed").size === ids.length, "10 seconds")
        yield* h.waitUntil("nothing left to forward", Effect.map(h.pendingCount("placed"), (n) => n === 0))
        yield* h.advance("500 millis")
        for (const id of ids) assert.strictEqual(rec.count("placed", id), 1, "forwarded and handled once")
        const consumers = yield* h.redis.consumers(h.main, routerGroup)
        assert.strictEqual(consumers.find((c) => c.name === "dead")?.pending ?? 0, 0, "the dead router holds nothing")
      }))

    test("Groups.ensure routes a subscription before it runs: what is published meanwhile reaches it", () =>
      Effect.gen(function*() {
        const h = yield* Harness.make(backend, routed, "ensure")
        const node = yield* h.node()
        assert.strictEqual(yield* node.run(Groups.ensure(OrderPlaced, { group: "early" })), "early")
        const onStream = (yield* h.redis.groups(h.main)).map((g) => g.name)
        assert.deepStrictEqual(onStream, [routerGroup], "the router's group, not the subscription's")
        const ids = yield* node.run(Publisher.publishBatch(orders(0, 3)))
        const rec = Recorder.make()
        yield* node.run(Consumer.handle(OrderPlaced, rec.handler(node.consumer), { group: "early" }))
        yield* h.waitUntil("the events published before it ran", () => rec.of("early").length >= 3)
        assert.deepStrictEqual(rec.of("early").map((s) => s.eventId), [...ids])
      }))

    test("removing a subscription deregisters its route and deletes its inbox", () =>
      Effect.gen(function*() {
        const h = yield* Harness.make(backend, routed, "remove")
        const first = yield* h.node()
        const rec = Recorder.make()
        yield* first.run(Consumer.handle(OrderPlaced, rec.handler("first"), { group: "placed" }))
        yield* first.run(Consumer.handle(OrderShipped, rec.handler("first"), { group: "shipped" }))
        yield* first.close
        yield* first.run(Publisher.publish(OrderShipped, shipped(0), ctx())).pipe(Effect.ignore)
        const node = yield* h.node()
        assert.strictEqual(yield* node.run(Groups.remove(OrderShipped, { group: "shipped" })), "shipped")
        assert.strictEqual(yield* h.redis.length(Router.inboxKey(h.main, "shipped")), 0)
        yield* node.run(Consumer.handle(OrderPlaced, rec.handler(node.consumer), { group: "placed" }))
        yield* node.run(Publisher.publish(OrderShipped, shipped(1), ctx()))
        const placed = yield* node.run(Publisher.publish(OrderPlaced, order(1), ctx()))
        yield* h.waitUntil("the remaining subscription's event", () => rec.count("placed", placed) === 1)
        yield* h.waitUntil("the router done", Effect.map(h.pendingCount("placed"), (n) => n === 0))
        assert.strictEqual(yield* h.redis.length(Router.inboxKey(h.main, "shipped")), 0, "nothing forwarded to it")
        const routes = yield* Router.routes(h.redis, h.main, Harness.application)
        assert.deepStrictEqual(routes.map((r) => r.group), ["placed"])
      }))

    test("after Redis lost everything (restarted empty) routes are registered again and new events arrive", () =>
      Effect.gen(function*() {
        const h = yield* Harness.make(backend, routed, "empty-restart")
        const node = yield* h.node()
        const rec = Recorder.make()
        yield* node.run(Consumer.handle(OrderPlaced, rec.handler(node.consumer), { group: "placed" }))
        const first = yield* node.run(Publisher.publish(OrderPlaced, order(0), ctx()))
        yield* h.waitUntil("the first event", () => rec.count("placed", first) === 1)
        const inbox = Router.inboxKey(h.main, "placed")
        yield* h.redis.deleteKeys([h.main, inbox, Router.routesKey(h.main, Harness.application)])
        const later = yield* Effect.forEach([1, 2, 3], (n) => node.run(Publisher.publish(OrderPlaced, order(n), ctx())))
        yield* h.waitUntil("the events appended after the loss", () => later.every((id) => rec.count("placed", id) === 1), "10 seconds")
        const routes = yield* Router.routes(h.redis, h.main, Harness.application)
        assert.deepStrictEqual(routes.map((r) => r.group), ["placed"])
      }))
  })
}

suite(Harness.memoryBackend, { realTime: false })
suite(Harness.redisBackend(), { realTime: true })
