/**
 * The ioredis backend of `RedisStream`: the engine (`makeService`, over a `Transport`) shared with
 * the Redis Cluster backend (`redisClusterStream.ts`), and the single-node `make`. What differs
 * between the two is the transport: the connection commands go through (a `Redis` or a
 * `Cluster`), the notifier, how keys group by slot (one group on a single node), and whether
 * writes that add entries wait for replicas (`WAIT`, pipelined on the writing connection). Atomic
 * steps whose keys span slots fail with kind `CrossSlot` before anything is sent; reads over
 * several slots run one `XREADGROUP` per slot.
 *
 * **Connections (single node).** Two per layer, however many fibers read concurrently:
 * - `<name>:cmd` carries every non-blocking command. ioredis writes a command as soon as it is
 *   issued and matches replies in order, so concurrent fibers pipeline on it for free.
 * - `<name>:notify` runs a single blocking `XREAD BLOCK … STREAMS k1 k2 … id1 id2 …` over the
 *   keys readers wait on, from the newest id it has seen on each. It reads for no group: it only
 *   tells waiting readers that a key moved.
 *
 * **Reading.** `readGroup` is a non-blocking `XREADGROUP … >` on `:cmd`. When that comes back empty
 * the reader waits on its keys' generations (a `Generation` per key that the notifier ends, and
 * replaces, whenever the key moves) until one changes or `block` runs out, then reads again. The
 * generation is taken *before* the non-blocking read, so an entry appended between that read and
 * the wait is never lost: either the read saw it or the notifier reports it. By the same argument
 * a read that took fewer than `count` entries of each key read everything appended before it, so
 * the reader's next call waits first, on the generations taken before that read, and reads when a
 * key moves (one `XREADGROUP` per wake-up instead of an empty read first). A key the notifier
 * starts watching is initialised with its newest id (`XREVRANGE key + - COUNT 1`) and its
 * generation is bumped once, which covers appends between a reader's read and the watch. A new key
 * interrupts the blocked XREAD with `CLIENT UNBLOCK` from `:cmd`; keys that nobody waits on are
 * dropped lazily (on their next append, or after `watchLinger`), so readers that loop do not make
 * the notifier restart. Interrupting a waiting reader touches no connection and returns at once.
 *
 * **Outages.** Both connections use `enableOfflineQueue: false` and `maxRetriesPerRequest: 0`: a
 * command issued while Redis is unreachable, or in flight when the connection drops, fails at once
 * with kind `Unavailable` instead of queueing, and a write whose reply was lost is never resent
 * behind the caller's back. ioredis keeps reconnecting in the background (capped backoff) and the
 * notifier restarts on a `Schedule`, so the layer recovers without being rebuilt.
 *
 * **Atomic multi-key work** (`transaction`, `takeDue`, claims with delivery counts, reading a
 * consumer's own pending entries without touching them, a replay's batch appended from one text
 * with `appendLines`) runs as Lua scripts, see `lua/`.
 * `transaction` is a script rather than MULTI/EXEC because EXEC applies the other commands when
 * one fails at run time; the script checks key types before its first write. It also costs Node
 * about half the CPU of MULTI for a batch of appends (one command and one reply instead of N + 2).
 *
 * **Limits.** Only this process's deletions (`deleteKeys`, `destroyGroup`) wake its readers at
 * once; a stream or group deleted elsewhere surfaces on the reader's next read, at the end of its
 * `block`. A server that stops answering without closing the connection is noticed by TCP
 * keep-alive, not by a command timeout (a timeout would also report writes that did happen as
 * failed). A reader that keeps waiting on a busy key while others in its group take every entry
 * costs the notifier one XREAD round per append.
 */
import { Clock, Deferred, Duration, Effect, Redacted, Result } from "effect"
import type { Scope } from "effect"
import { type Cluster, Redis } from "ioredis"
import type * as RedisStream from "../RedisStream.ts"
import { RedisStreamError } from "../RedisStream.ts"
import * as Scripts from "./scripts.ts"
import * as Supervision from "./supervision.ts"

type Service = RedisStream.RedisStream["Service"]
type Args = Array<string | number>

/**
 * Builds the service over two connections that live as long as the enclosing scope. Fails with
 * kind `Unavailable` when Redis cannot be reached at build time. `client` is the command
 * connection (`IoRedisStream.IoRedisClient`).
 */
export const make: (
  options: RedisStream.RedisStreamOptions
) => Effect.Effect<{ readonly service: Service; readonly client: Redis; readonly replyTimeoutMs: number }, RedisStreamError, Scope.Scope> =
  Effect.fnUntraced(function*(options: RedisStream.RedisStreamOptions) {
    const name = options.connectionName ?? "hyvve"
    const url = Redacted.value(options.url)
    // Acquired first, released last: the notifier below is stopped before its connections close.
    // Only the command connection's calls get a reply timeout (`replyWithin`): it never blocks, so
    // a command without a reply for that long means a connection that hangs without closing (the
    // notifier's XREAD blocks on purpose and is bounded by its own BLOCK).
    const replyTimeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options.commandTimeout ?? defaultCommandTimeout))
    const cmd = yield* connect(url, `${name}:cmd`)
    const notify = yield* connect(url, `${name}:notify`)
    const scope = yield* Effect.scope
    const notifier = makeNotifier({
      connections: Effect.succeed({ blocking: notify, control: cmd }),
      failed: Effect.void,
      replyTimeoutMs
    }, scope)
    yield* Effect.forkScoped(runNotifier(notifier))
    const service = makeService({ conn: cmd, notifier, bySlot: oneSlot, waitReplicas: undefined, redirected: undefined, replyTimeoutMs })
    return { service, client: cmd, replyTimeoutMs }
  })

/** A single node or an ioredis `Cluster`: both route `call`, `multi` and `pipeline` themselves. */
export type Connection = Redis | Cluster

/** What the service needs from a deployment: a single node or a cluster. */
export interface Transport {
  /** Carries every non-blocking command. */
  readonly conn: Connection
  /** Wakes waiting readers when their keys move. */
  readonly notifier: Notifier
  /**
   * `keys` grouped by the slot they hash to, groups in the order of their first key: the sets of
   * keys one command may name together (a single node has one group).
   */
  readonly bySlot: (keys: ReadonlyArray<string>) => ReadonlyArray<ReadonlyArray<string>>
  /** After a write that adds entries, wait for this many replicas to have it (`WAIT`). */
  readonly waitReplicas: { readonly replicas: number; readonly timeoutMs: number } | undefined
  /** Runs after a write came back redirected (cluster: the slot map is refreshed before a retry). */
  readonly redirected: (() => Promise<void>) | undefined
  /** How long a call on `conn` waits for its reply before failing with `Unavailable` (`replyWithin`). */
  readonly replyTimeoutMs: number
}

const oneSlot = (keys: ReadonlyArray<string>): ReadonlyArray<ReadonlyArray<string>> => [keys]

/** Runs a notifier for as long as the calling fiber, on real time. */
export const runNotifier = (notifier: Notifier): Effect.Effect<never> =>
  notifier.run.pipe(
    Effect.annotateLogs({ package: "@hyvve/bus", module: "RedisStream", fiber: "notifier" }),
    // The notifier's backoff must run on real time even when the layer is built under a TestClock.
    Effect.provideService(Clock.Clock, wallClock)
  )

