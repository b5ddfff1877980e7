/**
 * The contract suite every `RedisStream` backend passes: the same scenarios run against the
 * in-memory engine (`RedisStream.memory.test.ts`, time driven by `TestClock`) and against a real
 * Redis (`RedisStream.redis.test.ts`, wall-clock time with short durations). Real Redis 7 is the
 * reference: a scenario states what Redis does, and the memory engine must match it.
 *
 * Time-dependent steps go through `advance` and `settle`, which move the `TestClock` for the
 * memory engine and really wait on Redis, so one scenario text serves both. Every scenario uses
 * its own keys (`uniquePrefix`) and deletes them when it ends.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, type Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import * as RedisStream from "../../src/RedisStream.ts"
import { uniquePrefix } from "../utils/TestEnv.ts"

/**
 * What a backend can do beyond the contract, so scenarios adapt instead of being copied.
 */
export interface Capabilities {
  /**
   * The backend runs on wall-clock time (a real server): waits are real sleeps and `TestClock`
   * is not installed. Otherwise `TestClock` drives every id, idle time, TTL and timeout.
   */
  readonly realTime: boolean
}

/** How long a `read` waits when nothing is there. */
const readBlock = 20

/**
 * Runs the contract scenarios against `backend`. Called once per backend; the layer is built
 * once and shared by the scenarios, which therefore never touch each other's keys.
 */
