/**
 * What only a real Redis can prove about the ioredis backend: how many connections it holds, that
 * no blocked client outlives an interrupted read, how it fails and recovers when the server goes
 * away, and that its scripts are atomic against concurrent callers. The semantics shared with the
 * in-memory backend are covered by the contract suite (`contract/RedisStreamTest.ts`).
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { createServer } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Fiber, Layer, Queue, Schedule, Scope } from "effect"
import { Redis } from "ioredis"
import * as IoRedisStream from "../src/IoRedisStream.ts"
import * as RedisStream from "../src/RedisStream.ts"
import { redisUrl, uniquePrefix } from "./utils/TestEnv.ts"

describe("RedisStream (ioredis only)", () => {
  it.live("50 waiting readers share one notifier: at most 4 connections, and each wakes on its own key", () =>
    Effect.gen(function*() {
      const name = uniquePrefix("conns")
      const rs = yield* build(redisUrl, name)
      const redis = yield* admin(redisUrl)
      const keys = Array.from({ length: 50 }, (_, i) => `${name}:s${i}`)
      yield* Effect.forEach(keys, (key, i) => rs.createGroup(key, `g${i}`), { concurrency: "unbounded" })
      const readers = yield* Effect.forEach(keys, (key, i) =>
        rs.readGroup({ keys: [key], group: `g${i}`, consumer: "c", count: 10, block: "20 seconds" }).pipe(
          Effect.forkChild
        ))
      // Every reader has found nothing and waits once the notifier blocks on all fifty keys.
      yield* notifierBlockedOn(redis, name, keys)
      // Command traffic alongside the waiting readers.
      yield* Effect.forEach(Array.from({ length: 200 }), (_, i) => rs.append(`${name}:busy`, { i: String(i) }), {
        concurrency: 50
      })

      const clients = yield* clientsNamed(redis, name)
      assert.isAtMost(clients.length, 4, clients.join("\n"))

      const woken = [3, 17, 42]
      const [duration, entries] = yield* Effect.timed(
        Effect.andThen(
          Effect.forEach(woken, (i) => rs.append(keys[i]!, { n: String(i) })),
          Effect.forEach(woken, (i) => Fiber.join(readers[i]!))
        )
      )
      assert.isBelow(Duration.toMillis(duration), 1000)
      for (let n = 0; n < woken.length; n++) {
        assert.deepStrictEqual(entries[n]!.map((entry) => [entry.key, entry.fields["n"], entry.deliveries]), [
          [keys[woken[n]!], String(woken[n]), 1]
        ])
      }
      // The others are still waiting.
      for (let i = 0; i < readers.length; i++) {
        if (!woken.includes(i)) assert.isUndefined(readers[i]!.pollUnsafe())
      }
      yield* Effect.forEach(readers, Fiber.interrupt)
      yield* rs.deleteKeys([...keys, `${name}:busy`])
    }))

  it.live("readers that loop never wait out their block while an entry is there", () =>
    Effect.gen(function*() {
      const name = uniquePrefix("pingpong")
      const rs = yield* build(redisUrl, name)
      const keys = Array.from({ length: 6 }, (_, i) => `${name}:s${i}`)
      const rounds = 40
      // Ping-pong per key: the next append waits until the readers of both groups have the previous
      // one, then lands anywhere in their cycle (before, during or after a read). Nothing but the
      // notifier can wake a reader, so one lost wake-up stalls the key for 5 s. Two groups keep the
      // key watched while one reader is between reads, which is where a wake-up can be lost.
      const trips = (n: number) => Effect.repeat(rs.ping, { times: n })
      const reader = (key: string, group: string, salt: number, seen: Queue.Queue<number>) =>
        Effect.gen(function*() {
          let total = 0
          while (total < rounds) {
            const entries = yield* rs.readGroup({ keys: [key], group, consumer: "c", count: 10, block: "5 seconds" })
            total += entries.length
            if (entries.length === 0) continue
            yield* Queue.offer(seen, total)
            // "Handling" takes the two groups different times, so one reads again while the
            // other still waits.
            yield* trips((total * 3 + salt) % 4)
          }
        })
      const awaitSeen = Effect.fnUntraced(function*(seen: Queue.Queue<number>, n: number) {
        while ((yield* Queue.take(seen)) < n) {
          // an older count: keep taking
        }
      })
      const pingPong = Effect.fnUntraced(function*(key: string, salt: number) {
        yield* rs.createGroup(key, "g1")
        yield* rs.createGroup(key, "g2")
        const seen1 = yield* Queue.unbounded<number>()
        const seen2 = yield* Queue.unbounded<number>()
        const readers = yield* Effect.forkChild(
          Effect.all([reader(key, "g1", 0, seen1), reader(key, "g2", 1, seen2)], { concurrency: 2 })
        )
        for (let n = 1; n <= rounds; n++) {
          // 0 to 5 round trips on the readers' own connection: sub-millisecond steps that a timer
          // cannot make.
          yield* trips((n * 7 + salt) % 6)
          yield* rs.append(key, { n: String(n) })
          yield* awaitSeen(seen1, n)
          yield* awaitSeen(seen2, n)
        }
        yield* Fiber.join(readers)
      })
      const [elapsed] = yield* Effect.timed(Effect.forEach(keys, pingPong, { concurrency: "unbounded" }))
      // 480 wake-ups; a single lost one would take 5 s.
      assert.isBelow(Duration.toMillis(elapsed), 4000)
      yield* rs.deleteKeys(keys)
    }))

  it.live("after a short read the reader waits before reading again: one XREADGROUP per entry at a steady pace, and no entry waits", () =>
    Effect.gen(function*() {
      const name = uniquePrefix("short")
      const key = `${name}:s`
      const rs = yield* build(redisUrl, name)
      const redis = yield* admin(redisUrl)
      yield* rs.createGroup(key, "g")
      // Every XREADGROUP on the key, in the order the server ran them.
      const monitor = yield* Effect.acquireRelease(
        Effect.promise(() => redis.monitor()),
        (m) => Effect.sync(() => m.disconnect())
      )
      const seen: Array<string> = []
      monitor.on("monitor", (_time: string, args: ReadonlyArray<string>) => {
        const command = String(args[0]).toLowerCase()
        if (args.includes(key)) seen.push(command)
        else if (command === "echo") seen.push(String(args[1]))
      })
      const read = rs.readGroup({ keys: [key], group: "g", consumer: "c", count: 10, block: "5 seconds" })
      const fields = (entries: ReadonlyArray<RedisStream.GroupEntry>) => entries.map((e) => e.fields["n"])

      // Until the notifier watches the key, a wait may end with one empty read (its first watch
      // wakes the waiters once); from then on, counted.
      yield* rs.append(key, { n: "1" })
      assert.deepStrictEqual(fields(yield* read), ["1"], "a read finds what is there")
      const second = yield* Effect.forkChild(read)
      yield* notifierBlockedOn(redis, name, [key])
      yield* rs.append(key, { n: "2" })
      assert.deepStrictEqual(fields(yield* Fiber.join(second)), ["2"])
      const marker = (text: string) =>
        Effect.andThen(
          Effect.promise(() => redis.echo(text)),
          Effect.suspend(() => seen.includes(text) ? Effect.void : Effect.fail("not seen yet")).pipe(
            Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 }),
            Effect.orDie
          )
        )
      // Everything the server ran before the marker is in `seen`.
      yield* marker(`${name}:steady`)
      seen.length = 0

      // The last read was short, so each call waits first and the append wakes it. (Were the append
      // to come first, the call would read it at once: one read either way.)
      for (const n of ["3", "4", "5", "6"]) {
        const waiting = yield* Effect.forkChild(read)
        yield* Effect.sleep("20 millis")
        yield* rs.append(key, { n })
        assert.deepStrictEqual(fields(yield* Fiber.join(waiting)), [n])
      }
      // Appended between two calls: the generation taken before the last read has ended, so the
      // call reads at once (a lost wake-up would return nothing after the 5 s block).
      yield* rs.append(key, { n: "7" })
      assert.deepStrictEqual(fields(yield* read), ["7"])
      yield* marker(`${name}:end`)
      // Five entries, five reads: none came back empty.
      assert.deepStrictEqual(seen.filter((command) => command === "xreadgroup").length, 5, seen.join(" "))
      yield* rs.deleteKeys([key])
    }))

  it.live("an interrupted read returns at once and holds no blocked connection; closing does not hang", () =>
    Effect.gen(function*() {
      const name = uniquePrefix("interrupt")
      const redis = yield* admin(redisUrl)
      const scope = yield* Scope.make()
      const rs = yield* build(redisUrl, name).pipe(Scope.provide(scope))
      const keys = Array.from({ length: 10 }, (_, i) => `${name}:s${i}`)
      yield* Effect.forEach(keys, (key) => rs.createGroup(key, "g"))
      const readers = yield* Effect.forEach(keys, (key) =>
        rs.readGroup({ keys: [key], group: "g", consumer: "c", count: 1, block: "30 seconds" }).pipe(Effect.forkChild))
      yield* notifierBlockedOn(redis, name, keys)

      const [interrupted] = yield* Effect.timed(Effect.forEach(readers, Fiber.interrupt))
      assert.isBelow(Duration.toMillis(interrupted), 500)
      // One blocked connection at most (the shared notifier), never one per reader, and never `:cmd`.
      const blocked = (yield* clientsNamed(redis, name)).filter(isBlocked)
      assert.isAtMost(blocked.length, 1, blocked.join("\n"))
      assert.isFalse(blocked.some((line) => line.includes(`name=${name}:cmd`)))

      const [closed] = yield* Effect.timed(Scope.close(scope, Exit.void))
      assert.isBelow(Duration.toMillis(closed), 1000)
      const left = yield* clientsNamed(redis, name).pipe(
        Effect.filterOrFail((clients) => clients.length === 0),
        Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 50 })
      )
      assert.deepStrictEqual(left, [])
      yield* Effect.promise(() => redis.del(...keys))
    }))

  it.live("a build against a port with nothing listening fails fast with Unavailable", () =>
    Effect.gen(function*() {
      const port = yield* sparePort
      const [elapsed, error] = yield* Effect.timed(Effect.flip(build(`redis://127.0.0.1:${port}`, uniquePrefix("bad"))))
      assert.strictEqual(error.kind, "Unavailable")
      assert.match(error.detail, /ECONNREFUSED/)
      assert.isBelow(Duration.toMillis(elapsed), 2000)
    }))

  it.live("while the server is down commands fail fast with Unavailable, and work again once it is back", () =>
    Effect.gen(function*() {
      const port = yield* sparePort
      const url = `redis://127.0.0.1:${port}`
      const name = uniquePrefix("outage")
      const first = yield* startServer(port)
      const rs = yield* build(url, name)
      yield* rs.createGroup("s", "g")
      yield* rs.append("s", { n: "1" })

      yield* stopServer(first)
      const [failedIn, error] = yield* Effect.timed(Effect.flip(rs.append("s", { n: "2" })))
      assert.strictEqual(error.kind, "Unavailable")
      assert.isTrue(error.isRetryable)
      assert.isBelow(Duration.toMillis(failedIn), 2000)
      // Still failing fast while ioredis reconnects in the background.
      const [againIn, again] = yield* Effect.timed(
        Effect.flip(rs.readGroup({ keys: ["s"], group: "g", consumer: "c", count: 1, block: "5 seconds" }))
      )
      assert.strictEqual(again.kind, "Unavailable")
      assert.isBelow(Duration.toMillis(againIn), 2000)

      // The same port, an empty server (nothing persisted): the layer recovers without a rebuild.
      yield* startServer(port)
      yield* rs.ping.pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }))
      // Both connections are new: a second key joining the notifier's XREAD needs the new
      // connection's id for CLIENT UNBLOCK, or it would wait for the XREAD's own timeout.
      const redis = yield* admin(url)
      yield* rs.createGroup("s", "g")
      yield* rs.createGroup("t", "g")
      const onS = yield* forkRead(rs, "s")
      yield* notifierBlockedOn(redis, name, ["s"])
      const onT = yield* forkRead(rs, "t")
      yield* notifierBlockedOn(redis, name, ["s", "t"])
      const [wokeIn, entries] = yield* Effect.timed(Effect.andThen(rs.append("t", { n: "3" }), Fiber.join(onT)))
      assert.deepStrictEqual(entries.map((entry) => entry.fields), [{ n: "3" }])
      assert.isBelow(Duration.toMillis(wokeIn), 1000)
      yield* Fiber.interrupt(onS)
      // Scripts are cached per server: the restarted one answers NOSCRIPT and EVAL takes over.
      assert.deepStrictEqual(
        yield* rs.takeDue({ scheduleKey: "due", recordsKey: "records", key: "s", group: "g", consumer: "c", now: 0, count: 1 }),
        { entries: [], nextDueAt: undefined }
      )
    }))

  it.live("a server that stops answering without closing the connection fails commands after the command timeout", () =>
    Effect.gen(function*() {
      const port = yield* sparePort
      const url = `redis://127.0.0.1:${port}`
      const server = yield* startServer(port)
      const rs = yield* Layer.build(IoRedisStream.layer({ ...RedisStream.options(url, uniquePrefix("hang")), commandTimeout: "300 millis" })).pipe(
        Effect.map(Context.get(RedisStream.RedisStream))
      )
      yield* rs.append("s", { n: "1" })
      // SIGSTOP: the socket stays open and nothing answers, as with a hung server or a dead peer.
      yield* Effect.sync(() => server.kill("SIGSTOP"))
      // One command, and a batch of appends sent as one MULTI: each call times out once.
      const [[failedIn, error], [batchFailedIn, batchError]] = yield* Effect.all([
        Effect.timed(Effect.flip(rs.length("s"))),
        Effect.timed(Effect.flip(rs.transaction([{ _tag: "XAdd", key: "s", fields: { n: "2" } }, { _tag: "XAdd", key: "s", fields: { n: "3" } }])))
      ], { concurrency: "unbounded" })
      yield* Effect.sync(() => server.kill("SIGCONT"))
      for (const [took, failure] of [[failedIn, error], [batchFailedIn, batchError]] as const) {
        assert.strictEqual(failure.kind, "Unavailable")
        assert.isAtLeast(Duration.toMillis(took), 250)
        assert.isBelow(Duration.toMillis(took), 2000)
      }
      yield* rs.ping.pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 40 }))
      // The server ran what it had received once it answered again: a write that timed out may
      // have landed, which is why `Unavailable` never means "not written".
      assert.strictEqual(yield* rs.length("s"), 3)
    }))

  it.live("a reader waiting through an outage reads again once the notifier is back, long before its block ends", () =>
    Effect.gen(function*() {
      const port = yield* sparePort
      const url = `redis://127.0.0.1:${port}`
      const name = uniquePrefix("outage-wait")
      const first = yield* startServer(port)
      const rs = yield* build(url, name)
      yield* rs.createGroup("s", "g")
      const waiting = yield* forkRead(rs, "s")
      yield* notifierBlockedOn(yield* admin(url), name, ["s"])

      // The notifier's XREAD fails with the connection; it restarts with backoff, watches the key
      // again and wakes the reader (entries appended meanwhile would not be in its XREAD). The
      // reader's next read finds the group gone with the old server, or, when its own connection
      // is not back yet, fails as Unavailable: either way it is told, not left waiting blind.
      yield* stopServer(first)
      yield* startServer(port)
      const [endedIn, error] = yield* Effect.timed(Effect.flip(Fiber.join(waiting)))
      assert.include(["NoGroup", "Unavailable"], error.kind)
      assert.isBelow(Duration.toMillis(endedIn), 10_000)
    }))

  it.live("takeDue hands every due member to exactly one of several racing callers", () =>
    Effect.gen(function*() {
      const p = uniquePrefix("takedue")
      const key = `${p}:s`
      const schedule = `${p}:due`
      // Two layers: two processes' worth of connections.
      const a = yield* build(redisUrl, `${p}:a`)
      const b = yield* build(redisUrl, `${p}:b`)
      yield* a.createGroup(key, "g", "0")
      const ids = yield* a.transaction(
        Array.from({ length: 200 }, (_, i) => ({ _tag: "XAdd" as const, key, fields: { i: String(i) } }))
      )
      const delivered = yield* a.readGroup({ keys: [key], group: "g", consumer: "first", count: 200, block: 0 })
      assert.strictEqual(delivered.length, 200)
      yield* a.transaction(ids.map((id) => ({ _tag: "ZAdd" as const, key: schedule, score: 1, member: String(id) })))

      // Four callers over two connections take small batches until the schedule is empty.
      const taken: Array<RedisStream.GroupEntry> = []
      const drain = (rs: RedisStream.RedisStream["Service"], consumer: string) =>
        rs.takeDue({ scheduleKey: schedule, recordsKey: `${schedule}:records`, key, group: "g", consumer, now: 1, count: 7 }).pipe(
          Effect.map((due) => due.entries),
          Effect.tap((entries) => Effect.sync(() => taken.push(...entries))),
          Effect.repeat({ while: (entries) => entries.length > 0 })
        )
      yield* Effect.all([drain(a, "a1"), drain(a, "a2"), drain(b, "b1"), drain(b, "b2")], { concurrency: "unbounded" })

      const takenIds = taken.map((entry) => entry.id)
      assert.strictEqual(takenIds.length, 200)
      assert.strictEqual(new Set(takenIds).size, 200)
      assert.isTrue(taken.every((entry) => entry.deliveries === 2))
      assert.strictEqual(yield* a.pendingSummary(key, "g").pipe(Effect.map((summary) => summary.count)), 200)
      yield* a.deleteKeys([key, schedule])
    }))

  it.live("a transaction with a command Redis would reject applies nothing", () =>
    Effect.gen(function*() {
      const p = uniquePrefix("tx")
      const rs = yield* build(redisUrl, `${p}:conn`)
      const redis = yield* admin(redisUrl)
      const stream = `${p}:s`
      const notASortedSet = `${p}:really-a-stream`
      yield* rs.append(notASortedSet, { n: "1" })

      // Why this needs more than MULTI/EXEC: Redis applies the XADD and only fails the ZADD.
      const multi = yield* Effect.promise(() =>
        redis.multi().xadd(`${p}:multi`, "*", "n", "1").zadd(notASortedSet, 1, "m").exec()
      )
      assert.isNotNull(multi?.[1]?.[0])
      assert.strictEqual(yield* rs.length(`${p}:multi`), 1)

      // A wrong key type, found by the server.
      const wrongType = yield* Effect.flip(rs.transaction([
        { _tag: "XAdd", key: stream, fields: { n: "1" } },
        { _tag: "XAck", key: stream, group: "g", ids: ["1-0"] },
        { _tag: "ZAdd", key: notASortedSet, score: 1, member: "m" }
      ]))
      assert.strictEqual(wrongType.kind, "Command")
      assert.match(wrongType.detail, /WRONGTYPE/)
      // A malformed argument, which Redis would only reject when the command runs.
      const badId = yield* Effect.flip(rs.transaction([
        { _tag: "XAdd", key: stream, fields: { n: "1" } },
        { _tag: "XDel", key: notASortedSet, ids: ["not-an-id"] }
      ]))
      assert.strictEqual(badId.kind, "Command")

      assert.strictEqual(yield* rs.length(stream), 0)
      assert.strictEqual(yield* rs.length(notASortedSet), 1)
      yield* rs.deleteKeys([stream, notASortedSet, `${p}:multi`])
    }))

  it.live("a batch of appends to one stream (the MULTI/EXEC path) is all or nothing", () =>
    Effect.gen(function*() {
      const p = uniquePrefix("append-batch")
      const rs = yield* build(redisUrl, `${p}:conn`)
      const redis = yield* admin(redisUrl)
      const stream = `${p}:s`
      const notAStream = `${p}:string`
      yield* Effect.promise(() => redis.set(notAStream, "x"))

      const ids = yield* rs.transaction(Array.from({ length: 50 }, (_, n) => ({
        _tag: "XAdd" as const,
        key: stream,
        fields: { n: String(n) },
        trim: { minId: "0-1" }
      })))
      assert.strictEqual(ids.length, 50)
      const entries = yield* rs.range({ key: stream, start: "-", end: "+" })
      assert.deepStrictEqual(entries.map((e) => e.id), ids)
      assert.deepStrictEqual(entries.map((e) => e.fields["n"]), Array.from({ length: 50 }, (_, n) => String(n)))

      const wrongType = yield* Effect.flip(rs.transaction([
        { _tag: "XAdd", key: notAStream, fields: { n: "1" } },
        { _tag: "XAdd", key: notAStream, fields: { n: "2" } }
      ]))
      assert.strictEqual(wrongType.kind, "Command")
      assert.match(wrongType.detail, /WRONGTYPE/)
      assert.strictEqual(yield* Effect.promise(() => redis.get(notAStream)), "x")

      const empty = yield* Effect.flip(rs.transaction([
        { _tag: "XAdd", key: stream, fields: { n: "51" } },
        { _tag: "XAdd", key: stream, fields: {} }
      ]))
      assert.strictEqual(empty.kind, "Command")
      assert.strictEqual(yield* rs.length(stream), 50)
      yield* rs.deleteKeys([stream, notAStream])
    }))
})

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/** A reader waiting up to 20 s on `key` in group `g`, forked. */
const forkRead = (rs: RedisStream.RedisStream["Service"], key: string) =>
  rs.readGroup({ keys: [key], group: "g", consumer: "c", count: 10, block: "20 seconds" }).pipe(Effect.forkChild)