/** The service over a transport (see the module doc). */
export const makeService = (transport: Transport): Service => {
    const { bySlot, conn: cmd, notifier, replyTimeoutMs, waitReplicas } = transport
    const timed = <A>(reply: Promise<A>): Promise<A> => replyWithin(reply, replyTimeoutMs)
    /**
     * Readers (group, consumer and keys) whose last read was short, with the generations taken
     * before it. Such a read took everything appended before it began, and the notifier reports
     * whatever is appended since, so the reader's next call waits first and reads when a key moves,
     * instead of spending a round trip on a read that would come back empty (at a steady rate, one
     * round trip per event fewer).
     */
    const shortReads = new Map<string, ReadonlyArray<Generation>>()
    const send = <A>(command: string, args: Args, parse: (reply: unknown) => A) =>
      attempt(command, () => timed(cmd.call(command, args)).then(parse))
    const script = <A>(s: Scripts.Script, keys: ReadonlyArray<string>, args: Args, parse: (reply: unknown) => A) =>
      evalScript((command, full) => timed(cmd.call(command, full)), s, keys, args, parse)

    /**
     * A write that adds entries: with `waitReplicas`, pipelined with `WAIT` on the same connection
     * (WAIT counts the replicas that have every earlier write of its connection).
     */
    const durable = waitReplicas === undefined ? undefined : (command: string, args: Args): Promise<unknown> =>
      // WAIT may take its own timeout on top of the reply's.
      replyWithin(writeThenWait(cmd, [command, ...args], waitReplicas, transport.redirected), replyTimeoutMs + waitReplicas.timeoutMs)
    const sendDurable = <A>(command: string, args: Args, parse: (reply: unknown) => A) =>
      durable === undefined ? send(command, args, parse) : attempt(command, () => durable(command, args).then(parse))

    /** Runs `lua/transaction-n.lua`, after checking what Redis would only reject halfway through. */
    const transact = <A>(commands: ReadonlyArray<RedisStream.Command>, parse: (reply: unknown) => A) => {
      const keys: Array<string> = []
      const indices = new Map<string, number>()
      const args: Args = []
      let appends = false
      for (let i = 0; i < commands.length; i++) {
        const failure = encodeCommand(commands[i]!, keys, indices, args)
        if (failure !== undefined) return Effect.fail(failure)
        if (commands[i]!._tag === "XAdd") appends = true
      }
      const split = crossSlot("EVALSHA transaction", keys)
      if (split !== undefined) return Effect.fail(split)
      return appends && durable !== undefined
        ? evalScript(durable, Scripts.transaction, keys, args, parse)
        : script(Scripts.transaction, keys, args, parse)
    }

    /**
     * Keys one atomic step would touch on several slots: no cluster node can run that step, and
     * splitting it would break its atomicity, so it fails before anything is sent.
     */
    const crossSlot = (command: string, keys: ReadonlyArray<string>): RedisStreamError | undefined => {
      const groups = bySlot(keys)
      if (groups.length < 2) return undefined
      return new RedisStreamError({
        command,
        kind: "CrossSlot",
        detail: `one atomic step cannot touch keys of several cluster slots: ${
          groups.map((group) => `{ ${group.join(", ")} }`).join(" and ")
        } (give keys used together one {hash tag})`
      })
    }

    const crossSlotFailure = (command: string, keys: ReadonlyArray<string>) => {
      const failure = crossSlot(command, keys)
      return failure === undefined ? undefined : Effect.fail(failure)
    }

    // A batch of appends to one stream (what `publishBatch` sends) runs as MULTI/EXEC: Redis
    // spends ~2.5 µs per XADD there against ~10 µs inside the script, and for one key it is
    // all-or-nothing too (every XADD to a key fails or succeeds alike, and a command Redis
    // refuses while queueing aborts the EXEC). With `waitReplicas` it runs as the script, which
    // can be pipelined with its WAIT.
    const appendBatch = (commands: ReadonlyArray<AppendCommand>): Effect.Effect<ReadonlyArray<string>, RedisStreamError> => {
      if (durable !== undefined) return transact(commands, (reply) => parseReplies(reply, commands.length).map(asString))
      const queued: Array<Args> = []
      for (let i = 0; i < commands.length; i++) {
        const { fields, key, trim } = commands[i]!
        const invalidTrim = checkTrim(trim, "XADD")
        if (invalidTrim !== undefined) return Effect.fail(invalidTrim)
        const args: Args = ["xadd", key]
        pushTrim(args, trim)
        args.push("*")
        if (pushFields(args, fields) === 0) return Effect.fail(invalid("XADD", "an entry needs at least one field"))
        queued.push(args)
      }
      return attempt("MULTI", () => timed(cmd.multi(queued).exec())).pipe(
        Effect.flatMap((replies) => parseExec(replies, commands.length))
      )
    }

    /** One non-blocking `XREADGROUP … >` per slot (one on a single node), entries in key order. */
    const readNow = (o: Parameters<Service["readGroup"]>[0]): Effect.Effect<ReadonlyArray<RedisStream.GroupEntry>, RedisStreamError> => {
      const command = (keys: ReadonlyArray<string>) => {
        const args: Args = ["GROUP", o.group, o.consumer, "COUNT", o.count, "STREAMS"]
        for (let i = 0; i < keys.length; i++) args.push(keys[i]!)
        for (let i = 0; i < keys.length; i++) args.push(">")
        return send("XREADGROUP", args, parseGroupRead)
      }
      const groups = bySlot(o.keys)
      if (groups.length === 1) return command(o.keys)
      const order = new Map(o.keys.map((key, i) => [key, i]))
      return Effect.forEach(groups, (keys) => Effect.result(command(keys)), { concurrency: "unbounded" }).pipe(
        Effect.flatMap((results) => {
          const entries: Array<RedisStream.GroupEntry> = []
          let failure: RedisStreamError | undefined
          for (const result of results) {
            if (Result.isSuccess(result)) entries.push(...result.success)
            else failure ??= result.failure
          }
          // Entries some slots delivered are returned even when another slot failed: they are in
          // the group's pending list now. The failed slot is read again by the next call.
          if (failure !== undefined && entries.length === 0) return Effect.fail(failure)
          // Stable: each key's entries stay in id order.
          return Effect.succeed(entries.sort((a, b) => order.get(a.key)! - order.get(b.key)!))
        })
      )
    }

    const readGroup: Service["readGroup"] = (o) => {
      const keys = o.keys
      if (keys.length === 0) return Effect.succeed(noEntries)
      const read = readNow(o)
      const blockMs = Duration.toMillis(o.block)
      // Short reads are remembered only for blocking reads of one slot: over several slots a read
      // can come back short because one slot failed, and that slot must be read again at once.
      const reader = blockMs > 0 && bySlot(keys).length === 1 ? `${o.group}\n${o.consumer}\n${keys.join("\n")}` : undefined
      const remember = (entries: ReadonlyArray<RedisStream.GroupEntry>, generations: ReadonlyArray<Generation>) => {
        if (reader !== undefined && isShort(entries, keys, o.count)) shortReads.set(reader, generations)
      }
      return Effect.suspend(() => {
        // Taken before the read: see the module doc.
        const generations = notifier.generations(keys)
        const previous = reader === undefined ? undefined : shortReads.get(reader)
        if (previous !== undefined) {
          shortReads.delete(reader!)
          // Nothing moved since this reader's last read, which was short: wait first.
          if (sameGenerations(previous, generations)) return waitThenRead(notifier, keys, read, generations, blockMs, remember)
        }
        return Effect.flatMap(read, (entries) => {
          if (entries.length > 0 || !(blockMs > 0)) {
            remember(entries, generations)
            return Effect.succeed(entries)
          }
          return waitThenRead(notifier, keys, read, generations, blockMs, remember)
        })
      })
    }

    const service: Service = {
      append: (key, fields, trim) => {
        // XADD takes one trimming strategy: with both, the script runs XADD and XTRIM atomically.
        if (trim?.minId !== undefined && trim.maxLen !== undefined) {
          return transact([{ _tag: "XAdd", key, fields, trim }], parseFirstId)
        }
        const invalidTrim = checkTrim(trim, "XADD")
        if (invalidTrim !== undefined) return Effect.fail(invalidTrim)
        const args: Args = [key]
        pushTrim(args, trim)
        args.push("*")
        if (pushFields(args, fields) === 0) return Effect.fail(invalid("XADD", "an entry needs at least one field"))
        return sendDurable("XADD", args, asString)
      },

      transaction: (commands) =>
        commands.length === 0
          ? Effect.succeed(noReplies)
          : (isAppendBatch(commands)
            ? appendBatch(commands)
            : transact(commands, (reply) => parseReplies(reply, commands.length))).pipe(
              // This process's readers of the streams appended to wake at once (a router's copies
              // to its inboxes), without waiting for the notifier's next round.
              Effect.tap(() => notifier.moved(appendedKeys(commands)))
            ),

      createGroup: (key, group, startId = "$") =>
        attempt("XGROUP", () =>
          timed(cmd.call("XGROUP", ["CREATE", key, group, startId, "MKSTREAM"])).then(
            () => undefined,
            // The group already exists: creating it is idempotent.
            (error) => replyStartsWith(error, "BUSYGROUP") ? undefined : Promise.reject(error)
          )),

      destroyGroup: (key, group) =>
        attempt("XGROUP", () =>
          timed(cmd.call("XGROUP", ["DESTROY", key, group])).then(
            (reply) => asInteger(reply) > 0,
            // No stream, so no group either.
            (error) => replyStartsWith(error, "ERR The XGROUP subcommand requires the key to exist")
              ? false
              : Promise.reject(error)
          )).pipe(
            // The group's waiting readers (in this process) find out at once: their next read fails.
            Effect.tap((existed) => existed ? notifier.moved([key]) : Effect.void)
          ),

      readGroup,

      appendLines: (o) => {
        const command = "EVALSHA appendLines"
        if (!Number.isInteger(o.count) || o.count < 0) return Effect.fail(invalid(command, `count must be a non-negative integer, got ${o.count}`))
        if (o.count === 0) return Effect.succeed(0)
        // The line counts are checked by the script, before its first write.
        if (Object.keys(o.lines).length === 0) return Effect.fail(invalid(command, "an entry needs at least one field from the lines"))
        const hash = o.hashSet
        const keys = [o.key, hash?.key ?? o.key]
        const split = crossSlot(command, keys)
        if (split !== undefined) return Effect.fail(split)
        const args: Args = [hash?.field ?? "", hash?.value ?? "", o.count, Object.keys(o.lines).length]
        pushFields(args, o.lines)
        pushFields(args, o.fields)
        return (durable !== undefined
          ? evalScript(durable, Scripts.appendLines, keys, args, asInteger)
          : script(Scripts.appendLines, keys, args, asInteger)).pipe(Effect.tap(() => notifier.moved([o.key])))
      },

      readOwnPending: (o) =>
        script(
          Scripts.readPending,
          [o.key],
          [o.group, o.consumer, o.after === undefined ? "-" : `(${o.after}`, o.count],
          (reply) => parseEntries(o.key, reply)
        ),

      ack: (key, group, ids) =>
        ids.length === 0 ? Effect.succeed(0) : send("XACK", [key, group, ...ids], asInteger),

      pendingSummary: (key, group) => send("XPENDING", [key, group], parsePendingSummary),

      pending: (o) => {
        const args: Args = [o.key, o.group]
        if (o.minIdle !== undefined) args.push("IDLE", millis(o.minIdle))
        args.push(o.start ?? "-", "+", o.count)
        if (o.consumer !== undefined) args.push(o.consumer)
        return send("XPENDING", args, parsePendingRows)
      },

      claim: (o) => {
        if (o.ids.length === 0) return Effect.succeed(noEntries)
        // The script claims long id lists in slices; a malformed id must not fail a later slice.
        const invalidId = checkIds("XCLAIM", o.ids)
        if (invalidId !== undefined) return Effect.fail(invalidId)
        return script(
          Scripts.claim,
          [o.key],
          [o.group, o.consumer, millis(o.minIdle), o.justId === true ? "1" : "0", ...o.ids],
          (reply) => parseClaimed(o.key, reply)
        )
      },

      autoClaim: (o) =>
        script(
          Scripts.autoClaim,
          [o.key],
          [o.group, o.consumer, millis(o.minIdle), o.start, o.count],
          (reply) => parseAutoClaim(o.key, reply)
        ),

      range: (o) => {
        const args: Args = o.reverse === true ? [o.key, o.end, o.start] : [o.key, o.start, o.end]
        if (o.count !== undefined) args.push("COUNT", o.count)
        return send(o.reverse === true ? "XREVRANGE" : "XRANGE", args, (reply) => parseEntries(o.key, reply))
      },

      length: (key) => send("XLEN", [key], asInteger),

      info: (key) =>
        attempt("XINFO", () =>
          timed(cmd.call("XINFO", ["STREAM", key])).then(
            (reply) => parseStreamInfo(key, reply),
            (error) => noSuchKey(error) ? undefined : Promise.reject(error)
          )),

      groups: (key) =>
        attempt("XINFO", () =>
          timed(cmd.call("XINFO", ["GROUPS", key])).then(
            parseGroups,
            (error) => noSuchKey(error) ? noGroups : Promise.reject(error)
          )),

      consumers: (key, group) =>
        attempt("XINFO", () =>
          timed(cmd.call("XINFO", ["CONSUMERS", key, group])).then(
            parseConsumers,
            // Without a stream there is no group: report it as such, like a missing group.
            (error) =>
              Promise.reject(
                noSuchKey(error) ? new RedisStreamError({ command: "XINFO", kind: "NoGroup", detail: error.message }) : error
              )
          )),

      delete: (key, ids) => ids.length === 0 ? Effect.succeed(0) : send("XDEL", [key, ...ids], asInteger),

      trim: (key, trim) => {
        const invalidTrim = checkTrim(trim, "XTRIM")
        if (invalidTrim !== undefined) return Effect.fail(invalidTrim)
        const args: Args = [key]
        pushTrim(args, trim)
        if (args.length === 1) return Effect.succeed(0)
        const xtrim = send("XTRIM", args, asInteger)
        // XTRIM takes one strategy at a time: with both, the second pass trims by length.
        return trim.minId !== undefined && trim.maxLen !== undefined
          ? Effect.zipWith(
            xtrim,
            send("XTRIM", [key, "MAXLEN", trim.exact === true ? "=" : "~", trim.maxLen], asInteger),
            (byId, byLength) => byId + byLength
          )
          : xtrim
      },

      scores: (key, members) =>
        members.length === 0 ? Effect.succeed([]) : send("ZMSCORE", [key, ...members], parseScores),

      takeDue: (o) =>
        crossSlotFailure("EVALSHA takeDue", [o.scheduleKey, o.key, o.recordsKey]) ??
          script(
          Scripts.takeDue,
          [o.scheduleKey, o.key, o.recordsKey],
          [o.group, o.consumer, o.now, o.count],
          (reply) => parseDue(o.key, reply)
        ),

      removeIdleConsumers: (o) =>
        script(Scripts.removeIdleConsumers, [o.key], [o.group, millis(o.minIdle), o.keep], (reply) =>
          asArray(reply, "a consumer removal").map(asString)),

      copyForReplay: (o) => {
        if (!Number.isInteger(o.count) || o.count < 1) return Effect.fail(invalid("EVALSHA copyForReplay", `count must be a positive integer, got ${o.count}`))
        const args: Args = [
          o.start,
          o.end,
          o.count,
          o.jobId,
          o.tenant === undefined ? "0" : "1",
          o.tenant ?? "",
          o.progress.field,
          o.progress.scanned,
          o.progress.matched,
          o.firstAtMost ?? ""
        ]
        for (const [type, indices] of o.routes) args.push(type, routeMask(indices, o.targets.length))
        return script(Scripts.copyForReplay, [o.key, o.progress.key, ...o.targets], args, parseReplayCopied)
      },

      hashGet: (key, fields) =>
        fields.length === 0 ? Effect.succeed([]) : send("HMGET", [key, ...fields], parseOptionalStrings),

      hashFields: (key) => send("HKEYS", [key], (reply) => asArray(reply, "HKEYS").map(asString)),

      setMarker: (key, ttl) =>
        send("SET", [key, "1", "NX", "PX", Math.max(1, millis(ttl))], (reply) => reply === "OK"),

      // Not atomic: one script per slot, answers put back in the order asked.
      markersExist: (keys) => {
        if (keys.length === 0) return Effect.succeed([])
        const groups = bySlot(keys)
        if (groups.length === 1) return script(Scripts.exists, keys, [], parseExists)
        return Effect.map(
          Effect.forEach(groups, (group) => script(Scripts.exists, group, [], parseExists), { concurrency: "unbounded" }),
          (answers) => {
            const byKey = new Map<string, boolean>()
            for (let g = 0; g < groups.length; g++) {
              const group = groups[g]!
              for (let i = 0; i < group.length; i++) byKey.set(group[i]!, answers[g]![i]!)
            }
            return keys.map((key) => byKey.get(key)!)
          }
        )
      },

      // UNLINK frees large streams in the background instead of blocking the server. Readers of
      // this process waiting on a deleted stream find out at once (their next read fails).
      // Not atomic on a cluster: one UNLINK per slot.
      deleteKeys: (keys) =>
        keys.length === 0 ? Effect.succeed(0) : Effect.forEach(
          bySlot(keys),
          (group) => send("UNLINK", group.slice(), asInteger),
          { concurrency: "unbounded" }
        ).pipe(
          Effect.map((counts) => counts.reduce((sum, n) => sum + n, 0)),
          Effect.tap(() => notifier.moved(keys))
        ),

      ping: send("PING", [], () => undefined)
    }
    return service
}