export const suite = (name: string, backend: Layer.Layer<RedisStream.RedisStream, unknown>, caps: Capabilities) => {
  /**
   * A unit of idle time: long enough that a few commands in between stay far below half of it;
   * on a real server, with room for a loaded machine's pauses (a 300 ms stall must not fail it).
   */
  const T = caps.realTime ? 600 : 300

  /** Lets `ms` pass: `TestClock` time for the memory engine, a real sleep on Redis. */
  const advance = (ms: number): Effect.Effect<void> => (caps.realTime ? Effect.sleep(ms) : TestClock.adjust(ms))

  /**
   * Lets up to `ms` pass and reports how `fiber` ended, or `None` if it is still running then.
   * With `TestClock`, time moves only as far as `ms`, so a fiber that should have finished on
   * its own (not by a timeout) is caught still waiting.
   */
  const settle = <A, E>(fiber: Fiber.Fiber<A, E>, ms: number): Effect.Effect<Option.Option<Exit.Exit<A, E>>> =>
    caps.realTime
      ? Effect.timeoutOption(Fiber.await(fiber), ms)
      : Effect.map(TestClock.adjust(ms), () => Option.fromUndefinedOr(fiber.pollUnsafe()))

  /**
   * Fresh keys under a unique prefix, deleted when the scenario ends. A scenario's keys share one
   * `{hash tag}`, so any of them can meet in one atomic step on a Redis Cluster; keys given a
   * `slot` name get a tag of their own (another cluster slot), for steps that span slots.
   */
  const fixture = Effect.fnUntraced(function*(label: string) {
    const rs = yield* RedisStream.RedisStream
    const prefix = uniquePrefix(label)
    const used = new Set<string>()
    yield* Effect.addFinalizer(() => Effect.ignore(rs.deleteKeys(Array.from(used))))
    const key = (suffix: string, slot = ""): string => {
      const full = `{${prefix}${slot === "" ? "" : `:${slot}`}}:${suffix}`
      used.add(full)
      return full
    }
    /**
     * `readGroup` with a short block, letting the block pass so that an empty read completes on
     * either clock.
     */
    const read = (options: {
      readonly keys: ReadonlyArray<string>
      readonly group: string
      readonly consumer: string
      readonly count?: number
    }) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(rs.readGroup({ count: 100, ...options, block: readBlock }))
        yield* advance(readBlock)
        return yield* Fiber.join(fiber)
      })
    /** Appends `n` entries `{ n: "<i>" }` and returns their ids, typed as an `n`-tuple. */
    const appendMany = <N extends number>(stream: string, n: N): Effect.Effect<Ids<N>, RedisStream.RedisStreamError> =>
      Effect.flatMap(
        Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => rs.append(stream, { n: String(i) })),
        (appended) =>
          hasLength(appended, n) ? Effect.succeed(appended) : Effect.die(`appended ${appended.length} of ${n}`)
      )
    return { rs, key, read, appendMany }
  })

  const ids = (entries: ReadonlyArray<{ readonly id: string }>) => entries.map((entry) => entry.id)

  layer(backend, { timeout: "60 seconds", excludeTestServices: caps.realTime })(`RedisStream (${name})`, (it) => {
    // --- appending and reading back ------------------------------------------------------------

    it.effect("appended entries come back in order with their fields and strictly increasing ids", () =>
      Effect.gen(function*() {
        const { appendMany, key, rs } = yield* fixture("append")
        const stream = key("s")
        const appended = yield* appendMany(stream, 20)
        for (let i = 1; i < appended.length; i++) {
          assert.isTrue(compareIds(appended[i - 1] ?? "", appended[i] ?? "") < 0, `${appended[i - 1]} < ${appended[i]}`)
        }
        if (!caps.realTime) {
          // The clock did not move: every id shares its millisecond and the sequence counts up.
          const [ms, seq] = appended[0].split("-").map(Number)
          assert.deepStrictEqual(appended.map(String), appended.map((_, i) => `${ms}-${Number(seq) + i}`))
        }
        const all = yield* rs.range({ key: stream, start: "-", end: "+" })
        assert.deepStrictEqual(ids(all), [...appended])
        assert.deepStrictEqual(all[3], { key: stream, id: appended[3], fields: { n: "3" } })
        assert.strictEqual(yield* rs.length(stream), 20)
        const info = yield* rs.info(stream)
        assert.strictEqual(info?.length, 20)
        assert.strictEqual(info?.lastGeneratedId, appended[19])
        assert.strictEqual(info?.firstEntry?.id, appended[0])
        assert.deepStrictEqual(info?.lastEntry?.fields, { n: "19" })
      }))

    it.effect("range honours inclusive and exclusive bounds, count and reverse order", () =>
      Effect.gen(function*() {
        const { appendMany, key, rs } = yield* fixture("range")
        const stream = key("s")
        const [a, b, c, d, e] = yield* appendMany(stream, 5)
        const range = (start: string, end: string, extra?: { count?: number; reverse?: boolean }) =>
          Effect.map(rs.range({ key: stream, start, end, ...extra }), ids)
        assert.deepStrictEqual(yield* range(b, d), [b, c, d])
        assert.deepStrictEqual(yield* range(`(${b}`, "+"), [c, d, e])
        assert.deepStrictEqual(yield* range("-", `(${c}`), [a, b])
        assert.deepStrictEqual(yield* range("-", "+", { count: 2 }), [a, b])
        assert.deepStrictEqual(yield* range("-", "+", { count: 2, reverse: true }), [e, d])
        assert.deepStrictEqual(yield* range(b, d, { reverse: true }), [d, c, b])
      }))

    it.effect("a stream that does not exist reads as empty", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("missing")
        const stream = key("nothing")
        assert.strictEqual(yield* rs.length(stream), 0)
        assert.isUndefined(yield* rs.info(stream))
        assert.deepStrictEqual(yield* rs.groups(stream), [])
        assert.deepStrictEqual(yield* rs.range({ key: stream, start: "-", end: "+" }), [])
        assert.strictEqual(yield* rs.delete(stream, ["1-1"]), 0)
        assert.strictEqual(yield* rs.trim(stream, { maxLen: 0, exact: true }), 0)
      }))

    it.effect("commands on a key of another type fail with a Command error", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("wrongtype")
        const schedule = key("z")
        yield* rs.transaction([{ _tag: "ZAdd", key: schedule, score: 1, member: "m" }])
        for (const attempt of [rs.append(schedule, { a: "1" }), rs.length(schedule), rs.createGroup(schedule, "g")]) {
          const error = yield* Effect.flip(attempt)
          assert.strictEqual(error.kind, "Command")
        }
      }))

    // --- consumer groups ----------------------------------------------------------------------

    it.effect("createGroup is idempotent; '0' replays retained entries and '$' only new ones", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("create")
        const stream = key("s")
        const [first, second] = yield* appendMany(stream, 2)
        yield* rs.createGroup(stream, "from-start", "0")
        yield* rs.createGroup(stream, "from-now")
        assert.deepStrictEqual(ids(yield* read({ keys: [stream], group: "from-start", consumer: "c", count: 1 })), [
          first
        ])
        // A second create neither fails (BUSYGROUP) nor rewinds the group.
        yield* rs.createGroup(stream, "from-start", "0")
        yield* rs.createGroup(stream, "from-now")
        assert.deepStrictEqual(ids(yield* read({ keys: [stream], group: "from-start", consumer: "c" })), [second])
        assert.deepStrictEqual(yield* read({ keys: [stream], group: "from-now", consumer: "c" }), [])
        const third = yield* rs.append(stream, { n: "2" })
        assert.deepStrictEqual(ids(yield* read({ keys: [stream], group: "from-now", consumer: "c" })), [third])
      }))

    it.effect("createGroup creates a missing stream (MKSTREAM)", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("mkstream")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        assert.strictEqual(yield* rs.length(stream), 0)
        assert.strictEqual((yield* rs.info(stream))?.length, 0)
        assert.deepStrictEqual((yield* rs.groups(stream)).map((group) => group.name), ["g"])
      }))

    it.effect("a group sees each entry once until it is acked", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("once")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const appended = yield* appendMany(stream, 3)
        const delivered = yield* read({ keys: [stream], group: "g", consumer: "c" })
        assert.deepStrictEqual(ids(delivered), [...appended])
        assert.deepStrictEqual(delivered.map((entry) => entry.deliveries), [1, 1, 1])
        assert.deepStrictEqual(delivered.map((entry) => entry.key), [stream, stream, stream])
        assert.deepStrictEqual(delivered[1]?.fields, { n: "1" })
        assert.deepStrictEqual(yield* read({ keys: [stream], group: "g", consumer: "c" }), [])

        assert.strictEqual(yield* rs.ack(stream, "g", [appended[0], appended[2]]), 2)
        // Acking again (or an id never delivered) acknowledges nothing.
        assert.strictEqual(yield* rs.ack(stream, "g", [appended[0], "1-1"]), 0)
        const summary = yield* rs.pendingSummary(stream, "g")
        assert.deepStrictEqual(summary, {
          count: 1,
          minId: appended[1],
          maxId: appended[1],
          consumers: [{ name: "c", pending: 1 }]
        })
      }))

    it.effect("two groups each see every entry", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("fanout")
        const stream = key("s")
        yield* rs.createGroup(stream, "billing")
        yield* rs.createGroup(stream, "audit")
        const appended = yield* appendMany(stream, 4)
        const billing = yield* read({ keys: [stream], group: "billing", consumer: "c" })
        yield* rs.ack(stream, "billing", ids(billing))
        // Acking in one group leaves the other untouched.
        const audit = yield* read({ keys: [stream], group: "audit", consumer: "c" })
        assert.deepStrictEqual(ids(billing), [...appended])
        assert.deepStrictEqual(ids(audit), [...appended])
        assert.strictEqual((yield* rs.pendingSummary(stream, "billing")).count, 0)
        assert.strictEqual((yield* rs.pendingSummary(stream, "audit")).count, 4)
      }))

    it.effect("competing consumers in one group split entries without duplicates", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("compete")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const appended = yield* appendMany(stream, 12)
        // Concurrent readers, each taking at most 3 per read until the stream is drained.
        const drain = (consumer: string) =>
          Effect.gen(function*() {
            const got: Array<string> = []
            while (true) {
              const batch = yield* read({ keys: [stream], group: "g", consumer, count: 3 })
              if (batch.length === 0) return got
              got.push(...ids(batch))
            }
          })
        const [one, two, three] = yield* Effect.all([drain("c1"), drain("c2"), drain("c3")], { concurrency: 3 })
        const all = [...(one ?? []), ...(two ?? []), ...(three ?? [])]
        assert.strictEqual(all.length, 12)
        assert.deepStrictEqual([...all].sort(compareIds), [...appended])
        const summary = yield* rs.pendingSummary(stream, "g")
        assert.strictEqual(summary.count, 12)
        assert.strictEqual(summary.consumers.reduce((sum, consumer) => sum + consumer.pending, 0), 12)
      }))

    it.effect("one read serves several keys, up to count entries from each", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("multikey")
        // Three tags: on a cluster, the read spans three slots.
        const left = key("left", "left")
        const right = key("right", "right")
        const empty = key("empty", "empty")
        for (const stream of [left, right, empty]) yield* rs.createGroup(stream, "g")
        const fromLeft = yield* appendMany(left, 3)
        const fromRight = yield* appendMany(right, 1)
        const delivered = yield* read({ keys: [left, right, empty], group: "g", consumer: "c", count: 2 })
        assert.deepStrictEqual(
          delivered.map((entry) => [entry.key, entry.id]),
          [[left, fromLeft[0]], [left, fromLeft[1]], [right, fromRight[0]]]
        )
      }))

    it.effect("reads, claims and pending queries on a missing group fail with NoGroup; ack acks nothing", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("nogroup")
        const stream = key("s")
        const missingStream = key("missing")
        const id = yield* rs.append(stream, { a: "1" })
        for (const target of [stream, missingStream]) {
          const attempts: Array<Effect.Effect<unknown, RedisStream.RedisStreamError>> = [
            rs.readGroup({ keys: [target], group: "g", consumer: "c", count: 1, block: 0 }),
            rs.readOwnPending({ key: target, group: "g", consumer: "c", count: 10 }),
            rs.pendingSummary(target, "g"),
            rs.pending({ key: target, group: "g", count: 10 }),
            rs.claim({ key: target, group: "g", consumer: "c", minIdle: 0, ids: [id] }),
            rs.autoClaim({ key: target, group: "g", consumer: "c", minIdle: 0, start: "0-0", count: 10 }),
            rs.consumers(target, "g")
          ]
          for (const attempt of attempts) {
            const error = yield* Effect.flip(attempt)
            assert.strictEqual(error.kind, "NoGroup", `${error.command} on ${target}`)
          }
          // XACK replies 0 on a missing group or stream; it does not fail.
          assert.strictEqual(yield* rs.ack(target, "g", [id]), 0)
        }
        // One missing group among several keys fails the whole read.
        yield* rs.createGroup(stream, "g")
        const error = yield* Effect.flip(
          rs.readGroup({ keys: [stream, missingStream], group: "g", consumer: "c", count: 1, block: 0 })
        )
        assert.strictEqual(error.kind, "NoGroup")
      }))

    it.effect("destroyGroup removes the group and its pending entries", () =>
      Effect.gen(function*() {
        const { key, read, rs } = yield* fixture("destroy")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        yield* rs.createGroup(stream, "other")
        yield* rs.append(stream, { a: "1" })
        yield* read({ keys: [stream], group: "g", consumer: "c" })
        assert.isTrue(yield* rs.destroyGroup(stream, "g"))
        assert.isFalse(yield* rs.destroyGroup(stream, "g"))
        assert.isFalse(yield* rs.destroyGroup(key("missing"), "g"))
        assert.deepStrictEqual((yield* rs.groups(stream)).map((group) => group.name), ["other"])
        assert.strictEqual((yield* Effect.flip(rs.pendingSummary(stream, "g"))).kind, "NoGroup")
        // Recreated from the start, the group has an empty pending list and reads everything again.
        yield* rs.createGroup(stream, "g", "0")
        assert.strictEqual((yield* rs.pendingSummary(stream, "g")).count, 0)
        assert.strictEqual((yield* read({ keys: [stream], group: "g", consumer: "c" })).length, 1)
      }))

    // --- blocking reads -----------------------------------------------------------------------

    it.effect("readGroup waits for an append and wakes promptly", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("wake")
        const quiet = key("quiet")
        const busy = key("busy")
        yield* rs.createGroup(quiet, "g")
        yield* rs.createGroup(busy, "g")
        const reader = yield* Effect.forkChild(
          rs.readGroup({ keys: [quiet, busy], group: "g", consumer: "c", count: 10, block: "20 seconds" })
        )
        yield* advance(T)
        assert.isUndefined(reader.pollUnsafe(), "the read waits while nothing is appended")
        const id = yield* rs.append(busy, { a: "1" })
        // Far below the 20 s block: only the append can have ended the wait.
        const outcome = yield* settle(reader, 2_000)
        assert.isTrue(Option.isSome(outcome), "the read returned soon after the append")
        const entries = yield* Fiber.join(reader)
        assert.deepStrictEqual(entries.map((entry) => [entry.key, entry.id, entry.deliveries]), [[busy, id, 1]])
      }))

    it.effect("readGroup times out empty after block", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("timeout")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const reader = yield* Effect.forkChild(
          rs.readGroup({ keys: [stream], group: "g", consumer: "c", count: 10, block: 3 * T })
        )
        yield* advance(T)
        assert.isUndefined(reader.pollUnsafe(), "no early return before block elapsed")
        const outcome = yield* settle(reader, 10 * T)
        assert.isTrue(Option.isSome(outcome), "the read ended once block elapsed")
        assert.deepStrictEqual(yield* Fiber.join(reader), [])
      }))

    it.effect("interrupting a waiting read returns promptly and consumes nothing", () =>
      Effect.gen(function*() {
        const { key, read, rs } = yield* fixture("interrupt")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const reader = yield* Effect.forkChild(
          rs.readGroup({ keys: [stream], group: "g", consumer: "gone", count: 10, block: "30 seconds" })
        )
        yield* advance(T)
        const interrupting = yield* Effect.forkChild(Fiber.interrupt(reader))
        assert.isTrue(Option.isSome(yield* settle(interrupting, 2_000)), "the interruption completed promptly")
        assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(reader)))
        // The interrupted reader is no longer waiting: the next entry goes to the next reader.
        const id = yield* rs.append(stream, { a: "1" })
        assert.deepStrictEqual(ids(yield* read({ keys: [stream], group: "g", consumer: "next" })), [id])
        assert.deepStrictEqual((yield* rs.pendingSummary(stream, "g")).consumers, [{ name: "next", pending: 1 }])
      }))

    it.effect("a reader blocked on a group that is destroyed fails with NoGroup", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("destroyed")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const reader = yield* Effect.forkChild(
          rs.readGroup({ keys: [stream], group: "g", consumer: "c", count: 10, block: "20 seconds" })
        )
        yield* advance(T)
        yield* rs.destroyGroup(stream, "g")
        const outcome = yield* settle(reader, 2_000)
        assert.isTrue(Option.isSome(outcome), "the blocked read ended with the group")
        const error = yield* Effect.flip(Fiber.join(reader))
        assert.strictEqual(error.kind, "NoGroup")
      }))

    it.effect("a reader blocked on a stream that is deleted fails with NoGroup", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("deletedstream")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const reader = yield* Effect.forkChild(
          rs.readGroup({ keys: [stream], group: "g", consumer: "c", count: 10, block: "20 seconds" })
        )
        yield* advance(T)
        assert.strictEqual(yield* rs.deleteKeys([stream]), 1)
        // Redis 7 unblocks the reader with an error; the group went with its stream.
        const outcome = yield* settle(reader, 2_000)
        assert.isTrue(Option.isSome(outcome), "the blocked read ended with the stream")
        const error = yield* Effect.flip(Fiber.join(reader))
        assert.strictEqual(error.kind, "NoGroup")
      }))

    // --- pending entries, claims --------------------------------------------------------------

    it.effect("pending lists rows oldest first, filtered by consumer, idle time and start", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("pending")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const [a, b, c, d] = yield* appendMany(stream, 4)
        yield* read({ keys: [stream], group: "g", consumer: "early", count: 2 })
        yield* advance(T)
        yield* read({ keys: [stream], group: "g", consumer: "late", count: 2 })
        const rows = yield* rs.pending({ key: stream, group: "g", count: 10 })
        assert.deepStrictEqual(rows.map((row) => [row.id, row.consumer, row.deliveries]), [
          [a, "early", 1],
          [b, "early", 1],
          [c, "late", 1],
          [d, "late", 1]
        ])
        assert.isTrue(rows.every((row, i) => (i < 2 ? row.idleMs >= T : row.idleMs < T / 2)), JSON.stringify(rows))
        const pick = (options: { start?: string; consumer?: string; minIdle?: number; count?: number }) =>
          Effect.map(rs.pending({ key: stream, group: "g", count: 10, ...options }), ids)
        assert.deepStrictEqual(yield* pick({ consumer: "late" }), [c, d])
        assert.deepStrictEqual(yield* pick({ consumer: "nobody" }), [])
        assert.deepStrictEqual(yield* pick({ minIdle: T }), [a, b])
        assert.deepStrictEqual(yield* pick({ start: b }), [b, c, d])
        assert.deepStrictEqual(yield* pick({ start: b, count: 2 }), [b, c])
      }))

    it.effect("entries idle past minIdle are claimed by another consumer with the delivery count incremented", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("claim")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const [a, b, fresh] = yield* appendMany(stream, 3)
        yield* read({ keys: [stream], group: "g", consumer: "dead", count: 2 })
        yield* advance(T)
        yield* read({ keys: [stream], group: "g", consumer: "dead", count: 1 })
        const claimed = yield* rs.claim({
          key: stream,
          group: "g",
          consumer: "live",
          minIdle: T / 2,
          ids: [a, b, fresh]
        })
        // `fresh` was delivered too recently to be claimed.
        assert.deepStrictEqual(claimed, [
          { key: stream, id: a, fields: { n: "0" }, deliveries: 2 },
          { key: stream, id: b, fields: { n: "1" }, deliveries: 2 }
        ])
        const rows = yield* rs.pending({ key: stream, group: "g", count: 10 })
        assert.deepStrictEqual(rows.map((row) => [row.id, row.consumer, row.deliveries]), [
          [a, "live", 2],
          [b, "live", 2],
          [fresh, "dead", 1]
        ])
        // Claiming reset the idle time, so nobody can take the entries straight back.
        assert.isTrue((rows[0]?.idleMs ?? Infinity) < T / 2)
        assert.deepStrictEqual(
          yield* rs.claim({ key: stream, group: "g", consumer: "thief", minIdle: T / 2, ids: [a] }),
          []
        )
        const consumers = yield* rs.consumers(stream, "g")
        assert.deepStrictEqual(
          [...consumers].sort((x, y) => x.name.localeCompare(y.name)).map((c) => [c.name, c.pending]),
          [["dead", 1], ["live", 2]]
        )
      }))

    it.effect("a JUSTID claim keeps the count and resets idle", () =>
      Effect.gen(function*() {
        const { key, read, rs } = yield* fixture("justid")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const id = yield* rs.append(stream, { a: "1" })
        yield* read({ keys: [stream], group: "g", consumer: "c" })
        yield* advance(T)
        const heartbeat = yield* rs.claim({
          key: stream,
          group: "g",
          consumer: "c",
          minIdle: 0,
          ids: [id],
          justId: true
        })
        assert.deepStrictEqual(heartbeat, [{ key: stream, id, fields: {}, deliveries: 1 }])
        const [row] = yield* rs.pending({ key: stream, group: "g", count: 10 })
        assert.strictEqual(row?.deliveries, 1)
        assert.isTrue((row?.idleMs ?? Infinity) < T / 2, `idle ${row?.idleMs}`)
      }))

    it.effect("claiming an entry deleted from the stream drops it from the pending list", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("claimdeleted")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const [kept, removed] = yield* appendMany(stream, 2)
        yield* read({ keys: [stream], group: "g", consumer: "c" })
        assert.strictEqual(yield* rs.delete(stream, [removed]), 1)
        // Deleting an entry leaves it pending until a claim notices.
        assert.strictEqual((yield* rs.pendingSummary(stream, "g")).count, 2)
        const claimed = yield* rs.claim({ key: stream, group: "g", consumer: "d", minIdle: 0, ids: [kept, removed] })
        assert.deepStrictEqual(ids(claimed), [kept])
        assert.deepStrictEqual(ids(yield* rs.pending({ key: stream, group: "g", count: 10 })), [kept])
      }))

    it.effect("autoClaim pages with a cursor and reports deleted entries", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("autoclaim")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const [a, b, c, d, e, f] = yield* appendMany(stream, 6)
        yield* read({ keys: [stream], group: "g", consumer: "dead" })
        yield* rs.delete(stream, [b])
        // Nothing is idle long enough yet: the whole list is scanned and nothing claimed.
        const early = yield* rs.autoClaim({
          key: stream,
          group: "g",
          consumer: "live",
          minIdle: T,
          start: "0-0",
          count: 10
        })
        assert.deepStrictEqual(early.entries, [])
        assert.strictEqual(early.next, "0-0")
        assert.deepStrictEqual(early.deleted, [b])
        yield* rs.delete(stream, [d])
        yield* advance(T)
        const autoClaim = (start: string) =>
          rs.autoClaim({ key: stream, group: "g", consumer: "live", minIdle: T / 2, start, count: 2 })
        // A deleted entry uses up one of `count`, like a claimed one.
        const first = yield* autoClaim("0-0")
        assert.deepStrictEqual(ids(first.entries), [a, c])
        assert.deepStrictEqual(first.entries.map((entry) => entry.deliveries), [2, 2])
        assert.deepStrictEqual(first.entries[0]?.fields, { n: "0" })
        assert.strictEqual(first.next, d)
        const second = yield* autoClaim(first.next)
        assert.deepStrictEqual(ids(second.entries), [e])
        assert.deepStrictEqual(second.deleted, [d])
        assert.strictEqual(second.next, f)
        const third = yield* autoClaim(second.next)
        assert.deepStrictEqual(ids(third.entries), [f])
        assert.strictEqual(third.next, "0-0")
        const rows = yield* rs.pending({ key: stream, group: "g", count: 10 })
        assert.deepStrictEqual(rows.map((row) => [row.id, row.consumer, row.deliveries]), [
          [a, "live", 2],
          [c, "live", 2],
          [e, "live", 2],
          [f, "live", 2]
        ])
      }))

    it.effect("readOwnPending returns what this consumer has not acked", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("ownpending")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const [a, b, c, d, e] = yield* appendMany(stream, 5)
        yield* read({ keys: [stream], group: "g", consumer: "me", count: 4 })
        yield* read({ keys: [stream], group: "g", consumer: "other", count: 1 })
        yield* rs.ack(stream, "g", [b])
        yield* rs.delete(stream, [d])
        const own = (options: { count?: number; after?: string }) =>
          rs.readOwnPending({ key: stream, group: "g", consumer: "me", count: 10, ...options })
        // Oldest first, without the acked entry nor the one deleted from the stream.
        const mine = yield* own({})
        assert.deepStrictEqual(mine, [
          { key: stream, id: a, fields: { n: "0" } },
          { key: stream, id: c, fields: { n: "2" } }
        ])
        assert.deepStrictEqual(ids(yield* own({ after: a })), [c])
        assert.deepStrictEqual(ids(yield* own({ count: 1 })), [a])
        const others = yield* rs.readOwnPending({ key: stream, group: "g", consumer: "other", count: 10 })
        assert.deepStrictEqual(ids(others), [e])
        // Re-reading is not a delivery: the counts stay at 1.
        const rows = yield* rs.pending({ key: stream, group: "g", count: 10, consumer: "me" })
        assert.deepStrictEqual(rows.map((row) => row.deliveries), [1, 1, 1])
      }))

    // --- introspection ------------------------------------------------------------------------

    it.effect("lag and pending are reported per group", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("lag")
        const stream = key("s")
        const appended = yield* appendMany(stream, 5)
        yield* rs.createGroup(stream, "reader", "0")
        yield* rs.createGroup(stream, "idle", "0")
        yield* rs.createGroup(stream, "tail")
        yield* read({ keys: [stream], group: "reader", consumer: "c", count: 2 })
        const byName = (groups: ReadonlyArray<RedisStream.GroupInfo>) =>
          Object.fromEntries(groups.map((group) => [group.name, group]))
        const before = byName(yield* rs.groups(stream))
        assert.deepStrictEqual(before["reader"], {
          name: "reader",
          consumers: 1,
          pending: 2,
          lastDeliveredId: appended[1],
          lag: 3
        })
        assert.deepStrictEqual(before["idle"], {
          name: "idle",
          consumers: 0,
          pending: 0,
          lastDeliveredId: "0-0",
          lag: 5
        })
        assert.deepStrictEqual(before["tail"]?.lag, 0)
        assert.deepStrictEqual(before["tail"]?.lastDeliveredId, appended[4])
        // A deletion after a group's position makes its lag unknowable for Redis 7.
        yield* rs.delete(stream, [appended[3]])
        assert.isUndefined(byName(yield* rs.groups(stream))["reader"]?.lag)
        yield* read({ keys: [stream], group: "reader", consumer: "c" })
        const after = byName(yield* rs.groups(stream))
        assert.strictEqual(after["reader"]?.lag, 0)
        assert.strictEqual(after["reader"]?.pending, 4)
      }))

    it.effect("consumers report their pending count and idle time", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("consumers")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        yield* appendMany(stream, 5)
        yield* read({ keys: [stream], group: "g", consumer: "old", count: 2 })
        yield* read({ keys: [stream], group: "g", consumer: "back", count: 1 })
        yield* advance(T)
        yield* read({ keys: [stream], group: "g", consumer: "new", count: 1 })
        // A consumer that reads again is active again.
        yield* read({ keys: [stream], group: "g", consumer: "back", count: 1 })
        const consumers = Object.fromEntries((yield* rs.consumers(stream, "g")).map((c) => [c.name, c]))
        assert.deepStrictEqual(
          [consumers["old"]?.pending, consumers["back"]?.pending, consumers["new"]?.pending],
          [2, 2, 1]
        )
        assert.isTrue((consumers["old"]?.idleMs ?? 0) >= T, `old idle ${consumers["old"]?.idleMs}`)
        assert.isTrue((consumers["new"]?.idleMs ?? Infinity) < T / 2, `new idle ${consumers["new"]?.idleMs}`)
        assert.isTrue((consumers["back"]?.idleMs ?? Infinity) < T / 2, `back idle ${consumers["back"]?.idleMs}`)
      }))

    // --- deletion and trimming ----------------------------------------------------------------

    it.effect("deleting entries keeps the others and never reuses an id", () =>
      Effect.gen(function*() {
        const { appendMany, key, rs } = yield* fixture("xdel")
        const stream = key("s")
        const [a, b, c] = yield* appendMany(stream, 3)
        assert.strictEqual(yield* rs.delete(stream, [b, c, "1-1"]), 2)
        assert.deepStrictEqual(ids(yield* rs.range({ key: stream, start: "-", end: "+" })), [a])
        const info = yield* rs.info(stream)
        assert.strictEqual(info?.lastGeneratedId, c)
        assert.strictEqual(info?.lastEntry?.id, a)
        const next = yield* rs.append(stream, { n: "3" })
        assert.isTrue(compareIds(c, next) < 0)
      }))

    it.effect("trimming by minimum id keeps newer entries", () =>
      Effect.gen(function*() {
        const { appendMany, key, rs } = yield* fixture("minid")
        const stream = key("s")
        const [, , c, d] = yield* appendMany(stream, 4)
        assert.strictEqual(yield* rs.trim(stream, { minId: c, exact: true }), 2)
        assert.deepStrictEqual(ids(yield* rs.range({ key: stream, start: "-", end: "+" })), [c, d])
        const info = yield* rs.info(stream)
        assert.strictEqual(info?.firstEntry?.id, c)
        assert.strictEqual(info?.lastGeneratedId, d)
        // An append that trims by a minimum id drops everything older than it.
        const e = yield* rs.append(stream, { n: "4" }, { minId: d, exact: true })
        assert.deepStrictEqual(ids(yield* rs.range({ key: stream, start: "-", end: "+" })), [d, e])
      }))

    it.effect("approximate trimming never drops entries at or after the threshold", () =>
      Effect.gen(function*() {
        const { appendMany, key, rs } = yield* fixture("approx")
        const stream = key("s")
        const appended = yield* appendMany(stream, 6)
        // Redis may keep more than asked (it drops whole nodes only); it never keeps less.
        const removed = yield* rs.trim(stream, { minId: appended[3] })
        const left = ids(yield* rs.range({ key: stream, start: "-", end: "+" }))
        assert.isTrue(removed >= 0 && removed <= 3)
        assert.deepStrictEqual(left, appended.slice(removed))
      }))

    it.effect("maxLen trimming caps the length to the newest entries", () =>
      Effect.gen(function*() {
        const { appendMany, key, rs } = yield* fixture("maxlen")
        const stream = key("s")
        yield* appendMany(stream, 3)
        const newest = yield* rs.append(stream, { n: "3" }, { maxLen: 2, exact: true })
        assert.strictEqual(yield* rs.length(stream), 2)
        assert.strictEqual((yield* rs.info(stream))?.lastEntry?.id, newest)
        assert.strictEqual(yield* rs.trim(stream, { maxLen: 0, exact: true }), 2)
        // A stream emptied by trimming still exists, and its groups with it.
        assert.strictEqual((yield* rs.info(stream))?.length, 0)
      }))

    // --- transactions, sorted sets, hashes ----------------------------------------------------

    it.effect("a transaction applies every command in order and replies to each", () =>
      Effect.gen(function*() {
        const { key, read, rs } = yield* fixture("tx")
        const stream = key("s")
        const schedule = key("z")
        const hash = key("h")
        yield* rs.createGroup(stream, "g")
        const pendingId = yield* rs.append(stream, { n: "0" })
        yield* read({ keys: [stream], group: "g", consumer: "c" })
        const replies = yield* rs.transaction([
          { _tag: "XAdd", key: stream, fields: { n: "1" } },
          { _tag: "XAck", key: stream, group: "g", ids: [pendingId] },
          { _tag: "ZAdd", key: schedule, score: 5, member: "m" },
          { _tag: "ZAdd", key: schedule, score: 7, member: "m" },
          { _tag: "HSet", key: hash, field: "f", value: "v" },
          { _tag: "XDel", key: stream, ids: [pendingId] }
        ])
        assert.strictEqual(replies.length, 6)
        const added = replies[0]
        assert.isTrue(typeof added === "string" && compareIds(pendingId, added) < 0)
        assert.deepStrictEqual(replies.slice(1), [1, 1, 0, 1, 1])
        assert.deepStrictEqual(ids(yield* rs.range({ key: stream, start: "-", end: "+" })), [added])
        assert.strictEqual((yield* rs.pendingSummary(stream, "g")).count, 0)
        assert.deepStrictEqual(yield* rs.scores(schedule, ["m"]), [7])
        assert.deepStrictEqual(yield* rs.hashGet(hash, ["f"]), ["v"])
        assert.deepStrictEqual(yield* rs.transaction([]), [])
      }))

    it.effect("an append inside a transaction wakes a blocked reader", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("txwake")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const reader = yield* Effect.forkChild(
          rs.readGroup({ keys: [stream], group: "g", consumer: "c", count: 10, block: "20 seconds" })
        )
        yield* advance(T)
        yield* rs.transaction([{ _tag: "XAdd", key: stream, fields: { a: "1" } }])
        assert.isTrue(Option.isSome(yield* settle(reader, 2_000)))
        assert.strictEqual((yield* Fiber.join(reader)).length, 1)
      }))

    it.effect("a transaction that fails applies nothing", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("txfail")
        const stream = key("s")
        const schedule = key("z")
        const notAStream = key("zset")
        yield* rs.transaction([{ _tag: "ZAdd", key: notAStream, score: 1, member: "m" }])
        const existing = yield* rs.append(stream, { n: "0" })
        const error = yield* Effect.flip(
          rs.transaction([
            { _tag: "XAdd", key: stream, fields: { n: "1" } },
            { _tag: "ZAdd", key: schedule, score: 1, member: "m" },
            { _tag: "XDel", key: stream, ids: [existing] },
            { _tag: "XAdd", key: notAStream, fields: { n: "2" } }
          ])
        )
        assert.strictEqual(error.kind, "Command")
        assert.deepStrictEqual(ids(yield* rs.range({ key: stream, start: "-", end: "+" })), [existing])
        assert.deepStrictEqual(yield* rs.scores(schedule, ["m"]), [undefined])
        assert.deepStrictEqual(yield* rs.markersExist([schedule]), [false])
      }))

    it.effect("sorted set scores follow ZAdd and ZRem", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("zset")
        const schedule = key("z")
        assert.deepStrictEqual(yield* rs.scores(schedule, ["a", "b"]), [undefined, undefined])
        yield* rs.transaction([
          { _tag: "ZAdd", key: schedule, score: 1.5, member: "a" },
          { _tag: "ZAdd", key: schedule, score: 3, member: "b" }
        ])
        assert.deepStrictEqual(yield* rs.scores(schedule, ["b", "a", "c"]), [3, 1.5, undefined])
        assert.deepStrictEqual(yield* rs.transaction([{ _tag: "ZRem", key: schedule, members: ["a", "c"] }]), [1])
        assert.deepStrictEqual(yield* rs.scores(schedule, ["a", "b"]), [undefined, 3])
      }))

    it.effect("ZAddMany adds every member with one score, in slices past Lua's argument limit", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("zaddmany")
        const marks = key("z")
        // More members than one unpack() can take (the script slices by 2,000 pairs).
        const members = Array.from({ length: 4_321 }, (_, i) => `m${i}`)
        yield* rs.transaction([{ _tag: "ZAdd", key: marks, score: 1, member: "m0" }])
        const replies = yield* rs.transaction([{ _tag: "ZAddMany", key: marks, score: 7, members }])
        // m0 existed (its score is updated, not counted as added).
        assert.deepStrictEqual(replies, [members.length - 1])
        const scores = yield* rs.scores(marks, [...members, "absent"])
        assert.strictEqual(scores.length, members.length + 1)
        assert.isTrue(scores.slice(0, members.length).every((score) => score === 7))
        assert.strictEqual(scores[members.length], undefined)
        // No members: nothing written, and no key created.
        const empty = key("empty")
        assert.deepStrictEqual(yield* rs.transaction([{ _tag: "ZAddMany", key: empty, score: 1, members: [] }]), [0])
        assert.deepStrictEqual(yield* rs.markersExist([empty]), [false])
        // A score that is not a number is refused before anything is written.
        const refused = yield* Effect.flip(
          rs.transaction([
            { _tag: "ZAdd", key: marks, score: 9, member: "m1" },
            { _tag: "ZAddMany", key: marks, score: Number.NaN, members: ["x"] }
          ])
        )
        assert.strictEqual(refused.kind, "Command")
        assert.deepStrictEqual(yield* rs.scores(marks, ["m1", "x"]), [7, undefined])
      }))

    it.effect("hashGet reads fields written by HSet and removed by HDel", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("hash")
        const hash = key("h")
        assert.deepStrictEqual(yield* rs.hashGet(hash, ["a"]), [undefined])
        yield* rs.transaction([
          { _tag: "HSet", key: hash, field: "a", value: "1" },
          { _tag: "HSet", key: hash, field: "b", value: "2" }
        ])
        assert.deepStrictEqual(yield* rs.hashGet(hash, ["a", "b", "c"]), ["1", "2", undefined])
        assert.deepStrictEqual(yield* rs.transaction([{ _tag: "HDel", key: hash, fields: ["a", "c"] }]), [1])
        assert.deepStrictEqual(yield* rs.hashGet(hash, ["a", "b"]), [undefined, "2"])
      }))

    it.effect("hashFields lists the fields of a hash, none when it does not exist", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("hash-fields")
        const hash = key("h")
        assert.deepStrictEqual(yield* rs.hashFields(hash), [])
        yield* rs.transaction([
          { _tag: "HSet", key: hash, field: "b", value: "2" },
          { _tag: "HSet", key: hash, field: "a", value: "1" },
          { _tag: "HSet", key: hash, field: "a", value: "3" }
        ])
        assert.deepStrictEqual([...(yield* rs.hashFields(hash))].sort(), ["a", "b"])
        yield* rs.transaction([{ _tag: "HDel", key: hash, fields: ["a", "b"] }])
        assert.deepStrictEqual(yield* rs.hashFields(hash), [])
        const notHash = key("s")
        yield* rs.append(notHash, { f: "v" })
        const error = yield* rs.hashFields(notHash).pipe(Effect.flip)
        assert.strictEqual(error._tag, "RedisStreamError")
      }))

    it.effect("takeDue claims only due members, each once", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("takedue")
        const stream = key("s")
        const schedule = key("z")
        const records = key("h")
        yield* rs.createGroup(stream, "g")
        const [a, b, c, d] = yield* appendMany(stream, 4)
        yield* read({ keys: [stream], group: "g", consumer: "failed" })
        yield* rs.transaction([
          { _tag: "ZAdd", key: schedule, score: 200, member: a },
          { _tag: "ZAdd", key: schedule, score: 100, member: b },
          { _tag: "ZAdd", key: schedule, score: 300, member: c },
          { _tag: "ZAdd", key: schedule, score: 10_000, member: d }
        ])
        yield* rs.transaction([{ _tag: "HSet", key: records, field: b, value: "record of b" }])
        const take = (consumer: string, count: number) =>
          Effect.map(
            rs.takeDue({ scheduleKey: schedule, recordsKey: records, key: stream, group: "g", consumer, now: 300, count }),
            (due) => due.entries
          )
        // Due order is by score; `count` bounds one call; each comes with its record, and the
        // reply says when the next member is due.
        const first = yield* rs.takeDue({ scheduleKey: schedule, recordsKey: records, key: stream, group: "g", consumer: "w1", now: 300, count: 2 })
        assert.deepStrictEqual(first, {
          entries: [
            { key: stream, id: b, fields: { n: "1" }, deliveries: 2, record: "record of b" },
            { key: stream, id: a, fields: { n: "0" }, deliveries: 2, record: undefined }
          ],
          nextDueAt: 300
        })
        // Concurrent callers share what is left without overlap.
        const [x, y] = yield* Effect.all([take("w2", 10), take("w3", 10)], { concurrency: 2 })
        assert.deepStrictEqual([...ids(x ?? []), ...ids(y ?? [])], [c])
        assert.deepStrictEqual(yield* take("w4", 10), [])
        assert.strictEqual((yield* rs.takeDue({ scheduleKey: schedule, recordsKey: records, key: stream, group: "g", consumer: "w4", now: 300, count: 1 })).nextDueAt, 10_000)
        assert.deepStrictEqual(yield* rs.scores(schedule, [a, b, c, d]), [
          undefined,
          undefined,
          undefined,
          10_000
        ])
        const owners = (yield* rs.pending({ key: stream, group: "g", count: 10 })).map((row) => row.consumer)
        assert.deepStrictEqual(owners.slice(0, 2), ["w1", "w1"])
        assert.isTrue(owners[2] === "w2" || owners[2] === "w3")
        assert.strictEqual(owners[3], "failed")
      }))

    it.effect("takeDue drops members whose entry is no longer pending", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("takedrop")
        const stream = key("s")
        const schedule = key("z")
        yield* rs.createGroup(stream, "g")
        const [acked, deleted, live] = yield* appendMany(stream, 3)
        yield* read({ keys: [stream], group: "g", consumer: "c" })
        yield* rs.ack(stream, "g", [acked])
        yield* rs.delete(stream, [deleted])
        yield* rs.transaction(
          [acked, deleted, live].map((member, i) => ({ _tag: "ZAdd", key: schedule, score: i, member: member }))
        )
        assert.deepStrictEqual(
          ids((yield* rs.takeDue({ scheduleKey: schedule, recordsKey: key("h"), key: stream, group: "g", consumer: "r", now: 10, count: 10 })).entries),
          [live]
        )
        assert.deepStrictEqual(yield* rs.scores(schedule, [acked, deleted]), [undefined, undefined])
        assert.deepStrictEqual(ids(yield* rs.pending({ key: stream, group: "g", count: 10 })), [live])
      }))

    it.effect("takeDue on a missing group fails and leaves the schedule as it was", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("takenogroup")
        const stream = key("s")
        const schedule = key("z")
        const id = yield* rs.append(stream, { a: "1" })
        yield* rs.transaction([{ _tag: "ZAdd", key: schedule, score: 1, member: id }])
        const error = yield* Effect.flip(
          rs.takeDue({ scheduleKey: schedule, recordsKey: key("h"), key: stream, group: "g", consumer: "c", now: 10, count: 10 })
        )
        assert.strictEqual(error.kind, "NoGroup")
        assert.deepStrictEqual(yield* rs.scores(schedule, [id]), [1])
      }))

    // --- markers and keys ---------------------------------------------------------------------

    it.effect("markers expire after their TTL", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("marker")
        const marker = key("m")
        const other = key("other")
        assert.isTrue(yield* rs.setMarker(marker, 2 * T))
        assert.isFalse(yield* rs.setMarker(marker, 2 * T), "a marker is set only when absent")
        assert.deepStrictEqual(yield* rs.markersExist([marker, other]), [true, false])
        yield* advance(T)
        assert.deepStrictEqual(yield* rs.markersExist([marker]), [true])
        yield* advance(2 * T)
        assert.deepStrictEqual(yield* rs.markersExist([marker]), [false])
        assert.isTrue(yield* rs.setMarker(marker, 2 * T), "an expired marker can be set again")
      }))

    it.effect("a marker set inside a transaction lands with the other writes and expires after its TTL", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("txmarker")
        const stream = key("s")
        const marker = key("m")
        yield* rs.createGroup(stream, "g")
        const [id] = yield* appendMany(stream, 1)
        yield* read({ keys: [stream], group: "g", consumer: "c" })
        assert.deepStrictEqual(
          yield* rs.transaction([
            { _tag: "Set", key: marker, value: "1", ttlMs: 2 * T },
            { _tag: "XAck", key: stream, group: "g", ids: [id!] }
          ]),
          [1, 1]
        )
        assert.deepStrictEqual(yield* rs.markersExist([marker]), [true])
        assert.strictEqual((yield* rs.pendingSummary(stream, "g")).count, 0)
        yield* advance(3 * T)
        assert.deepStrictEqual(yield* rs.markersExist([marker]), [false])
        // A key of another type makes the whole transaction fail, the ack included.
        const [other] = yield* appendMany(stream, 1)
        yield* read({ keys: [stream], group: "g", consumer: "c" })
        const error = yield* Effect.flip(rs.transaction([
          { _tag: "XAck", key: stream, group: "g", ids: [other!] },
          { _tag: "Set", key: stream, value: "1", ttlMs: T }
        ]))
        assert.strictEqual(error.kind, "Command")
        assert.strictEqual((yield* rs.pendingSummary(stream, "g")).count, 1)
      }))

    it.effect("an XAdd in a transaction copies fields from another entry, keeping the given values where it is gone", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("txcopy")
        const source = key("s")
        const target = key("t")
        const id = yield* rs.append(source, { event: "original", other: "x" })
        yield* rs.transaction([
          { _tag: "XAdd", key: target, fields: { event: "fallback", note: "n" }, copyFrom: { key: source, id, fields: ["event"] } },
          { _tag: "XAdd", key: target, fields: { event: "fallback" }, copyFrom: { key: source, id: "1-1", fields: ["event"] } }
        ])
        assert.deepStrictEqual(
          (yield* rs.range({ key: target, start: "-", end: "+" })).map((e) => e.fields),
          [{ event: "original", note: "n" }, { event: "fallback" }]
        )
      }))

    it.effect("ZRemRangeByScore in a transaction removes the members scored at or below its maximum", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("zremrange")
        const z = key("z")
        yield* rs.transaction([
          { _tag: "ZAdd", key: z, score: 1, member: "a" },
          { _tag: "ZAdd", key: z, score: 5, member: "b" },
          { _tag: "ZAdd", key: z, score: 10, member: "c" }
        ])
        assert.deepStrictEqual(yield* rs.transaction([{ _tag: "ZRemRangeByScore", key: z, max: 5 }]), [2])
        assert.deepStrictEqual(yield* rs.scores(z, ["a", "b", "c"]), [undefined, undefined, 10])
        assert.deepStrictEqual(yield* rs.transaction([{ _tag: "ZRemRangeByScore", key: key("absent"), max: 5 }]), [0])
      }))

    it.effect("removeIdleConsumers removes idle consumers without pending entries, never the caller", () =>
      Effect.gen(function*() {
        const { appendMany, key, read, rs } = yield* fixture("idlecons")
        const stream = key("s")
        yield* rs.createGroup(stream, "g")
        const [a] = yield* appendMany(stream, 3)
        yield* read({ keys: [stream], group: "g", consumer: "acked", count: 1 })
        yield* read({ keys: [stream], group: "g", consumer: "holding", count: 1 })
        yield* read({ keys: [stream], group: "g", consumer: "me", count: 1 })
        yield* rs.ack(stream, "g", [a!])
        // Nobody is idle long enough yet.
        assert.deepStrictEqual(yield* rs.removeIdleConsumers({ key: stream, group: "g", minIdle: 10 * T, keep: "me" }), [])
        yield* advance(2 * T)
        assert.deepStrictEqual(yield* rs.removeIdleConsumers({ key: stream, group: "g", minIdle: T, keep: "me" }), ["acked"])
        assert.deepStrictEqual((yield* rs.consumers(stream, "g")).map((c) => c.name), ["holding", "me"])
        const error = yield* Effect.flip(rs.removeIdleConsumers({ key: stream, group: "nope", minIdle: 0, keep: "me" }))
        assert.strictEqual(error.kind, "NoGroup")
      }))

    it.effect("markersExist reports every existing key, whatever its type", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("exists")
        const stream = key("s")
        const schedule = key("z")
        const marker = key("m")
        yield* rs.append(stream, { a: "1" })
        yield* rs.transaction([{ _tag: "ZAdd", key: schedule, score: 1, member: "m" }])
        yield* rs.setMarker(marker, "1 minute")
        assert.deepStrictEqual(yield* rs.markersExist([marker, stream, schedule, key("missing")]), [
          true,
          true,
          true,
          false
        ])
      }))

    it.effect("deleteKeys removes streams, sorted sets, hashes and markers", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("delkeys")
        const stream = key("s")
        const schedule = key("z")
        const hash = key("h")
        const marker = key("m")
        yield* rs.createGroup(stream, "g")
        yield* rs.append(stream, { a: "1" })
        yield* rs.transaction([
          { _tag: "ZAdd", key: schedule, score: 1, member: "m" },
          { _tag: "HSet", key: hash, field: "f", value: "v" }
        ])
        yield* rs.setMarker(marker, "1 minute")
        assert.strictEqual(yield* rs.deleteKeys([stream, schedule, hash, marker, key("missing")]), 4)
        assert.deepStrictEqual(yield* rs.markersExist([marker]), [false])
        assert.isUndefined(yield* rs.info(stream))
        assert.deepStrictEqual(yield* rs.scores(schedule, ["m"]), [undefined])
        assert.deepStrictEqual(yield* rs.hashGet(hash, ["f"]), [undefined])
        // The stream's groups went with it.
        assert.strictEqual((yield* Effect.flip(rs.pendingSummary(stream, "g"))).kind, "NoGroup")
      }))

    it.effect("copyForReplay copies routed entries byte for byte with the job in their replay field, stops where it cannot decide, records progress", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("replaycopy")
        const source = key("main")
        const a = key("a")
        const b = key("b")
        const progress = key("progress")
        const envelope = (id: string, extra = "") => `{"id":"${id}","type":"x","data":{"n":1}${extra}}`
        const ids = [
          yield* rs.append(source, { event: envelope("e1"), type: "t.one", tenant: "A" }),
          yield* rs.append(source, { event: envelope("e2"), type: "t.two", tenant: "A" }),
          yield* rs.append(source, { event: envelope("e3"), type: "t.one", tenant: "B" }),
          yield* rs.append(source, { event: envelope("e4"), type: "t.one", tenant: "A" }),
          yield* rs.append(source, { event: envelope("e5"), type: "t.new", tenant: "A" }),
          yield* rs.append(source, { event: envelope("e6", `,"replay":{"jobId":"old"}`), type: "t.one", tenant: "A" }),
          yield* rs.append(source, { event: envelope("e7"), type: "t.one", tenant: "A" })
        ]
        const copy = (start: string, routes: ReadonlyMap<string, ReadonlyArray<number>>, scanned: number, matched: number) =>
          rs.copyForReplay({
            key: source,
            start,
            end: "+",
            count: 10,
            targets: [a, b],
            routes,
            tenant: "A",
            jobId: "job-1",
            progress: { key: progress, field: "job-1", scanned, matched }
          })
        const routes = new Map<string, ReadonlyArray<number>>([["t.one", [0, 1]], ["t.two", [1]]])
        const first = yield* copy("-", routes, 5, 2)
        assert.deepStrictEqual(first.stop, { _tag: "UnknownType", type: "t.new" })
        assert.strictEqual(first.passed, 4)
        assert.strictEqual(first.cursor, ids[3])
        assert.isFalse(first.exhausted)
        assert.deepStrictEqual(first.copied.map((c) => [c.eventId, c.type, c.tenant]), [["e1", "t.one", "A"], ["e2", "t.two", "A"], ["e4", "t.one", "A"]])
        // The envelope as published: readers derive the marker from the `replay` field.
        const inA = yield* rs.range({ key: a, start: "-", end: "+" })
        assert.deepStrictEqual(inA.map((e) => e.fields), [
          { event: envelope("e1"), type: "t.one", tenant: "A", replay: "job-1" },
          { event: envelope("e4"), type: "t.one", tenant: "A", replay: "job-1" }
        ])
        assert.deepStrictEqual((yield* rs.range({ key: b, start: "-", end: "+" })).map((e) => JSON.parse(e.fields["event"]!).id), ["e1", "e2", "e4"])
        assert.deepStrictEqual(yield* rs.hashGet(progress, ["job-1"]), [JSON.stringify({ cursor: ids[3], scanned: 9, matched: 5 })])

        // Routed now (to no target): skipped; the envelope with a marker is left to the caller.
        const second = yield* copy(RedisStream.nextEntryId(ids[3]!), new Map([...routes, ["t.new", []]]), 9, 5)
        assert.deepStrictEqual(second.stop, { _tag: "Entry", id: ids[5]! })
        assert.strictEqual(second.passed, 1)
        assert.deepStrictEqual(second.copied, [])
        const last = yield* copy(RedisStream.nextEntryId(ids[5]!), routes, 11, 5)
        assert.deepStrictEqual([last.passed, last.cursor, last.exhausted, last.stop], [1, ids[6], true, undefined])
        assert.strictEqual((yield* rs.range({ key: a, start: "-", end: "+" })).length, 3)
        // Nothing left: nothing copied, the progress stays.
        const none = yield* copy(RedisStream.nextEntryId(ids[6]!), routes, 12, 6)
        assert.deepStrictEqual([none.passed, none.cursor, none.exhausted], [0, undefined, true])
        assert.deepStrictEqual(yield* rs.hashGet(progress, ["job-1"]), [JSON.stringify({ cursor: ids[6], scanned: 12, matched: 6 })])
      }))

    it.effect("appendLines appends one entry per line with the shared fields and sets the hash field, all or nothing", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("lines")
        const stream = key("target")
        const hash = key("progress")
        const count = yield* rs.appendLines({
          key: stream,
          count: 3,
          lines: { event: `{"id":"a"}\n{"id":"b"}\n{"id":"c","s":"x\\ny"}`, type: "t.one\nt.two\nt.one" },
          fields: { replay: "job-1" },
          hashSet: { key: hash, field: "job-1", value: "p1" }
        })
        assert.strictEqual(count, 3)
        assert.deepStrictEqual((yield* rs.range({ key: stream, start: "-", end: "+" })).map((e) => e.fields), [
          { event: `{"id":"a"}`, type: "t.one", replay: "job-1" },
          { event: `{"id":"b"}`, type: "t.two", replay: "job-1" },
          { event: `{"id":"c","s":"x\\ny"}`, type: "t.one", replay: "job-1" }
        ])
        assert.deepStrictEqual(yield* rs.hashGet(hash, ["job-1"]), ["p1"])
        // A text with another line count, or a hash key of another type: nothing written.
        const short = yield* Effect.flip(rs.appendLines({ key: stream, count: 2, lines: { event: "x", type: "t\nt" }, fields: {} }))
        assert.strictEqual(short.kind, "Command")
        yield* rs.append(key("a-stream"), { f: "v" })
        const wrong = yield* Effect.flip(
          rs.appendLines({ key: stream, count: 1, lines: { event: "x" }, fields: {}, hashSet: { key: key("a-stream"), field: "f", value: "v" } })
        )
        assert.strictEqual(wrong.kind, "Command")
        assert.strictEqual((yield* rs.range({ key: stream, start: "-", end: "+" })).length, 3)
        assert.strictEqual(yield* rs.appendLines({ key: stream, count: 0, lines: { event: "" }, fields: {} }), 0)
      }))

    it.effect("copyForReplay with firstAtMost copies nothing once the stream was trimmed past it", () =>
      Effect.gen(function*() {
        const { key, rs } = yield* fixture("replaytrim")
        const source = key("main")
        const target = key("t")
        const progress = key("progress")
        const ids: Array<string> = []
        for (let i = 1; i <= 5; i++) {
          ids.push(yield* rs.append(source, { event: `{"id":"e${i}","type":"x"}`, type: "t.one", tenant: "A" }))
        }
        const [e1, e2, e3, e4, e5] = ids
        if (e1 === undefined || e2 === undefined || e3 === undefined || e4 === undefined || e5 === undefined) return assert.fail("five ids")
        const copy = (start: string, firstAtMost: string) =>
          rs.copyForReplay({
            key: source,
            start,
            end: "+",
            count: 2,
            targets: [target],
            routes: new Map([["t.one", [0]]]),
            jobId: "job-1",
            progress: { key: progress, field: "job-1", scanned: 0, matched: 0 },
            firstAtMost
          })
        // The first entry is the one the caller saw: copied as usual.
        const first = yield* copy(e1, e1)
        assert.deepStrictEqual([first.passed, first.cursor, first.stop], [2, e2, undefined])
        // Trimmed through e3 (past the caller's position e2): nothing copied, nothing recorded.
        assert.strictEqual(yield* rs.trim(source, { minId: e4, exact: true }), 3)
        const trimmed = yield* copy(RedisStream.nextEntryId(e2), e1)
        assert.deepStrictEqual(trimmed, { passed: 0, cursor: undefined, copied: [], exhausted: false, stop: { _tag: "Trimmed", first: e4 } })
        assert.strictEqual((yield* rs.range({ key: target, start: "-", end: "+" })).length, 2)
        assert.deepStrictEqual(yield* rs.hashGet(progress, ["job-1"]), [JSON.stringify({ cursor: e2, scanned: 2, matched: 2 })])
        // A bound at or after the first entry (the caller read the gap elsewhere): copied.
        const resumed = yield* copy(e4, e4)
        assert.deepStrictEqual([resumed.passed, resumed.cursor, resumed.exhausted, resumed.stop], [2, e5, false, undefined])
        // Trimming before the caller's position does not stop it: the bound is its position.
        assert.strictEqual(yield* rs.trim(source, { minId: e5, exact: true }), 1)
        const last = yield* copy(RedisStream.nextEntryId(e5), RedisStream.nextEntryId(e5))
        assert.deepStrictEqual([last.passed, last.exhausted, last.stop], [0, true, undefined])
        // An empty stream: trimmed past any bound.
        assert.strictEqual(yield* rs.trim(source, { maxLen: 0, exact: true }), 1)
        assert.deepStrictEqual((yield* copy(e5, e5)).stop, { _tag: "Trimmed", first: undefined })
      }))

    it.effect("ping answers", () =>
      Effect.gen(function*() {
        const rs = yield* RedisStream.RedisStream
        yield* rs.ping
      }))
  })
}

// --- internal ---------------------------------------------------------------------------------

/** `N` entry ids. */
type Ids<N extends number, Acc extends ReadonlyArray<string> = readonly []> = Acc["length"] extends N ? Acc
  : Ids<N, readonly [...Acc, string]>

const hasLength = <N extends number>(ids: ReadonlyArray<string>, n: N): ids is Ids<N> => ids.length === n

/** Orders `<ms>-<seq>` ids numerically (string order would put "10-0" before "9-0"). */
const compareIds = (a: string, b: string): number => {
  const [ams = 0n, aseq = 0n] = a.split("-").map(BigInt)
  const [bms = 0n, bseq = 0n] = b.split("-").map(BigInt)
  return ams !== bms ? (ams < bms ? -1 : 1) : aseq < bseq ? -1 : aseq > bseq ? 1 : 0
}