/** The service of a fresh layer, for the current scope. */
const build = (url: string, connectionName: string) =>
  Layer.build(IoRedisStream.layer(RedisStream.options(url, connectionName))).pipe(
    Effect.map(Context.get(RedisStream.RedisStream))
  )

/** A plain connection for what the service does not expose (CLIENT LIST, MULTI). */
const admin = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const redis = new Redis(url, { protocol: 2, lazyConnect: true })
      await redis.connect()
      return redis
    }),
    (redis) => Effect.promise(() => redis.quit())
  )

/** `CLIENT LIST` lines of the connections named `<prefix>:…`. */
const clientsNamed = (redis: Redis, prefix: string) =>
  Effect.promise(() => redis.call("CLIENT", "LIST")).pipe(
    Effect.map((list) => String(list).split("\n").filter((line) => line.includes(` name=${prefix}:`)))
  )

const isBlocked = (line: string) => /\bflags=\w*b/.test(line)

/**
 * Waits until the layer's notifier blocks in an XREAD over all of `keys`, that is until every
 * reader on them has found nothing and waits. `argv-mem` (Redis ≥ 6.2) is the size of the blocked
 * command's arguments, which include every key.
 */
const notifierBlockedOn = (redis: Redis, prefix: string, keys: ReadonlyArray<string>) => {
  const minimum = keys.reduce((sum, key) => sum + key.length, 0)
  return clientsNamed(redis, prefix).pipe(
    Effect.map((clients) => clients.find((line) => line.includes(` name=${prefix}:notify `))),
    Effect.filterOrFail((line) =>
      line !== undefined && isBlocked(line) && / cmd=xread /.test(line) &&
      Number(/ argv-mem=(\d+)/.exec(line)?.[1]) >= minimum
    ),
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 }),
    Effect.orDie
  )
}

/** A TCP port nothing listens on (as of now). */
const sparePort = Effect.callback<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A private, non-persistent redis-server on `port`, killed with the scope; resolves once it answers. */
const startServer = (port: number) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
        stdio: "ignore"
      })
    ),
    (server) => stopServer(server)
  ).pipe(
    Effect.tap(() =>
      Effect.tryPromise(async () => {
        const probe = new Redis(port, "127.0.0.1", { lazyConnect: true, retryStrategy: () => null, protocol: 2 })
        probe.on("error", () => {})
        try {
          await probe.connect()
          await probe.ping()
        } finally {
          probe.disconnect()
        }
      }).pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 100 }), Effect.orDie)
    )
  )

const stopServer = (server: ChildProcess) =>
  Effect.callback<void>((resume) => {
    if (server.exitCode !== null || server.signalCode !== null) return resume(Effect.void)
    server.once("exit", () => resume(Effect.void))
    server.kill("SIGKILL")
  })