// ---------------------------------------------------------------------------------------------
// connections
// ---------------------------------------------------------------------------------------------

/**
 * Redis' `BLOCK` timeout is wall-clock time, so the waits that stand in for it are too: a
 * `TestClock` in the caller's context must not freeze a real backend.
 */
export const wallClock: Clock.Clock = Clock.Clock.defaultValue()

/** How long a connection may take to close politely (`QUIT`) before it is dropped. */
const quitTimeout = Duration.seconds(1)

/** How long the command connection waits for a reply before failing with `Unavailable`. */
export const defaultCommandTimeout: Duration.Input = "10 seconds"

export const connectionOptions = {
  lazyConnect: true,
  // ioredis 6 speaks RESP3 by default, which reshapes stream replies; the parsers expect RESP2.
  protocol: 2,
  // Fail fast while Redis is unreachable instead of queueing commands for later.
  enableOfflineQueue: false,
  // Commands in flight when the connection drops fail at once (kind Unavailable) rather than
  // being resent after the reconnect: a resent XADD whose first reply was lost would duplicate.
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  // Reconnect in the background for as long as the layer lives: 50 ms, 100 ms, … capped at 1 s.
  retryStrategy: (attempt: number) => Math.min(25 * 2 ** attempt, 1000),
  connectTimeout: 5000
} as const

