/**
 * Topologies on the in-memory backend with cluster slots enforced: key layout and slots (against
 * the `cluster-key-slot` package ioredis uses), configuration, routing, per-partition order, the
 * DLQ across streams, and what `publishBatch` guarantees across streams.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusConfig, Consumer, Dlq, EventBus, Groups, Health, Keys, Publisher, RedisStream, Retry, Testing, Topology } from "@hyvve/bus"
import { ApprovalApproved, ApprovalRequested, Catalog, UserInvited } from "@hyvve/schema"
import calculateSlot from "cluster-key-slot"
import { ConfigProvider, Effect, Exit, Layer, Option, Result, Scope } from "effect"
import * as Slot from "../src/internal/slot.ts"
import * as Settlement from "../src/internal/settlement.ts"
import { ctx, order, OrderPlaced, orderItem, testCatalog } from "./fixtures/events.ts"
import * as Recorder from "./fixtures/Recorder.ts"

const settingsOf = (options: BusConfig.Options) => BusConfig.make({ prefix: "hyvve", ...options })

/** Every key a settle step of `group` on `stream` can touch. */
const stepKeys = (stream: Topology.StreamKeys, group: string) => {
  const redeliver = stream.redeliver(group)
  return [
    stream.key,
    stream.dlq,
    stream.done(group),
    redeliver,
    Settlement.retryKey(stream.key, group),
    Settlement.failuresKey(stream.key, group),
    Settlement.retryKey(redeliver, group),
    Settlement.failuresKey(redeliver, group)
  ]
}

/** A bus over one in-memory server that rejects cross-slot steps. */
const busWith = (options: BusConfig.Options) =>
  EventBus.layerServices().pipe(
    Layer.provideMerge(RedisStream.layerMemoryWith({ enforceSlots: true })),
    Layer.provideMerge(
      BusConfig.layer({ retryPoll: "10 millis", claimTimeout: "300 millis", block: "100 millis", catalog: testCatalog, ...options })
    )
  )

const rejectAll = () => Effect.fail(new Retry.NonRetryable({ message: "rejected by the test" }))