const connect = (url: string, connectionName: string): Effect.Effect<Redis, RedisStreamError, Scope.Scope> => {
  // ioredis prints 'error' events that nobody listens to; every error that matters reaches the
  // promise of a command. The last one explains a failed connect ("Connection is closed" does not).
  let lastError: unknown
  return Effect.acquireRelease(
    Effect.sync(() =>
      new Redis(url, { ...connectionOptions, connectionName }).on("error", (error: unknown) => {
        lastError = error
      })
    ),
    disconnect
  ).pipe(
    Effect.tap((conn) => attempt("CONNECT", () => conn.connect().catch((error) => Promise.reject(lastError ?? error))))
  )
}

/** `QUIT` (replies in flight are delivered), bounded by `quitTimeout`, then a hard close. */
export const disconnect = (conn: Redis): Effect.Effect<void> =>
  Effect.raceFirst(
    Effect.ignore(Effect.tryPromise(() => conn.quit())),
    wallClock.sleep(quitTimeout)
  ).pipe(
    // Also cancels the reconnect timer of a connection that is down.
    Effect.ensuring(Effect.sync(() => conn.disconnect()))
  )

export const attempt = <A>(command: string, run: () => Promise<A>): Effect.Effect<A, RedisStreamError> =>
  Effect.tryPromise({ try: run, catch: (cause) => toError(command, cause) })

/**
 * `reply`, or a failure (kind `Unavailable` through `attempt`) when it has not come within `ms`:
 * a connection that hangs without closing. The command stays in ioredis' queue; a late reply is
 * dropped. The bus times each call rather than using ioredis' `commandTimeout`, which arms a timer
 * per command and deletes a property from each command when it clears it: a `publishBatch` (one
 * MULTI of 100 XADDs, 102 commands) spent about a quarter of its CPU on that.
 */
export const replyWithin = <A>(reply: Promise<A>, ms: number): Promise<A> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply from Redis within ${ms} ms (the command timeout)`)), ms)
    reply.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      }
    )
  })

const call = <A>(conn: Connection, command: string, args: Args, parse: (reply: unknown) => A) =>
  attempt(command, () => conn.call(command, args).then(parse))

/** `EVALSHA`, falling back to `EVAL` (which caches the script again) after a `NOSCRIPT`. */
const evalScript = <A>(
  run: (command: string, args: Args) => Promise<unknown>,
  script: Scripts.Script,
  keys: ReadonlyArray<string>,
  args: Args,
  parse: (reply: unknown) => A
): Effect.Effect<A, RedisStreamError> => {
  const command: Args = [script.sha, keys.length]
  for (let i = 0; i < keys.length; i++) command.push(keys[i]!)
  for (let i = 0; i < args.length; i++) command.push(args[i]!)
  // ioredis copies the arguments when a command is issued, so `command` can be reused for EVAL
  // (and for the next run of the effect).
  return attempt(`EVALSHA ${script.name}`, () => {
    command[0] = script.sha
    return run("EVALSHA", command).then(parse, (error) => {
      if (!replyStartsWith(error, "NOSCRIPT")) return Promise.reject(error)
      command[0] = script.lua
      return run("EVAL", command).then(parse)
    })
  })
}

/** How often a durable write is sent again after a redirection (it did not run then). */
const redirectAttempts = 3

/**
 * Sends `command` pipelined with `WAIT replicas timeout` on the same connection and returns the
 * command's reply. Fewer replicas than asked within the timeout is kind `Unavailable`: the write
 * happened on the master but may be lost on a failover (as with a reply lost in flight, the
 * caller cannot know; retrying may duplicate). A redirection (a slot that moved) means the write
 * did not run: it is sent again after the slot map is refreshed.
 */
const writeThenWait = async (
  conn: Connection,
  command: Args,
  wait: { readonly replicas: number; readonly timeoutMs: number },
  redirected: (() => Promise<void>) | undefined
): Promise<unknown> => {
  for (let attempt = 1; ; attempt++) {
    // `call` rather than the command's own method: any command, by its name.
    const replies = await conn.pipeline([["call", ...command], ["call", "WAIT", wait.replicas, wait.timeoutMs]]).exec()
    const written = replies?.[0]
    const waited = replies?.[1]
    if (written === undefined || waited === undefined) throw new Error("the pipeline with WAIT was discarded")
    const [error, reply] = written
    if (error !== null) {
      if (redirected !== undefined && attempt < redirectAttempts && /^(MOVED|ASK) /.test(error.message)) {
        await redirected()
        continue
      }
      throw error
    }
    if (waited[0] !== null) throw waited[0]
    const replicas = asInteger(waited[1])
    if (replicas < wait.replicas) {
      throw new NotReplicated(
        `written on the master, but ${replicas} of ${wait.replicas} replicas acknowledged it within ${wait.timeoutMs} ms: a failover may lose it`
      )
    }
    return reply
  }
}

// ---------------------------------------------------------------------------------------------
// notifier
// ---------------------------------------------------------------------------------------------

/**
 * One generation of a key: it ends (once) when the key moves, and the notifier replaces it. Its
 * waiters are plain callbacks rather than fibers, so a reader's wait (over its keys and a timeout)
 * is one `Effect.callback`: no fiber forked per wait, which at a steady rate is per event.
 */
export class Generation {
  private ended = false
  private listeners: Array<() => void> | undefined = undefined
  end(): void {
    if (this.ended) return
    this.ended = true
    const listeners = this.listeners
    this.listeners = undefined
    if (listeners !== undefined) for (const listener of listeners) listener()
  }
  /** Calls `listener` when the generation ends (at once if it has); returns the unsubscribe. */
  listen(listener: () => void): () => void {
    if (this.ended) {
      listener()
      return noop
    }
    this.listeners ??= []
    const listeners = this.listeners
    listeners.push(listener)
    return () => {
      // Once ended, `end` is calling the listeners: removing one would shift the rest under it.
      if (this.ended) return
      const at = listeners.indexOf(listener)
      if (at >= 0) listeners.splice(at, 1)
    }
  }
}

const noop = () => {}

/** Resumes when one of `generations` ends or `ms` pass (wall clock), whichever is first. */
const awaitAny = (generations: ReadonlyArray<Generation>, ms: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const offs: Array<() => void> = []
    let timer: ReturnType<typeof setTimeout> | undefined
    let settled = false
    const stop = () => {
      settled = true
      if (timer !== undefined) clearTimeout(timer)
      for (const off of offs) off()
    }
    const fire = () => {
      if (settled) return
      stop()
      resume(Effect.void)
    }
    for (const generation of generations) {
      offs.push(generation.listen(fire))
      if (settled) return
    }
    if (Number.isFinite(ms)) timer = setTimeout(fire, Math.max(0, ms))
    return Effect.sync(stop)
  })

/** What the notifier knows about one key. */
interface Watch {
  readonly key: string
  /** The key's generation: ended, and replaced by a fresh one, whenever the key moves. */
  changed: Generation
  /** Readers waiting on the key right now. */
  waiters: number
  /** The newest id the notifier has seen on the key; undefined while it does not watch the key. */
  lastId: string | undefined
  /** Since when (wall-clock ms) the notifier has seen the key without waiters. */
  idleSince: number | undefined
  /** When (wall-clock ms) the key last had a reader waiting on it. */
  lastWaited: number
}

export interface Notifier {
  /** The current generation of each key, to take before a non-blocking read. */
  readonly generations: (keys: ReadonlyArray<string>) => Array<Generation>
  /** Waits until one of the generations is over (a key moved) or `ms` have passed. */
  readonly wait: (
    keys: ReadonlyArray<string>,
    generations: ReadonlyArray<Generation>,
    ms: number
  ) => Effect.Effect<void>
  /**
   * Wakes the readers waiting on `keys` for a change the notifier cannot see (a deleted stream or
   * group), so that they read again.
   */
  readonly moved: (keys: ReadonlyArray<string>) => Effect.Effect<void>
  /** The notifier loop, restarted with backoff on Redis errors (so it never fails). */
  readonly run: Effect.Effect<never>
}

/** How long one XREAD of the notifier blocks at most; also how often idle keys are reconsidered. */
const notifyBlockMs = 10_000
/** How long a key nobody waits on stays watched (readers that loop come straight back). */
const watchLinger = 30_000
/** How long after its last waiter a moving key stays followed. */
const followLinger = 1_000
/** `CLIENT UNBLOCK` is retried this often when it arrives before the XREAD it should interrupt. */
const unblockAttempts = 50
const unblockGap = Duration.millis(2)

/**
 * Where a notifier blocks: its connections are taken at the start of each round, so a cluster
 * backend can move a notifier to the node that serves its keys now (after a failover or a slot
 * migration) without rebuilding it.
 */
export interface NotifierLink {
  /** The blocking connection of the next round, and one to the same server for `CLIENT UNBLOCK`. */
  readonly connections: Effect.Effect<{ readonly blocking: Redis; readonly control: Connection }, RedisStreamError>
  /** Runs after a round failed, before the backoff (a cluster refreshes its slot map). */
  readonly failed: Effect.Effect<void>
  /** The reply timeout of calls on the control connection (`replyWithin`). */
  readonly replyTimeoutMs: number
}

export const makeNotifier = (link: NotifierLink, scope: Scope.Scope): Notifier => {
  const unblockCall = (control: Connection, client: number) =>
    attempt("CLIENT", () => replyWithin(control.call("CLIENT", ["UNBLOCK", client]), link.replyTimeoutMs).then(asInteger))
  const watches = new Map<string, Watch>()
  /** The connections of the current round (see `NotifierLink`). */
  let notify: Redis | undefined
  let cmd: Connection | undefined
  /** The keys of the round being prepared or blocked in XREAD. */
  let roundKeys: ReadonlySet<string> = new Set()
  /** Set when a reader waits on a key outside `roundKeys`: the round must start over. */
  let restart = false
  /** Number of the round whose XREAD is in flight, 0 when none is. */
  let blockedRound = 0
  let rounds = 0
  /** The round an UNBLOCK is under way for (one at a time per round). */
  let unblockingRound = 0
  /** `CLIENT ID` of the notify connection (it changes when the connection is re-established). */
  let clientId: number | undefined
  /** Completed to wake the notifier when it has nothing to watch. */
  let parked: Deferred.Deferred<void> | undefined
  /** Connections whose "close" resets `clientId` (a new connection has a new id). */
  const followed = new WeakSet<Redis>()

  const watchOf = (key: string): Watch => {
    let watch = watches.get(key)
    if (watch === undefined) {
      watch = { key, changed: new Generation(), waiters: 0, lastId: undefined, idleSince: undefined, lastWaited: 0 }
      watches.set(key, watch)
    }
    return watch
  }

  const bump = (watch: Watch): void => {
    const over = watch.changed
    watch.changed = new Generation()
    over.end()
  }

  const generations = (keys: ReadonlyArray<string>) => {
    const out = new Array<Generation>(keys.length)
    for (let i = 0; i < keys.length; i++) out[i] = watchOf(keys[i]!).changed
    return out
  }

  /** `CLIENT UNBLOCK` the round's XREAD, retrying while it has not reached the server yet. */
  const unblock = (round: number, attempts: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (blockedRound !== round || clientId === undefined || cmd === undefined) return Effect.void
      return unblockCall(cmd, clientId).pipe(
        Effect.flatMap((unblocked) =>
          unblocked === 1 || attempts <= 1
            ? Effect.void
            : Effect.andThen(wallClock.sleep(unblockGap), unblock(round, attempts - 1))
        ),
        // Redis is down: the XREAD fails on its own and the notifier restarts.
        Effect.ignore
      )
    })

  const register = (keys: ReadonlyArray<string>) =>
    Effect.suspend(() => {
      let outside = false
      for (let i = 0; i < keys.length; i++) {
        const watch = watchOf(keys[i]!)
        watch.waiters++
        watch.idleSince = undefined
        if (!roundKeys.has(watch.key)) outside = true
      }
      if (!outside) return Effect.void
      restart = true
      if (parked !== undefined) {
        Deferred.doneUnsafe(parked, Effect.void)
        parked = undefined
        return Effect.void
      }
      if (blockedRound === 0 || unblockingRound === blockedRound) return Effect.void
      unblockingRound = blockedRound
      // Forked into the layer's scope: the reader neither waits for it nor cancels it.
      return Effect.asVoid(Effect.forkIn(unblock(blockedRound, unblockAttempts), scope))
    })

  const unregister = (keys: ReadonlyArray<string>) =>
    Effect.sync(() => {
      for (let i = 0; i < keys.length; i++) {
        const watch = watches.get(keys[i]!)
        if (watch !== undefined) {
          watch.waiters--
          watch.lastWaited = wallClock.currentTimeMillisUnsafe()
        }
      }
    })

  const wait: Notifier["wait"] = (keys, generations, ms) => {
    return Effect.acquireUseRelease(register(keys), () => awaitAny(generations, ms), () => unregister(keys))
  }

  /** Newest id of a key, "0-0" for an empty or missing stream; undefined when it is no stream. */
  const newestId = (notify: Redis, watch: Watch) =>
    call(notify, "XREVRANGE", [watch.key, "+", "-", "COUNT", 1], parseNewestId).pipe(
      Effect.catchIf((error) => error.kind !== "Unavailable", () => Effect.succeed(undefined))
    )

  /** Parks the notifier until a reader waits on a key, or `watchLinger` passes (to prune). */
  const park = Effect.suspend(() => {
    // A reader may have registered since the round began (the fiber can yield in between).
    if (restart) return Effect.void
    const wake = Deferred.makeUnsafe<void>()
    parked = wake
    return Effect.raceFirst(Deferred.await(wake), wallClock.sleep(Duration.millis(watchLinger)))
  })

  const round = Effect.gen(function*() {
    // 1. The keys to watch: those with waiters, and for `watchLinger` those that had some.
    restart = false
    parked = undefined
    const now = wallClock.currentTimeMillisUnsafe()
    const watched: Array<Watch> = []
    for (const watch of watches.values()) {
      if (watch.waiters > 0) {
        watched.push(watch)
        continue
      }
      watch.idleSince ??= now
      if (now - watch.idleSince < watchLinger) {
        if (watch.lastId !== undefined) watched.push(watch)
        continue
      }
      // Forget the key. Ending its generation sends any reader still holding it back to Redis
      // once, so dropping a watch can never lose a wake-up.
      watches.delete(watch.key)
      bump(watch)
    }
    roundKeys = new Set(watched.map((watch) => watch.key))
    if (watched.length === 0) return yield* park

    // 2. Start watching new keys from their newest id, and wake their waiters once: an entry
    //    appended between a waiter's read and this point is not in what XREAD will report.
    const { blocking: conn, control } = yield* link.connections
    cmd = control
    if (conn !== notify) {
      // Another connection (first round, or the keys' server changed): its id is fetched anew.
      notify = conn
      clientId = undefined
      if (!followed.has(conn)) {
        followed.add(conn)
        conn.on("close", () => {
          if (notify === conn) clientId = undefined
        })
      }
    }
    if (clientId === undefined) clientId = yield* call(conn, "CLIENT", ["ID"], asInteger)
    const fresh = watched.filter((watch) => watch.lastId === undefined)
    if (fresh.length > 0) {
      const newest = yield* Effect.forEach(fresh, (watch) => newestId(conn, watch), { concurrency: "unbounded" })
      for (let i = 0; i < fresh.length; i++) {
        // A key that is no stream cannot be watched; its readers find out on their next read.
        fresh[i]!.lastId = newest[i]
        bump(fresh[i]!)
      }
    }
    const keys: Args = []
    const ids: Args = []
    for (const watch of watched) {
      if (watch.lastId === undefined) continue
      keys.push(watch.key)
      ids.push(watch.lastId)
    }
    if (keys.length === 0) return yield* park

    // 3. Block until a key moves, the timeout passes or a reader needs a key outside this round.
    const reply = yield* attempt("XREAD", () => {
      // Checked in the same synchronous step that sends the XREAD, so `register` either sees the
      // round as blocked (and unblocks it) or this check sees `restart`.
      if (restart) return Promise.resolve(null)
      blockedRound = ++rounds
      return conn.call("XREAD", ["BLOCK", notifyBlockMs, "COUNT", 1, "STREAMS", ...keys, ...ids]).finally(() => {
        blockedRound = 0
      })
    }).pipe(
      // Shutdown: release the connection's XREAD so that closing it does not wait for the timeout.
      Effect.onInterrupt(() =>
        clientId === undefined || cmd === undefined
          ? Effect.void
          : Effect.ignore(unblockCall(cmd, clientId))
      )
    )

    // 4. Wake the readers of the keys that moved.
    const movedAt = wallClock.currentTimeMillisUnsafe()
    for (const [key, lastId] of parseXReadHeads(reply)) {
      const watch = watches.get(key)
      if (watch === undefined) continue
      bump(watch)
      // A key that moves while nobody has waited on it for `followLinger` stops being watched,
      // rather than the notifier following every append of a busy stream whose readers never
      // wait. A key whose readers wait between events (a steady, moderate rate) stays watched:
      // starting over costs an XREVRANGE, an UNBLOCK and a new XREAD on the next wait.
      watch.lastId = watch.waiters > 0 || movedAt - watch.lastWaited < followLinger ? lastId : undefined
    }
  })

  // Forget everything tied to the connection or to the stream contents: after a reconnect (or a
  // restarted server) every waited key starts over from its newest id.
  const forget = Effect.sync(() => {
    for (const watch of watches.values()) watch.lastId = undefined
    clientId = undefined
    blockedRound = 0
    roundKeys = new Set()
  })

  // Backoff and "Redis answers again" are the consumer loops' own (`supervision.ts`).
  const circuit = Supervision.makeCircuit({
    threshold: Number.POSITIVE_INFINITY,
    annotations: { package: "@hyvve/bus", module: "RedisStream", fiber: "notifier" },
    onRecovered: Effect.void,
    onError: () => Effect.andThen(forget, link.failed)
  })
  const run = circuit.supervise("notifier", Effect.as(round, true))

  const moved = (keys: ReadonlyArray<string>) =>
    Effect.sync(() => {
      for (let i = 0; i < keys.length; i++) {
        const watch = watches.get(keys[i]!)
        if (watch !== undefined) bump(watch)
      }
    })

  return { generations, wait, moved, run }
}

/** The slow path of `readGroup`: wait for a key to move, read again, until `blockMs` is spent. */
const waitThenRead = Effect.fnUntraced(function*(
  notifier: Notifier,
  keys: ReadonlyArray<string>,
  read: Effect.Effect<ReadonlyArray<RedisStream.GroupEntry>, RedisStreamError>,
  first: ReadonlyArray<Generation>,
  blockMs: number,
  /** Told of the entries read and of the generations taken before that read. */
  onRead: (entries: ReadonlyArray<RedisStream.GroupEntry>, generations: ReadonlyArray<Generation>) => void
) {
  const deadline = wallClock.currentTimeMillisUnsafe() + blockMs
  let generations = first
  while (true) {
    const remaining = deadline - wallClock.currentTimeMillisUnsafe()
    if (remaining <= 0) return noEntries
    yield* notifier.wait(keys, generations, remaining)
    generations = notifier.generations(keys)
    const entries = yield* read
    // Another consumer of the group may have taken what woke us: wait again while time remains.
    if (entries.length > 0) {
      onRead(entries, generations)
      return entries
    }
  }
})

/** True when a read took fewer than `count` entries from every key: it read all there was. */
const isShort = (entries: ReadonlyArray<RedisStream.GroupEntry>, keys: ReadonlyArray<string>, count: number): boolean => {
  if (entries.length < count) return true
  for (let k = 0; k < keys.length; k++) {
    let n = 0
    for (let i = 0; i < entries.length; i++) if (entries[i]!.key === keys[k]) n++
    if (n >= count) return false
  }
  return true
}

/** True when no key moved between two takes of `generations` (a generation is replaced when it ends). */
const sameGenerations = (a: ReadonlyArray<Generation>, b: ReadonlyArray<Generation>): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

// ---------------------------------------------------------------------------------------------
// commands
// ---------------------------------------------------------------------------------------------

const noEntries: ReadonlyArray<never> = []
const noReplies: ReadonlyArray<never> = []
const noGroups: ReadonlyArray<never> = []

const invalid = (command: string, detail: string) => new RedisStreamError({ command, kind: "Command", detail })

const millis = (duration: Duration.Input): number => Math.max(0, Math.round(Duration.toMillis(duration)))

const streamId = /^\d+(-\d+)?$/

/** Appends `field value …`; returns the number of fields. */
const pushFields = (args: Args, fields: RedisStream.Fields): number => {
  const start = args.length
  for (const field in fields) args.push(field, fields[field]!)
  return (args.length - start) / 2
}

/**
 * Why the trimming options would make Redis reject the command, if they would. Checked up front
 * because Redis only rejects a malformed threshold when the command runs, which inside a
 * transaction would be after other writes.
 */
const checkTrim = (trim: RedisStream.Trim | undefined, command: string): RedisStreamError | undefined => {
  if (trim === undefined) return undefined
  if (trim.maxLen !== undefined && !(Number.isSafeInteger(trim.maxLen) && trim.maxLen >= 0)) {
    return invalid(command, `maxLen must be a non-negative integer, got ${trim.maxLen}`)
  }
  if (trim.minId !== undefined && !streamId.test(trim.minId)) {
    return invalid(command, `minId must be a stream id, got ${trim.minId}`)
  }
  return undefined
}

/** Appends the trimming clause of XADD / XTRIM: `minId` when given, else `maxLen`. */
const pushTrim = (args: Args, trim: RedisStream.Trim | undefined): void => {
  if (trim === undefined) return
  const mark = trim.exact === true ? "=" : "~"
  if (trim.minId !== undefined) args.push("MINID", mark, trim.minId)
  else if (trim.maxLen !== undefined) args.push("MAXLEN", mark, trim.maxLen)
}

const checkIds = (command: string, ids: ReadonlyArray<string>): RedisStreamError | undefined => {
  for (let i = 0; i < ids.length; i++) {
    if (!streamId.test(ids[i]!)) return invalid(command, `not a stream id: ${ids[i]}`)
  }
  return undefined
}

/** Redis reads `inf` / `-inf` for infinite scores; NaN is no score. */
const formatScore = (score: number): string | undefined =>
  Number.isNaN(score) ? undefined : score === Infinity ? "+inf" : score === -Infinity ? "-inf" : String(score)

/**
 * Encodes one transaction command for `lua/transaction-n.lua`, adding its key to `keys`, or
 * returns why Redis would reject it.
 */
type AppendCommand = Extract<RedisStream.Command, { readonly _tag: "XAdd" }>

/** True for a batch of appends to one stream with one trimming strategy each. */
const isAppendBatch = (commands: ReadonlyArray<RedisStream.Command>): commands is ReadonlyArray<AppendCommand> => {
  const first = commands[0]
  if (first === undefined || first._tag !== "XAdd") return false
  for (let i = 0; i < commands.length; i++) {
    const command = commands[i]!
    if (command._tag !== "XAdd" || command.key !== first.key || command.copyFrom !== undefined) return false
    if (command.trim?.minId !== undefined && command.trim.maxLen !== undefined) return false
  }
  return true
}

const appendedKeys = (commands: ReadonlyArray<RedisStream.Command>): ReadonlyArray<string> => {
  const keys = new Set<string>()
  for (const command of commands) if (command._tag === "XAdd") keys.add(command.key)
  return Array.from(keys)
}

/** The ids of an EXEC of appends; any per-command error fails the whole call. */
const parseExec = (
  replies: ReadonlyArray<readonly [Error | null, unknown]> | null,
  count: number
): Effect.Effect<ReadonlyArray<string>, RedisStreamError> => {
  if (replies === null) return Effect.fail(new RedisStreamError({ command: "EXEC", kind: "Aborted", detail: "the transaction was discarded" }))
  if (replies.length !== count) return Effect.fail(invalid("EXEC", `expected ${count} replies, got ${replies.length}`))
  const ids = new Array<string>(count)
  for (let i = 0; i < count; i++) {
    const [error, reply] = replies[i]!
    if (error !== null) return Effect.fail(toError("XADD", error))
    if (typeof reply !== "string") return Effect.fail(invalid("EXEC", "an XADD reply is not an id"))
    ids[i] = reply
  }
  return Effect.succeed(ids)
}

const encodeCommand = (
  command: RedisStream.Command,
  keys: Array<string>,
  // Key → its 1-based index in `keys`: an idempotent ack batch has a key per marker, and a
  // linear search per command made encoding it quadratic.
  indices: Map<string, number>,
  args: Args
): RedisStreamError | undefined => {
  let key = indices.get(command.key)
  if (key === undefined) {
    key = keys.push(command.key)
    indices.set(command.key, key)
  }
  switch (command._tag) {
    case "XAdd": {
      const trim = command.trim
      const invalidTrim = checkTrim(trim, "XADD")
      if (invalidTrim !== undefined) return invalidTrim
      const countAt = args.length + 5
      const copy = command.copyFrom
      args.push(copy === undefined ? "XADD" : "XADDC", key, trim?.minId ?? "", trim?.maxLen ?? "", trim?.exact === true ? "0" : "1", 0)
      const count = pushFields(args, command.fields)
      if (count === 0) return invalid("XADD", "an entry needs at least one field")
      args[countAt] = count
      if (copy === undefined) return undefined
      let source = indices.get(copy.key)
      if (source === undefined) {
        source = keys.push(copy.key)
        indices.set(copy.key, source)
      }
      args.push(source, copy.id, copy.fields.length, ...copy.fields)
      return checkIds("XADD", [copy.id])
    }
    case "XAck":
      args.push("XACK", key, command.group, command.ids.length, ...command.ids)
      return checkIds("XACK", command.ids)
    case "XDel":
      args.push("XDEL", key, command.ids.length, ...command.ids)
      return checkIds("XDEL", command.ids)
    case "ZAdd": {
      const score = formatScore(command.score)
      if (score === undefined) return invalid("ZADD", "the score is not a number")
      args.push("ZADD", key, score, command.member)
      return undefined
    }
    case "ZAddMany": {
      const score = formatScore(command.score)
      if (score === undefined) return invalid("ZADD", "the score is not a number")
      args.push("ZADDN", key, score, command.members.length, ...command.members)
      return undefined
    }
    case "ZRem":
      args.push("ZREM", key, command.members.length, ...command.members)
      return undefined
    case "ZRemRangeByScore": {
      const max = formatScore(command.max)
      if (max === undefined) return invalid("ZREMRANGEBYSCORE", "the maximum score is not a number")
      args.push("ZREMRANGEBYSCORE", key, max)
      return undefined
    }
    case "HSet":
      args.push("HSET", key, command.field, command.value)
      return undefined
    case "HDel":
      args.push("HDEL", key, command.fields.length, ...command.fields)
      return undefined
    case "Set": {
      const ttl = Math.max(1, Math.round(command.ttlMs))
      if (!Number.isSafeInteger(ttl)) return invalid("SET", "the TTL is not a whole number of milliseconds")
      args.push("SET", key, command.value, ttl)
      return undefined
    }
    default:
      return unknownCommand(command)
  }
}

/** Exhaustiveness: a new `Command` variant fails to compile until it is encoded above. */
const unknownCommand = (command: never): RedisStreamError =>
  invalid("EVAL transaction", `unknown command ${JSON.stringify(command)}`)

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/** Thrown by the reply parsers; reported as kind `Command`. */
class MalformedReply extends Error {}

/** Thrown when `WAIT` counts fewer replicas than asked; reported as kind `Unavailable`. */
class NotReplicated extends Error {}

/** Error replies that mean "the server cannot serve this right now", not "the command is wrong". */
const transientReply = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|MISCONF|MOVED|ASK)\b/

const isReplyError = (error: unknown): error is Error => error instanceof Error && error.name === "ReplyError"

const replyStartsWith = (error: unknown, prefix: string): boolean =>
  isReplyError(error) && error.message.startsWith(prefix)

const noSuchKey = (error: unknown): error is Error => replyStartsWith(error, "ERR no such key")

/**
 * Maps whatever a command rejected with. Redis error replies are classified by their code; every
 * other error comes from the connection (refused, closed, not writable while reconnecting, lost
 * in flight, timed out), so retrying later can help.
 */
const toError = (command: string, cause: unknown): RedisStreamError => {
  if (cause instanceof RedisStreamError) return cause
  const detail = cause instanceof Error ? cause.message : String(cause)
  if (cause instanceof MalformedReply) return new RedisStreamError({ command, kind: "Command", detail })
  if (!isReplyError(cause)) return new RedisStreamError({ command, kind: "Unavailable", detail: plainDetail(cause, detail) })
  const kind: RedisStream.ErrorKind = detail.startsWith("NOGROUP")
    ? "NoGroup"
    : detail.startsWith("EXECABORT")
    ? "Aborted"
    : transientReply.test(detail)
    ? "Unavailable"
    : detail.startsWith("CROSSSLOT")
    ? "CrossSlot"
    : "Command"
  return new RedisStreamError({ command, kind, detail })
}

/** ioredis words the two fail-fast cases in terms of its options; say what happened instead. */
const plainDetail = (cause: unknown, detail: string): string =>
  cause instanceof Error && cause.name === "MaxRetriesPerRequestError"
    ? "the connection to Redis was lost before the reply arrived"
    : detail.startsWith("Stream isn't writeable")
    ? "not connected to Redis (reconnecting)"
    : detail

// ---------------------------------------------------------------------------------------------
// reply parsers: RESP2 shapes, checked at run time; they throw MalformedReply
// ---------------------------------------------------------------------------------------------

const malformed = (what: string, reply: unknown): never => {
  const text = JSON.stringify(reply) ?? String(reply)
  throw new MalformedReply(`unexpected reply to ${what}: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`)
}

const isArray: (u: unknown) => u is ReadonlyArray<unknown> = Array.isArray

const asArray = (u: unknown, what: string): ReadonlyArray<unknown> => isArray(u) ? u : malformed(what, u)

const asString = (u: unknown): string => typeof u === "string" ? u : malformed("a string reply", u)

const integer = /^-?\d+$/

/** Integers arrive as numbers, except inside some aggregates (XPENDING's consumer counts). */
const asInteger = (u: unknown): number =>
  typeof u === "number" ? u : typeof u === "string" && integer.test(u) ? Number(u) : malformed("an integer reply", u)

const parseFields = (u: unknown): RedisStream.Fields => {
  if (!isArray(u) || u.length % 2 !== 0) return malformed("entry fields", u)
  const fields: Record<string, string> = {}
  for (let i = 0; i < u.length; i += 2) {
    const field = u[i]
    const value = u[i + 1]
    if (typeof field !== "string" || typeof value !== "string") return malformed("entry fields", u)
    // Plain assignment would set the prototype instead of a field.
    if (field === "__proto__") {
      Object.defineProperty(fields, field, { value, enumerable: true, writable: true, configurable: true })
    } else {
      fields[field] = value
    }
  }
  return fields
}

/** `[id, fields]`; `undefined` for an entry deleted from the stream (nil fields). */
const parseEntry = (key: string, u: unknown): RedisStream.Entry | undefined => {
  if (!isArray(u) || u.length !== 2 || typeof u[0] !== "string") return malformed("a stream entry", u)
  return u[1] === null ? undefined : { key, id: u[0], fields: parseFields(u[1]) }
}

/** `[[id, fields], …]`, deleted entries skipped. */
const parseEntries = (key: string, u: unknown): ReadonlyArray<RedisStream.Entry> => {
  const rows = asArray(u, "a stream range")
  const out: Array<RedisStream.Entry> = []
  for (let i = 0; i < rows.length; i++) {
    const entry = parseEntry(key, rows[i])
    if (entry !== undefined) out.push(entry)
  }
  return out
}

/** XREADGROUP `>`: `[[key, [[id, fields], …]], …]` or nil. Every entry is on its first delivery. */
const parseGroupRead = (u: unknown): ReadonlyArray<RedisStream.GroupEntry> => {
  if (u === null) return noEntries
  const streams = asArray(u, "XREADGROUP")
  const out: Array<RedisStream.GroupEntry> = []
  for (let s = 0; s < streams.length; s++) {
    const stream = streams[s]
    if (!isArray(stream) || stream.length !== 2 || typeof stream[0] !== "string") return malformed("XREADGROUP", u)
    const key = stream[0]
    const rows = asArray(stream[1], "XREADGROUP")
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]
      if (!isArray(row) || row.length !== 2 || typeof row[0] !== "string") return malformed("XREADGROUP", u)
      if (row[1] !== null) out.push({ key, id: row[0], fields: parseFields(row[1]), deliveries: 1 })
    }
  }
  return out
}

/** The notifier's XREAD: for each key that moved, the newest id returned. */
const parseXReadHeads = (u: unknown): ReadonlyArray<readonly [string, string]> => {
  if (u === null) return []
  const out: Array<readonly [string, string]> = []
  for (const stream of asArray(u, "XREAD")) {
    if (!isArray(stream) || typeof stream[0] !== "string") return malformed("XREAD", u)
    const rows = asArray(stream[1], "XREAD")
    const last = rows[rows.length - 1]
    if (!isArray(last) || typeof last[0] !== "string") return malformed("XREAD", u)
    out.push([stream[0], last[0]])
  }
  return out
}

const parseNewestId = (u: unknown): string => {
  const rows = asArray(u, "XREVRANGE")
  if (rows.length === 0) return "0-0"
  const row = rows[0]
  return isArray(row) && typeof row[0] === "string" ? row[0] : malformed("XREVRANGE", u)
}

/** The script replies `{ { id, fields or nil, deliveries }, … }`; nil fields (JUSTID) become `{}`. */
const parseClaimed = (key: string, u: unknown): ReadonlyArray<RedisStream.GroupEntry> => {
  const rows = asArray(u, "a claim")
  const out = new Array<RedisStream.GroupEntry>(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]
    if (!isArray(row) || row.length !== 3 || typeof row[0] !== "string") return malformed("a claim", u)
    out[i] = {
      key,
      id: row[0],
      fields: row[1] === null ? noFields : parseFields(row[1]),
      deliveries: asInteger(row[2])
    }
  }
  return out
}

const noFields: RedisStream.Fields = {}

/** The script replies `{ { { id, fields, deliveries, record or nil }, … }, next score or nil }`. */
const parseDue = (
  key: string,
  u: unknown
): { readonly entries: ReadonlyArray<RedisStream.DueEntry>; readonly nextDueAt: number | undefined } => {
  const reply = asArray(u, "takeDue")
  if (reply.length !== 2) return malformed("takeDue", u)
  const rows = asArray(reply[0], "takeDue")
  const entries = new Array<RedisStream.DueEntry>(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]
    if (!isArray(row) || row.length < 3 || typeof row[0] !== "string") return malformed("takeDue", u)
    const record = row[3]
    entries[i] = {
      key,
      id: row[0],
      fields: parseFields(row[1]),
      deliveries: asInteger(row[2]),
      record: typeof record === "string" ? record : undefined
    }
  }
  const next = reply[1]
  return { entries, nextDueAt: typeof next === "string" ? Number(next) : undefined }
}

const parseAutoClaim = (key: string, u: unknown) => {
  const reply = asArray(u, "XAUTOCLAIM")
  if (reply.length !== 3 || typeof reply[0] !== "string") return malformed("XAUTOCLAIM", u)
  const deleted = asArray(reply[2], "XAUTOCLAIM")
  return {
    next: reply[0],
    entries: parseClaimed(key, reply[1]),
    deleted: deleted.map(asString)
  }
}

const parseReplies = (u: unknown, count: number): ReadonlyArray<RedisStream.CommandReply> => {
  const replies = asArray(u, "a transaction")
  if (replies.length !== count) return malformed("a transaction", u)
  const out = new Array<RedisStream.CommandReply>(count)
  for (let i = 0; i < count; i++) {
    const reply = replies[i]
    out[i] = typeof reply === "string" || typeof reply === "number" ? reply : malformed("a transaction", u)
  }
  return out
}

/** One character per target, "1" where the entry goes (`lua/copyForReplay-n.lua`). */
const routeMask = (indices: ReadonlyArray<number>, targets: number): string => {
  const mask = Array.from({ length: targets }, () => "0")
  for (const i of indices) if (i >= 0 && i < targets) mask[i] = "1"
  return mask.join("")
}

const parseReplayCopied = (u: unknown): RedisStream.ReplayCopied => {
  const reply = asArray(u, "a replay copy")
  if (reply.length < 5 || (reply.length - 5) % 3 !== 0) return malformed("a replay copy", u)
  const cursor = asString(reply[1])
  const stopKind = asString(reply[3])
  const stopValue = asString(reply[4])
  const copied: Array<{ readonly eventId: string; readonly type: string; readonly tenant: string }> = []
  for (let i = 5; i < reply.length; i += 3) {
    copied.push({ eventId: asString(reply[i]), type: asString(reply[i + 1]), tenant: asString(reply[i + 2]) })
  }
  return {
    passed: asInteger(reply[0]),
    cursor: cursor === "" ? undefined : cursor,
    copied,
    exhausted: asInteger(reply[2]) === 1,
    stop: stopKind === "type" ?
      { _tag: "UnknownType", type: stopValue } :
      stopKind === "entry" ?
      { _tag: "Entry", id: stopValue } :
      stopKind === "trimmed" ?
      { _tag: "Trimmed", first: stopValue === "" ? undefined : stopValue } :
      undefined
  }
}

const parseFirstId = (u: unknown): string => asString(asArray(u, "a transaction")[0])

const parsePendingSummary = (u: unknown): RedisStream.PendingSummary => {
  const reply = asArray(u, "XPENDING")
  if (reply.length !== 4) return malformed("XPENDING", u)
  const consumers = reply[3] === null ? [] : asArray(reply[3], "XPENDING").map((row) => {
    if (!isArray(row) || row.length !== 2) return malformed("XPENDING", u)
    return { name: asString(row[0]), pending: asInteger(row[1]) }
  })
  return {
    count: asInteger(reply[0]),
    minId: reply[1] === null ? undefined : asString(reply[1]),
    maxId: reply[2] === null ? undefined : asString(reply[2]),
    consumers
  }
}

const parsePendingRows = (u: unknown): ReadonlyArray<RedisStream.PendingEntry> =>
  asArray(u, "XPENDING").map((row) => {
    if (!isArray(row) || row.length !== 4) return malformed("XPENDING", u)
    return { id: asString(row[0]), consumer: asString(row[1]), idleMs: asInteger(row[2]), deliveries: asInteger(row[3]) }
  })

/** XINFO replies are flat `[name, value, …]` maps. */
const parseMap = (u: unknown, what: string): Map<string, unknown> => {
  const flat = asArray(u, what)
  if (flat.length % 2 !== 0) return malformed(what, u)
  const map = new Map<string, unknown>()
  for (let i = 0; i < flat.length; i += 2) map.set(asString(flat[i]), flat[i + 1])
  return map
}

const parseStreamInfo = (key: string, u: unknown): RedisStream.StreamInfo => {
  const info = parseMap(u, "XINFO STREAM")
  const first = info.get("first-entry")
  const last = info.get("last-entry")
  return {
    length: asInteger(info.get("length")),
    lastGeneratedId: asString(info.get("last-generated-id")),
    firstEntry: first === null || first === undefined ? undefined : parseEntry(key, first),
    lastEntry: last === null || last === undefined ? undefined : parseEntry(key, last)
  }
}

const parseGroups = (u: unknown): ReadonlyArray<RedisStream.GroupInfo> =>
  asArray(u, "XINFO GROUPS").map((row) => {
    const group = parseMap(row, "XINFO GROUPS")
    const lag = group.get("lag")
    return {
      name: asString(group.get("name")),
      consumers: asInteger(group.get("consumers")),
      pending: asInteger(group.get("pending")),
      lastDeliveredId: asString(group.get("last-delivered-id")),
      // nil when Redis cannot compute it (after deletions), absent before Redis 7.
      lag: lag === null || lag === undefined ? undefined : asInteger(lag)
    }
  })

const parseConsumers = (u: unknown): ReadonlyArray<RedisStream.ConsumerInfo> =>
  asArray(u, "XINFO CONSUMERS").map((row) => {
    const consumer = parseMap(row, "XINFO CONSUMERS")
    return {
      name: asString(consumer.get("name")),
      pending: asInteger(consumer.get("pending")),
      idleMs: asInteger(consumer.get("idle"))
    }
  })

const parseScore = (u: unknown): number | undefined => {
  if (u === null) return undefined
  const text = asString(u)
  return text === "inf" || text === "+inf" ? Infinity : text === "-inf" ? -Infinity : Number(text)
}

const parseScores = (u: unknown): ReadonlyArray<number | undefined> => asArray(u, "ZMSCORE").map(parseScore)

const parseOptionalStrings = (u: unknown): ReadonlyArray<string | undefined> =>
  asArray(u, "HMGET").map((value) => value === null ? undefined : asString(value))

const parseExists = (u: unknown): ReadonlyArray<boolean> => asArray(u, "EXISTS").map((value) => asInteger(value) > 0)