describe("Topology", () => {
  describe("keys", () => {
    it("the slot function is the cluster's (cluster-key-slot)", () => {
      const keys = [
        "hyvve:events:main",
        "hyvve:events:{hyvve:approval}:retry:g",
        "{user1000}.following",
        "foo{{bar}}zap",
        "foo{bar}{zap}",
        "x{",
        "ünïcödé:{tag}",
        "日本語",
        ""
      ]
      for (let i = 0; i < 200; i++) keys.push(`hyvve:events:{hyvve:partition-${i}-of-200}`, `k${i * 7919}`)
      for (const key of keys) assert.strictEqual(Slot.of(key), calculateSlot(key), key)
      // An empty tag hashes the whole key (Redis's keyHashSlot); cluster-key-slot reads on to the
      // next `}` there, a case no bus key has.
      assert.strictEqual(Slot.hashTagOf("foo{}{bar}"), "foo{}{bar}")
    })

    it("single keeps the 0.1 and NestJS key names exactly", () => {
      const layout = Topology.of(settingsOf({}))
      assert.isFalse(layout.tagged)
      assert.strictEqual(layout.streams.length, 1)
      const [main] = layout.streams
      assert.strictEqual(main!.key, "hyvve:events:main")
      assert.strictEqual(main!.dlq, "hyvve:events:dlq")
      assert.strictEqual(main!.redeliver("g"), "hyvve:events:redeliver:g")
      assert.strictEqual(main!.done("g"), "hyvve:events:done:g")
      assert.strictEqual(main!.key, Keys.main("hyvve"))
      assert.strictEqual(layout.route({ type: "user.invited", tenantId: "t" }), main)
    })

    it("in tagged layouts every key of a stream shares its slot, and streams spread over slots", () => {
      const family = Topology.of(settingsOf({ topology: "family", catalog: testCatalog }))
      const partitioned = Topology.of(settingsOf({ topology: "partitioned:16" }))
      const single = Topology.of(settingsOf({ hashTags: true }))
      assert.strictEqual(single.streams[0]!.key, "hyvve:events:{hyvve:main}")
      assert.deepStrictEqual(
        family.streams.map((s) => s.name),
        ["approval", "user", "workspace", "agent", "audit", "test"]
      )
      assert.strictEqual(partitioned.streams.length, 16)
      for (const layout of [family, partitioned, single]) {
        assert.isTrue(layout.tagged)
        for (const stream of layout.streams) {
          const slots = new Set(stepKeys(stream, "hyvve-platform:approval.*").map(calculateSlot))
          assert.strictEqual(slots.size, 1, `${stream.key}: one slot for all its keys`)
        }
        const slots = new Set(layout.streams.map((s) => calculateSlot(s.key)))
        assert.strictEqual(slots.size, layout.streams.length, "each stream its own slot")
      }
    })

    it("partitions spread evenly over the masters of an evenly split cluster, for any prefix", () => {
      // Three and five masters holding equal contiguous slot ranges (what `redis-cli --cluster create` does).
      const masterOf = (slot: number, masters: number) => Math.floor((slot * masters) / Slot.slots)
      for (const masters of [3, 5]) {
        for (const partitions of [masters, masters * 2, 12, 16]) {
          for (const prefix of ["hyvve", "billing", "t-1", "x"]) {
            const streams = Topology.of(settingsOf({ prefix, topology: `partitioned:${partitions}` })).streams
            const perMaster = new Array<number>(masters).fill(0)
            for (const stream of streams) perMaster[masterOf(calculateSlot(stream.key), masters)]!++
            // Plain names (before the salt) left a master unused for partitioned:3 and :6 on three masters.
            // A multiple of the master count divides exactly; other counts use every master, off by 2 at most.
            const label = `${prefix}, partitioned:${partitions} over ${masters} masters: ${perMaster.join("/")}`
            assert.isAtLeast(Math.min(...perMaster), 1, label)
            assert.isAtMost(Math.max(...perMaster) - Math.min(...perMaster), partitions % masters === 0 ? 0 : 2, label)
          }
        }
      }
      // The names stay readable; the tag carries the salt only when the plain name lands elsewhere.
      const layout = Topology.of(settingsOf({ topology: "partitioned:1024" }))
      assert.strictEqual(layout.streams.length, 1024)
      assert.strictEqual(new Set(layout.streams.map((s) => calculateSlot(s.key))).size, 1024)
      assert.match(layout.streams[5]!.key, /^hyvve:events:\{hyvve:partition-5-of-1024(~\d+)?\}$/)
      assert.strictEqual(layout.streams[5]!.name, "partition-5-of-1024")
    })

    it("a family layout routes by the first segment; a partitioned one by tenant or partition key", () => {
      const family = Topology.of(settingsOf({ topology: "family" }))
      assert.strictEqual(family.route({ type: "approval.approved", tenantId: "t" }).name, "approval")
      assert.deepStrictEqual(family.streamsFor(["approval.requested", "approval.approved", "user.invited"]).map((s) => s.name), [
        "approval",
        "user"
      ])
      const byTenant = Topology.of(settingsOf({ topology: "partitioned:8" }))
      const byKey = Topology.of(settingsOf({ topology: "partitioned:8:aggregate" }))
      const a = byTenant.route({ type: "x.y", tenantId: "tenant-a", partitionKey: "order-1" })
      assert.strictEqual(a.name, `partition-${Topology.partitionOf("tenant-a", 8)}-of-8`)
      assert.strictEqual(byKey.route({ type: "x.y", tenantId: "tenant-a", partitionKey: "order-1" }).name, `partition-${Topology.partitionOf("order-1", 8)}-of-8`)
      assert.strictEqual(byKey.route({ type: "x.y", tenantId: "tenant-a" }).key, a.key, "no partition key: the tenant's")
      assert.strictEqual(byTenant.streamsFor(["x.y"]).length, 8, "any type can be in any partition")
    })
  })

  describe("configuration", () => {
    const fromEnv = (env: Record<string, string>) =>
      BusConfig.settingsFromEnv().pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))), Effect.result)

    it.effect("HYVVE_TOPOLOGY, HYVVE_TOPOLOGY_PREVIOUS and HYVVE_HASH_TAGS are read and checked", () =>
      Effect.gen(function*() {
        const ok = yield* fromEnv({ HYVVE_TOPOLOGY: "partitioned:16:aggregate", HYVVE_TOPOLOGY_PREVIOUS: "single", HYVVE_HASH_TAGS: "true" })
        assert.isTrue(Result.isSuccess(ok))
        const settings = Result.getOrThrow(ok)
        assert.deepStrictEqual(settings.topology, Topology.partitioned(16, "aggregate"))
        assert.deepStrictEqual(settings.previousTopology, Topology.single)
        assert.isTrue(settings.hashTags)
        assert.deepStrictEqual(Result.getOrThrow(yield* fromEnv({})).topology, Topology.single)

        for (const [variable, value] of [
          ["HYVVE_TOPOLOGY", "partitioned:0"],
          ["HYVVE_TOPOLOGY", "partitioned:4:region"],
          ["HYVVE_TOPOLOGY", "families"],
          ["HYVVE_TOPOLOGY_PREVIOUS", "partitioned"],
          ["HYVVE_HASH_TAGS", "maybe"]
        ] as const) {
          const bad = yield* fromEnv({ [variable]: value })
          assert.isTrue(Result.isFailure(bad), `${variable}=${value}`)
          if (Result.isFailure(bad)) {
            assert.strictEqual(bad.failure.variable, variable)
            assert.strictEqual(bad.failure.value, value)
            assert.include(bad.failure.message, variable === "HYVVE_HASH_TAGS" ? "true or false" : "partitioned:N")
          }
        }
        const braces = yield* fromEnv({ HYVVE_TOPOLOGY: "family", HYVVE_PREFIX: "app{1}" })
        assert.isTrue(Result.isFailure(braces) && braces.failure.variable === "HYVVE_PREFIX")
        assert.throws(() => BusConfig.make({ topology: "partitioned:2000" }), /topology/)
      }))
  })

  describe("the memory backend with enforceSlots", () => {
    it.effect("rejects a transaction and a read over two slots, as a cluster does", () =>
      Effect.gen(function*() {
        const redis = yield* RedisStream.RedisStream
        const [a, b] = Topology.of(settingsOf({ topology: "family" })).streams
        const cross = yield* redis.transaction([
          { _tag: "XAdd", key: a!.key, fields: { event: "{}" } },
          { _tag: "XAdd", key: b!.key, fields: { event: "{}" } }
        ]).pipe(Effect.flip)
        assert.include(cross.message, "CROSSSLOT")
        assert.strictEqual(yield* redis.length(a!.key), 0, "nothing of the rejected step applied")
        yield* redis.createGroup(a!.key, "g", "0")
        yield* redis.createGroup(b!.key, "g", "0")
        const read = yield* redis.readGroup({ keys: [a!.key, b!.key], group: "g", consumer: "c", count: 1, block: "1 millis" }).pipe(
          Effect.flip
        )
        assert.include(read.message, "CROSSSLOT")
        // One tag: fine.
        yield* redis.transaction([
          { _tag: "XAdd", key: a!.key, fields: { event: "{}" } },
          { _tag: "XAdd", key: a!.redeliver("g"), fields: { event: "{}" } }
        ])
      }).pipe(Effect.provide(RedisStream.layerMemoryWith({ enforceSlots: true }))))
  })

  describe("partitioned", () => {
    it.effect("each tenant's events stay in one partition and are handled in order at concurrency 1", () =>
      Effect.gen(function*() {
        const rec = Recorder.make()
        yield* Consumer.handle(OrderPlaced, rec.handler("c"), { group: "ordered" })
        const tenants = ["t-1", "t-2", "t-3", "t-4", "t-5", "t-6"]
        // Interleaved across tenants, in batches that span several partitions.
        for (let round = 0; round < 5; round++) {
          yield* Publisher.publishBatch(tenants.map((tenant) => orderItem(round, tenant)))
        }
        yield* Testing.waitUntil("all 30 handled", Effect.sync(() => rec.of("ordered").length === 30))
        for (const tenant of tenants) {
          const seqs = rec.of("ordered").filter((s) => s.event.tenantId === tenant).map((s) => s.seq)
          assert.deepStrictEqual(seqs, [0, 1, 2, 3, 4], `tenant ${tenant} in publish order`)
        }
        const health = yield* Health.check
        assert.strictEqual(health.streams.length, 4)
        const used = health.streams.filter((s) => s.length > 0)
        assert.isAbove(used.length, 1, "tenants spread over partitions")
        assert.strictEqual(health.stream.length, 30)
        assert.strictEqual(health.stream.key, "partitioned:4:tenant")
        assert.strictEqual(health.groups.find((g) => g.name === "ordered")?.pending, 0)
        const statuses = yield* Consumer.Consumer.use((c) => c.status)
        assert.deepStrictEqual(
          statuses.map((s) => s.stream).sort(),
          Topology.of(yield* BusConfig.BusConfig).streams.map((s) => s.key).sort(),
          "one engine (and status) per partition"
        )
      }).pipe(Effect.provide(busWith({ topology: "partitioned:4" }))))

    it.effect("a subscription over several streams shuts down within one shutdownTimeout, not one per stream", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const started = new Set<string>()
        yield* Consumer.handle(OrderPlaced, (event) => Effect.andThen(Effect.sync(() => started.add(event.id)), Effect.never), {
          group: "stuck"
        }).pipe(Scope.provide(scope))
        yield* Publisher.publishBatch(["t-1", "t-2", "t-3", "t-4", "t-5", "t-6"].map((t) => orderItem(1, t)))
        const layout = Topology.of(yield* BusConfig.BusConfig)
        const redis = yield* RedisStream.RedisStream
        let busy = 0
        for (const stream of layout.streams) if ((yield* redis.length(stream.key)) > 0) busy++
        assert.isAbove(busy, 1, "handlers stuck on several streams")
        // At concurrency 1, one stuck handler per stream (the others wait behind it).
        yield* Testing.waitUntil("a handler stuck on each busy stream", Effect.sync(() => started.size === busy))
        const closing = yield* Effect.forkDetach(Scope.close(scope, Exit.void))
        // Each stream's pool waits `shutdownTimeout` (1 s) for its stuck handler, all at once.
        yield* Testing.advance("1100 millis")
        assert.isDefined(closing.pollUnsafe(), "closed after one shutdown timeout")
      }).pipe(Effect.provide(busWith({ topology: "partitioned:4", shutdownTimeout: "1 second" }))))

    it.effect("with `aggregate`, the partition key decides and is not written on the event", () =>
      Effect.gen(function*() {
        const settings = yield* BusConfig.BusConfig
        const layout = Topology.of(settings)
        const redis = yield* RedisStream.RedisStream
        yield* Publisher.publish(OrderPlaced, order(1), ctx("tenant-a", { partitionKey: "order-1" }))
        yield* Publisher.publish(OrderPlaced, order(2), ctx("tenant-a", { partitionKey: "order-2" }))
        for (const [key, seq] of [["order-1", 1], ["order-2", 2]] as const) {
          const stream = layout.route({ type: OrderPlaced.type, tenantId: "tenant-a", partitionKey: key })
          const entries = yield* redis.range({ key: stream.key, start: "-", end: "+" })
          const found = entries.find((e) => JSON.parse(e.fields["event"] ?? "{}").data?.seq === seq)
          assert.isDefined(found, `${key} in ${stream.name}`)
          assert.notInclude(found!.fields["event"] ?? "", "partitionKey")
        }
      }).pipe(Effect.provide(busWith({ topology: "partitioned:8:aggregate" }))))
  })

  describe("family", () => {
    it.effect("a subscription reads only its families' streams; groups and consumers add up over streams", () =>
      Effect.gen(function*() {
        const rec = Recorder.make()
        yield* Consumer.handle("approval.*", rec.handler("c"), { group: "approvals" })
        yield* Consumer.handle("**", rec.handler("c"), { group: "all" })
        const statuses = yield* Consumer.Consumer.use((c) => c.status)
        const layout = Topology.of(yield* BusConfig.BusConfig)
        const approval = layout.route({ type: ApprovalApproved.type, tenantId: "t" })
        assert.deepStrictEqual(statuses.filter((s) => s.group === "approvals").map((s) => s.stream), [approval.key])
        assert.strictEqual(statuses.filter((s) => s.group === "all").length, layout.streams.length)
        const t = ctx("tenant-p")
        yield* Publisher.publish(ApprovalRequested, { approvalId: "a", workspaceId: "w", requestedById: "u", kind: "content" }, t)
        yield* Publisher.publish(UserInvited, { invitationId: "i", workspaceId: "w", invitedById: "u", role: "member" }, t)
        yield* Testing.waitUntil("both seen by all", Effect.sync(() => rec.of("all").length === 2))
        assert.deepStrictEqual(rec.of("approvals").map((s) => s.type), ["approval.requested"])
        const user = layout.route({ type: UserInvited.type, tenantId: "t" })
        const redis = yield* RedisStream.RedisStream
        assert.deepStrictEqual(
          (yield* redis.groups(user.key)).map((g) => g.name),
          ["all"],
          "the approvals group never read (nor acked unread) the user stream"
        )
        const groups = yield* Groups.list()
        assert.strictEqual(groups.find((g) => g.name === "all")?.pending, 0)
        const consumers = yield* Groups.consumers("all")
        assert.deepStrictEqual(consumers.map((c) => c.name), [(yield* BusConfig.BusConfig).consumer])
        // `ensure` creates the group on the streams of its types only.
        yield* Groups.ensure("user.*", { group: "later" })
        assert.isTrue((yield* redis.groups(user.key)).some((g) => g.name === "later"))
        assert.isFalse((yield* redis.groups(approval.key)).some((g) => g.name === "later"))
      }).pipe(Effect.provide(busWith({ topology: "family" }))))

    it.effect("the DLQ is per stream; Dlq lists, pages, gets, re-drives and deletes across them", () =>
      Effect.gen(function*() {
        const attempts = new Map<string, number>()
        let heal = false
        const flaky = (event: { readonly id: string }) =>
          Effect.suspend(() => {
            attempts.set(event.id, (attempts.get(event.id) ?? 0) + 1)
            return heal ? Effect.void : rejectAll()
          })
        yield* Consumer.handle("**", flaky, { group: "strict" })
        const t = ctx("tenant-d")
        const approvalId = yield* Publisher.publish(ApprovalApproved, { approvalId: "a", decidedById: "u", decision: "approved" }, t)
        const userId = yield* Publisher.publish(UserInvited, { invitationId: "i", workspaceId: "w", invitedById: "u", role: "member" }, t)
        const orderId = yield* Publisher.publish(OrderPlaced, order(1), t)
        const dlq = yield* Dlq.Dlq
        yield* Testing.waitUntil("three dead letters", Effect.map(dlq.size, (n) => n === 3))
        const layout = Topology.of(yield* BusConfig.BusConfig)
        const redis = yield* RedisStream.RedisStream
        for (const type of [ApprovalApproved.type, UserInvited.type, OrderPlaced.type]) {
          assert.strictEqual(yield* redis.length(layout.route({ type, tenantId: "t" }).dlq), 1, `${type}: in its own stream's DLQ`)
        }
        const all = (yield* dlq.list()).entries
        assert.deepStrictEqual(all.map((e) => e.eventId).sort(), [approvalId, userId, orderId].sort())
        const byFamily = new Map(all.map((e) => [e.type, e.id]))
        assert.match(byFamily.get(ApprovalApproved.type) ?? "", /^approval:\d+-\d+$/)
        assert.match(byFamily.get(UserInvited.type) ?? "", /^user:\d+-\d+$/)
        // One entry per page, across the three DLQs.
        const paged: Array<string> = []
        let cursor: string | undefined
        do {
          const page = yield* dlq.list({ cursor, limit: 1 })
          paged.push(...page.entries.map((e) => e.id))
          cursor = page.next
        } while (cursor !== undefined)
        assert.deepStrictEqual(paged, all.map((e) => e.id))
        const userEntry = all.find((e) => e.eventId === userId)!
        assert.strictEqual(Option.getOrThrow(yield* dlq.get(userEntry.id)).eventId, userId)
        assert.deepStrictEqual((yield* dlq.stats).byType, { "approval.approved": 1, "user.invited": 1, "test.order_placed": 1 })

        heal = true
        yield* dlq.retry(userEntry.id)
        yield* Testing.waitUntil("the re-driven user event handled", Effect.sync(() => attempts.get(userId) === 2))
        const user = layout.route({ type: UserInvited.type, tenantId: "t" })
        assert.strictEqual(yield* redis.length(user.redeliver("strict")), 1, "re-driven into its own stream's redeliver stream")
        const approvalEntry = all.find((e) => e.eventId === approvalId)!
        assert.isTrue(yield* dlq.delete(approvalEntry.id))
        assert.isFalse(yield* dlq.delete(approvalEntry.id))
        assert.strictEqual(yield* dlq.purge(), 1)
        assert.strictEqual(yield* dlq.size, 0)
        const health = yield* Health.check
        assert.strictEqual(health.dlq.size, 0)
      }).pipe(Effect.provide(busWith({ topology: "family" }))))
  })

  describe("publishBatch across streams", () => {
    const approved = (id: string) => ({
      event: ApprovalApproved,
      payload: { approvalId: id, decidedById: "u", decision: "approved" as const },
      context: ctx("tenant-b")
    })
    const invited = (id: string) => ({
      event: UserInvited,
      payload: { invitationId: id, workspaceId: "w", invitedById: "u", role: "member" as const },
      context: ctx("tenant-b")
    })

    // A backend whose transactions on the `user` stream fail, as a node that is down would.
    const failingOn = (family: string) =>
      Layer.effect(
        RedisStream.RedisStream,
        Effect.gen(function*() {
          const redis = yield* RedisStream.RedisStream
          const down = new RedisStream.RedisStreamError({ command: "EVALSHA", kind: "Unavailable", detail: "injected" })
          return {
            ...redis,
            transaction: (commands) =>
              commands.some((c) => c.key.includes(`:${family}}`)) ? Effect.fail(down) : redis.transaction(commands)
          } satisfies RedisStream.RedisStream["Service"]
        })
      ).pipe(Layer.provide(RedisStream.layerMemoryWith({ enforceSlots: true })))

    const withStream = (stream: Layer.Layer<RedisStream.RedisStream>) =>
      EventBus.layerServices().pipe(
        Layer.provideMerge(stream),
        Layer.provideMerge(BusConfig.layer({ topology: "family", catalog: Catalog.merge(testCatalog) }))
      )

    it.effect("each stream's part lands in one step, in batch order, parts in order of first appearance", () =>
      Effect.gen(function*() {
        const ids = yield* Publisher.publishBatch([approved("a1"), invited("i1"), approved("a2"), invited("i2")])
        const layout = Topology.of(yield* BusConfig.BusConfig)
        const redis = yield* RedisStream.RedisStream
        const idsIn = (type: string) =>
          Effect.map(
            redis.range({ key: layout.route({ type, tenantId: "t" }).key, start: "-", end: "+" }),
            (entries) => entries.map((e) => JSON.parse(e.fields["event"] ?? "{}").id)
          )
        assert.deepStrictEqual(yield* idsIn(ApprovalApproved.type), [ids[0], ids[2]])
        assert.deepStrictEqual(yield* idsIn(UserInvited.type), [ids[1], ids[3]])
      }).pipe(Effect.provide(withStream(RedisStream.layerMemoryWith({ enforceSlots: true })))))

    it.effect("a later part failing reports which events landed; the first failing appends nothing", () =>
      Effect.gen(function*() {
        const layout = Topology.of(yield* BusConfig.BusConfig)
        const redis = yield* RedisStream.RedisStream
        const approvals = layout.route({ type: ApprovalApproved.type, tenantId: "t" }).key
        const users = layout.route({ type: UserInvited.type, tenantId: "t" }).key

        const partly = yield* Publisher.publishBatch([approved("a1"), invited("i1"), approved("a2")]).pipe(Effect.flip)
        assert.strictEqual(partly._tag, "BatchPartlyPublished")
        if (partly._tag !== "BatchPartlyPublished") return
        assert.strictEqual(partly.stream, users)
        assert.strictEqual(partly.published.length, 2)
        assert.strictEqual(partly.unpublished.length, 1)
        const landed = (yield* redis.range({ key: approvals, start: "-", end: "+" })).map((e) => JSON.parse(e.fields["event"] ?? "{}").id)
        assert.deepStrictEqual(landed, [...partly.published])
        assert.strictEqual(yield* redis.length(users), 0)

        const none = yield* Publisher.publishBatch([invited("i2"), approved("a3")]).pipe(Effect.flip)
        assert.strictEqual(none._tag, "RedisStreamError", "the first part failed: nothing landed")
        assert.strictEqual(yield* redis.length(approvals), 2, "the part after the failed one was not tried")
      }).pipe(Effect.provide(withStream(failingOn("user")))))
  })
})
