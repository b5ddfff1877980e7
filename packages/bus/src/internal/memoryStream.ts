/**
 * The in-memory backend of `RedisStream` (`RedisStream.layerMemory`): a process-local "server"
 * per build with the Redis 7.0 semantics the bus relies on. Streams with `<ms>-<seq>` ids taken
 * from `Clock`, trimming and `XDEL`; consumer groups with pending-entries lists, delivery counts,
 * idle times, claims and the `entries-read` / lag bookkeeping of `XINFO GROUPS`; sorted sets;
 * markers with a TTL; blocking reads that wake on appends. Every command runs synchronously on
 * the state held in `make`'s closure, so each command and each `transaction` is atomic, as on a
 * single-threaded Redis. Time comes only from `Clock`, so `TestClock` drives ids, idle times,
 * TTLs and read timeouts.
 *
 * Where the contract asks for more than one Redis command gives, this engine does what the Redis
 * backend does: `transaction` is all or nothing (a Lua script there), `readOwnPending` leaves
 * delivery counts alone (XPENDING + XRANGE there, not `XREADGROUP ... 0`), both trimming
 * strategies may be combined, and an empty key list or id list is answered without a command.
 *
 * Where it knowingly differs from Redis 7.0 (each explained where it happens): approximate
 * trimming (`~`) trims exactly; id parts above 2^53 are rejected; a blocking read woken by an
 * append re-reads every key (7.0 answers with the appended key only); a read blocked on a stream
 * that is deleted fails with `NoGroup` (7.0 replies `UNBLOCKED`).
 *
 * With `enforceSlots` it also answers as a Redis Cluster node would to a step over keys of several
 * slots (`CROSSSLOT`): a transaction (a script there), a read over several streams, a due-retry
 * claim. Steps that a cluster client splits per slot anyway (deleting keys, checking markers) are
 * left alone. The slot function is the cluster's (`./slot.ts`).
 */
import { Duration, Effect, Option, Result } from "effect"
import * as RedisStream from "../RedisStream.ts"
import * as Slot from "./slot.ts"

type Failure = RedisStream.RedisStreamError

/**
 * Builds an empty engine. Nothing is shared between builds: each `layerMemory` is its own server.
 */
export const make = (options: RedisStream.MemoryOptions = {}): Effect.Effect<RedisStream.RedisStream["Service"]> =>
  Effect.sync(() => build(options.enforceSlots === true))

const build = (enforceSlots: boolean): RedisStream.RedisStream["Service"] => {
  const keyspace = new Map<string, Value>()

  /** `CROSSSLOT` when `keys` span several cluster slots and slots are enforced. */
  const oneSlot = (command: string, keys: ReadonlyArray<string>): Result.Result<void, Failure> => {
    if (!enforceSlots || keys.length < 2) return Result.void
    const slot = Slot.of(keys[0]!)
    for (const key of keys) {
      if (Slot.of(key) !== slot) {
        return Result.fail(
          commandError(command, `CROSSSLOT Keys in request don't hash to the same slot (${keys[0]} and ${key})`)
        )
      }
    }
    return Result.void
  }
  /** Readers blocked in `readGroup`, by the keys they wait on. */
  const waiters = new Map<string, Set<Waiter>>()

  // --- keyspace -------------------------------------------------------------------------------

  /** The live value of `key`: markers past their TTL are removed on access, as Redis does. */
  const lookup = (key: string, now: number): Value | undefined => {
    const value = keyspace.get(key)
    // Redis treats a key as expired once `now > expiresAt`, so it still exists at exactly its TTL.
    if (value !== undefined && value._tag === "string" && now > value.expiresAt) {
      keyspace.delete(key)
      return undefined
    }
    return value
  }

  const typeOf = (key: string, now: number): KeyType => lookup(key, now)?._tag ?? "none"

  const streamAt = (command: string, key: string, now: number): Result.Result<StreamValue | undefined, Failure> => {
    const value = lookup(key, now)
    if (value === undefined) return Result.succeed(undefined)
    return value._tag === "stream" ? Result.succeed(value) : Result.fail(wrongType(command))
  }

  const zsetAt = (command: string, key: string, now: number): Result.Result<ZSetValue | undefined, Failure> => {
    const value = lookup(key, now)
    if (value === undefined) return Result.succeed(undefined)
    return value._tag === "zset" ? Result.succeed(value) : Result.fail(wrongType(command))
  }

  /** A group of an existing stream, or `NoGroup` (Redis does not distinguish a missing key). */
  const groupAt = (
    command: string,
    key: string,
    groupName: string,
    now: number
  ): Result.Result<{ readonly stream: StreamValue; readonly group: Group }, Failure> => {
    const stream = streamAt(command, key, now)
    if (Result.isFailure(stream)) return Result.fail(stream.failure)
    const group = stream.success?.groups.get(groupName)
    if (stream.success === undefined || group === undefined) return Result.fail(noGroup(command, key, groupName))
    return Result.succeed({ stream: stream.success, group })
  }

  // --- blocked readers ------------------------------------------------------------------------

  const watch = (keys: ReadonlyArray<string>, wake: () => void): Waiter => {
    const waiter: Waiter = { keys, wake }
    for (const key of keys) {
      const set = waiters.get(key)
      if (set === undefined) waiters.set(key, new Set([waiter]))
      else set.add(waiter)
    }
    return waiter
  }

  const unwatch = (waiter: Waiter): void => {
    for (const key of waiter.keys) {
      const set = waiters.get(key)
      if (set?.delete(waiter) && set.size === 0) waiters.delete(key)
    }
  }

  /** Wakes every reader blocked on `key`, oldest first; each re-reads and may block again. */
  const notify = (key: string): void => {
    const set = waiters.get(key)
    if (set === undefined) return
    for (const waiter of Array.from(set)) {
      unwatch(waiter)
      waiter.wake()
    }
  }

  // --- stream commands ------------------------------------------------------------------------

  const xadd = (key: string, fields: RedisStream.Fields, trim: ParsedTrim | undefined, now: number): string => {
    let stream = keyspace.get(key)
    if (stream === undefined || stream._tag !== "stream") {
      stream = makeStream()
      keyspace.set(key, stream)
    }
    // `XADD *`: the clock's ms, or the last id's seq + 1 when the clock did not move forward
    // (same ms, or a clock that went back), so ids stay strictly increasing.
    const ms = Math.floor(now)
    const id = ms > stream.lastId.ms ? { ms, seq: 0 } : nextId(stream.lastId)
    const entry: StreamEntry = { id: formatId(id), ms: id.ms, seq: id.seq, fields: { ...fields } }
    stream.entries.push(entry)
    stream.byId.set(entry.id, entry)
    stream.lastId = id
    stream.entriesAdded++
    // Redis appends first and trims afterwards: a `minId` above the new id trims the new entry too.
    if (trim !== undefined) trimStream(stream, trim)
    return entry.id
  }

  const xack = (key: string, groupName: string, ids: ReadonlyArray<Id>): number => {
    const value = keyspace.get(key)
    const group = value?._tag === "stream" ? value.groups.get(groupName) : undefined
    // XACK on a missing key or group acknowledges nothing (no NOGROUP error, checked on 7.0).
    if (group === undefined) return 0
    let acked = 0
    for (const id of ids) {
      const nack = group.pel.get(formatId(id))
      if (nack !== undefined) {
        group.pel.remove(nack)
        acked++
      }
    }
    return acked
  }

  const xdel = (key: string, ids: ReadonlyArray<Id>): number => {
    const stream = keyspace.get(key)
    if (stream === undefined || stream._tag !== "stream") return 0
    let deleted = 0
    for (const id of ids) {
      const entry = stream.byId.get(formatId(id))
      if (entry === undefined) continue
      stream.entries.splice(firstIndexAfter(stream.entries, entry, true), 1)
      stream.byId.delete(entry.id)
      // The highest deleted id is the tombstone Redis 7 consults before trusting a lag figure.
      if (compareIds(entry, stream.maxDeletedId) > 0) stream.maxDeletedId = { ms: entry.ms, seq: entry.seq }
      deleted++
    }
    // Like Redis, deleted entries stay in the groups' pending lists until acked or claimed.
    return deleted
  }

  const zadd = (key: string, score: number, member: string): number => {
    let zset = keyspace.get(key)
    if (zset === undefined || zset._tag !== "zset") {
      zset = { _tag: "zset", scores: new Map() }
      keyspace.set(key, zset)
    }
    const added = zset.scores.has(member) ? 0 : 1
    zset.scores.set(member, score)
    return added
  }

  const zrem = (key: string, members: ReadonlyArray<string>): number => {
    const zset = keyspace.get(key)
    if (zset === undefined || zset._tag !== "zset") return 0
    let removed = 0
    for (const member of members) if (zset.scores.delete(member)) removed++
    // An empty sorted set or hash does not exist in Redis (unlike an empty stream).
    if (zset.scores.size === 0) keyspace.delete(key)
    return removed
  }

  const hset = (key: string, field: string, value: string): number => {
    let hash = keyspace.get(key)
    if (hash === undefined || hash._tag !== "hash") {
      hash = { _tag: "hash", fields: new Map() }
      keyspace.set(key, hash)
    }
    const added = hash.fields.has(field) ? 0 : 1
    hash.fields.set(field, value)
    return added
  }

  const hdel = (key: string, fields: ReadonlyArray<string>): number => {
    const hash = keyspace.get(key)
    if (hash === undefined || hash._tag !== "hash") return 0
    let removed = 0
    for (const field of fields) if (hash.fields.delete(field)) removed++
    if (hash.fields.size === 0) keyspace.delete(key)
    return removed
  }

  /**
   * Checks one command (key type, arguments) and returns the mutation that applies it. The
   * mutation cannot fail, which is what lets `transact` check everything before changing anything.
   */
  const prepare = (
    command: RedisStream.Command,
    now: number
  ): Result.Result<(now: number) => RedisStream.CommandReply, Failure> => {
    const name = commandNames[command._tag]
    const actual = typeOf(command.key, now)
    if (actual !== "none" && actual !== kindOf(command)) return Result.fail(wrongType(name))
    switch (command._tag) {
      case "XAdd": {
        if (Object.keys(command.fields).length === 0) {
          return Result.fail(commandError(name, "ERR wrong number of arguments for 'xadd' command"))
        }
        const trim = parseTrim(name, command.trim)
        if (Result.isFailure(trim)) return Result.fail(trim.failure)
        const copy = command.copyFrom
        if (copy === undefined) return Result.succeed((now) => xadd(command.key, command.fields, trim.success, now))
        const source = streamAt(name, copy.key, now)
        if (Result.isFailure(source)) return Result.fail(source.failure)
        const sourceIds = parseIds(name, [copy.id])
        if (Result.isFailure(sourceIds)) return Result.fail(sourceIds.failure)
        // Strings here are what was written, so a copy is the source entry's values as they are.
        return Result.succeed((now) => {
          const from = source.success?.byId.get(copy.id)?.fields
          const fields: Record<string, string> = {}
          for (const field in command.fields) {
            const copied = copy.fields.includes(field) ? from?.[field] : undefined
            fields[field] = copied ?? command.fields[field]!
          }
          return xadd(command.key, fields, trim.success, now)
        })
      }
      case "XAck": {
        const ids = parseIds(name, command.ids)
        if (Result.isFailure(ids)) return Result.fail(ids.failure)
        return Result.succeed(() => xack(command.key, command.group, ids.success))
      }
      case "XDel": {
        const ids = parseIds(name, command.ids)
        if (Result.isFailure(ids)) return Result.fail(ids.failure)
        return Result.succeed(() => xdel(command.key, ids.success))
      }
      case "ZAdd": {
        if (Number.isNaN(command.score)) return Result.fail(commandError(name, "ERR value is not a valid float"))
        return Result.succeed(() => zadd(command.key, command.score, command.member))
      }
      case "ZAddMany": {
        if (Number.isNaN(command.score)) return Result.fail(commandError(name, "ERR value is not a valid float"))
        return Result.succeed(() => {
          let added = 0
          for (const member of command.members) added += zadd(command.key, command.score, member)
          return added
        })
      }
      case "ZRem":
        return Result.succeed(() => zrem(command.key, command.members))
      case "ZRemRangeByScore": {
        if (Number.isNaN(command.max)) return Result.fail(commandError(name, "ERR min or max is not a float"))
        return Result.succeed((now) => {
          const zset = zsetAt(name, command.key, now)
          if (Result.isFailure(zset) || zset.success === undefined) return 0
          const expired: Array<string> = []
          for (const [member, score] of zset.success.scores) if (score <= command.max) expired.push(member)
          return zrem(command.key, expired)
        })
      }
      case "HSet":
        return Result.succeed(() => hset(command.key, command.field, command.value))
      case "HDel":
        return Result.succeed(() => hdel(command.key, command.fields))
      case "Set": {
        // PX takes whole milliseconds; like the Redis backend, a TTL below 1 ms becomes 1 ms.
        const px = Math.max(1, Math.round(command.ttlMs))
        if (!Number.isSafeInteger(px)) return Result.fail(commandError(name, "ERR invalid expire time in 'set' command"))
        return Result.succeed((now) => {
          keyspace.set(command.key, { _tag: "string", expiresAt: now + px })
          return 1
        })
      }
    }
  }

  /**
   * All or nothing: every command is checked before the first one is applied, and applying
   * cannot fail, so a rejected command leaves the keyspace untouched (stricter than `MULTI`, which
   * still runs the other commands after a run-time error such as WRONGTYPE). As in the Redis
   * backend's script, a key must be used as one type throughout the batch: then the key types
   * checked up front are the ones every command meets.
   */
  const transact = (
    commands: ReadonlyArray<RedisStream.Command>,
    now: number
  ): Result.Result<ReadonlyArray<RedisStream.CommandReply>, Failure> => {
    const slots = oneSlot(
      "EVALSHA",
      commands.flatMap((command) => command._tag === "XAdd" && command.copyFrom !== undefined ? [command.key, command.copyFrom.key] : [command.key])
    )
    if (Result.isFailure(slots)) return Result.fail(slots.failure)
    const kinds = new Map<string, KeyType>()
    const steps: Array<(now: number) => RedisStream.CommandReply> = []
    for (const command of commands) {
      const kind = kindOf(command)
      const earlier = kinds.get(command.key)
      if (earlier !== undefined && earlier !== kind) {
        return Result.fail(
          commandError(
            commandNames[command._tag],
            `ERR ${command.key} is used both as a ${earlier} and as a ${kind} in one transaction`
          )
        )
      }
      kinds.set(command.key, kind)
      const step = prepare(command, now)
      if (Result.isFailure(step)) return Result.fail(step.failure)
      steps.push(step.success)
    }
    const replies = steps.map((step) => step(now))
    for (const command of commands) if (command._tag === "XAdd") notify(command.key)
    return Result.succeed(replies)
  }

  /** One command outside a transaction: checked and applied in the same synchronous step. */
  const single = (command: RedisStream.Command, now: number): Result.Result<RedisStream.CommandReply, Failure> => {
    const step = prepare(command, now)
    if (Result.isFailure(step)) return Result.fail(step.failure)
    const reply = step.success(now)
    if (command._tag === "XAdd") notify(command.key)
    return Result.succeed(reply)
  }

  /**
   * Marks an entry delivered to `consumer` by a `>` read: advances the group's last-delivered id
   * and its logical read counter exactly as Redis 7 does, and records the pending entry.
   */
  const deliver = (stream: StreamValue, group: Group, entry: StreamEntry, consumer: Consumer, now: number) => {
    if (compareIds(entry, group.lastDelivered) > 0) {
      if (group.entriesRead !== unknownEntriesRead && !hasTombstonesFrom(stream, entry)) {
        group.entriesRead++
      } else if (stream.entriesAdded > 0) {
        group.entriesRead = entriesReadAt(stream, entry)
      }
      group.lastDelivered = { ms: entry.ms, seq: entry.seq }
    }
    const existing = group.pel.get(entry.id)
    if (existing === undefined) {
      group.pel.add({ id: entry.id, ms: entry.ms, seq: entry.seq, consumer, deliveryTime: now, deliveries: 1 })
    } else {
      // Only reachable when the last-delivered id moved back (Redis resets the entry the same way).
      group.pel.transfer(existing, consumer)
      existing.deliveryTime = now
      existing.deliveries = 1
    }
  }

  const readGroupNow = (
    options: ReadGroupOptions,
    count: number,
    now: number
  ): Result.Result<ReadonlyArray<RedisStream.GroupEntry>, Failure> => {
    // Every key must hold the group before anything is delivered, as in Redis.
    const targets: Array<{ readonly key: string; readonly stream: StreamValue; readonly group: Group }> = []
    for (const key of options.keys) {
      const target = groupAt("XREADGROUP", key, options.group, now)
      if (Result.isFailure(target)) return Result.fail(target.failure)
      targets.push({ key, ...target.success })
    }
    const out: Array<RedisStream.GroupEntry> = []
    for (const { group, key, stream } of targets) {
      const from = firstIndexAfter(stream.entries, group.lastDelivered, false)
      if (from >= stream.entries.length) continue
      // Redis creates (and refreshes) the consumer only for a key it actually serves.
      const consumer = touchConsumer(group, options.consumer, now)
      const end = count > 0 ? Math.min(stream.entries.length, from + count) : stream.entries.length
      for (let index = from; index < end; index++) {
        const entry = stream.entries[index]
        if (entry === undefined) break
        deliver(stream, group, entry, consumer, now)
        out.push({ key, id: entry.id, fields: entry.fields, deliveries: 1 })
      }
    }
    return Result.succeed(out)
  }

  /** The `XCLAIM` core for one id, shared by `claim` and `takeDue`. */
  const claimOne = (
    stream: StreamValue,
    group: Group,
    id: string,
    consumerName: string,
    minIdleMs: number,
    justId: boolean,
    now: number,
    lazyConsumer: { consumer: Consumer | undefined }
  ): { readonly nack: Nack; readonly entry: StreamEntry } | undefined => {
    const nack = group.pel.get(id)
    const entry = stream.byId.get(id)
    if (entry === undefined) {
      // Redis 7: a pending id whose entry was deleted is dropped from the list, not returned.
      if (nack !== undefined) group.pel.remove(nack)
      return undefined
    }
    if (nack === undefined || now - nack.deliveryTime < minIdleMs) return undefined
    // The consumer is created (or refreshed) only once something is actually claimed.
    lazyConsumer.consumer ??= touchConsumer(group, consumerName, now)
    group.pel.transfer(nack, lazyConsumer.consumer)
    nack.deliveryTime = now
    if (!justId) nack.deliveries++
    return { nack, entry }
  }

  const claimNow = (
    options: ClaimOptions,
    now: number
  ): Result.Result<ReadonlyArray<RedisStream.GroupEntry>, Failure> => {
    const target = groupAt("XCLAIM", options.key, options.group, now)
    if (Result.isFailure(target)) return Result.fail(target.failure)
    const minIdle = millisArgument("XCLAIM", options.minIdle)
    if (Result.isFailure(minIdle)) return Result.fail(minIdle.failure)
    const ids = parseIds("XCLAIM", options.ids)
    if (Result.isFailure(ids)) return Result.fail(ids.failure)
    const { group, stream } = target.success
    const justId = options.justId === true
    const lazy: { consumer: Consumer | undefined } = { consumer: undefined }
    const claimed: Array<{ readonly nack: Nack; readonly entry: StreamEntry }> = []
    // In the order given, duplicates included: Redis claims (and counts) a repeated id twice.
    for (const id of ids.success) {
      const one = claimOne(stream, group, formatId(id), options.consumer, minIdle.success, justId, now, lazy)
      if (one !== undefined) claimed.push(one)
    }
    // Counts are read once all claims are done, as the Redis backend reads them (XPENDING).
    return Result.succeed(claimed.map(({ entry, nack }) => groupEntry(options.key, entry, nack, justId)))
  }

  const autoClaimNow = (options: AutoClaimOptions, now: number): Result.Result<AutoClaimReply, Failure> => {
    const target = groupAt("XAUTOCLAIM", options.key, options.group, now)
    if (Result.isFailure(target)) return Result.fail(target.failure)
    const minIdle = millisArgument("XAUTOCLAIM", options.minIdle)
    if (Result.isFailure(minIdle)) return Result.fail(minIdle.failure)
    const start = parseBound(options.start, "start")
    if (start === undefined) return Result.fail(invalidId("XAUTOCLAIM", options.start))
    if (!Number.isSafeInteger(options.count) || options.count < 1) {
      return Result.fail(commandError("XAUTOCLAIM", "ERR COUNT must be > 0"))
    }
    const { group, stream } = target.success
    const lazy: { consumer: Consumer | undefined } = { consumer: undefined }
    const entries: Array<RedisStream.GroupEntry> = []
    const deleted: Array<string> = []
    // Redis examines at most COUNT * 10 pending ids per call, and a deleted entry uses up one
    // unit of COUNT, so a scan over a long idle-free list returns early with a cursor.
    let attempts = options.count * 10
    let remaining = options.count
    const scan = group.pel.from(start)[Symbol.iterator]()
    let next = scan.next()
    while (attempts > 0 && remaining > 0 && next.done !== true) {
      attempts--
      const nack = next.value
      if (!stream.byId.has(nack.id)) {
        group.pel.remove(nack)
        deleted.push(nack.id)
        remaining--
      } else {
        const claimed = claimOne(stream, group, nack.id, options.consumer, minIdle.success, false, now, lazy)
        if (claimed !== undefined) {
          entries.push(groupEntry(options.key, claimed.entry, claimed.nack, false))
          remaining--
        }
      }
      next = scan.next()
    }
    // The cursor is the first pending id not examined; "0-0" once the scan reached the end.
    return Result.succeed({ next: next.done === true ? "0-0" : next.value.id, entries, deleted })
  }

  /**
   * A consumer's pending entries after `after`, read without touching them. `XREADGROUP ... 0`
   * would also count a delivery and reset the idle time of each entry; like the Redis backend
   * (XPENDING + XRANGE), this leaves counts, idle times and the consumer's own idle time alone,
   * and skips pending ids whose entry was deleted.
   */
  const readOwnPendingNow = (
    options: ReadOwnPendingOptions,
    now: number
  ): Result.Result<ReadonlyArray<RedisStream.Entry>, Failure> => {
    const target = groupAt("XPENDING", options.key, options.group, now)
    if (Result.isFailure(target)) return Result.fail(target.failure)
    const count = integerArgument("XPENDING", options.count)
    if (Result.isFailure(count)) return Result.fail(count.failure)
    const after = parseId(options.after ?? "0", 0)
    if (after === undefined) return Result.fail(invalidId("XPENDING", options.after ?? "0"))
    const { group, stream } = target.success
    const out: Array<RedisStream.Entry> = []
    if (count.success <= 0) return Result.succeed(out)
    for (const nack of group.pel.from({ id: after, exclusive: true })) {
      if (nack.consumer.name !== options.consumer) continue
      const entry = stream.byId.get(nack.id)
      if (entry === undefined) continue
      out.push({ key: options.key, id: entry.id, fields: entry.fields })
      if (out.length >= count.success) break
    }
    return Result.succeed(out)
  }

  const pendingNow = (
    options: PendingOptions,
    now: number
  ): Result.Result<ReadonlyArray<RedisStream.PendingEntry>, Failure> => {
    const target = groupAt("XPENDING", options.key, options.group, now)
    if (Result.isFailure(target)) return Result.fail(target.failure)
    const count = integerArgument("XPENDING", options.count)
    if (Result.isFailure(count)) return Result.fail(count.failure)
    const minIdle = options.minIdle === undefined ? Result.succeed(0) : millisArgument("XPENDING", options.minIdle)
    if (Result.isFailure(minIdle)) return Result.fail(minIdle.failure)
    const startInput = options.start ?? "-"
    const start = parseBound(startInput, "start")
    if (start === undefined) return Result.fail(invalidId("XPENDING", startInput))
    const { group } = target.success
    const out: Array<RedisStream.PendingEntry> = []
    if (count.success <= 0) return Result.succeed(out)
    for (const nack of group.pel.from(start)) {
      if (options.consumer !== undefined && nack.consumer.name !== options.consumer) continue
      const idleMs = now - nack.deliveryTime
      if (idleMs < minIdle.success) continue
      out.push({ id: nack.id, consumer: nack.consumer.name, idleMs: Math.max(0, idleMs), deliveries: nack.deliveries })
      if (out.length >= count.success) break
    }
    return Result.succeed(out)
  }

  const rangeNow = (options: RangeOptions, now: number): Result.Result<ReadonlyArray<RedisStream.Entry>, Failure> => {
    const command = options.reverse === true ? "XREVRANGE" : "XRANGE"
    const stream = streamAt(command, options.key, now)
    if (Result.isFailure(stream)) return Result.fail(stream.failure)
    const start = parseBound(options.start, "start")
    if (start === undefined) return Result.fail(invalidId(command, options.start))
    const end = parseBound(options.end, "end")
    if (end === undefined) return Result.fail(invalidId(command, options.end))
    const count = options.count === undefined ? Result.succeed(-1) : integerArgument(command, options.count)
    if (Result.isFailure(count)) return Result.fail(count.failure)
    const out: Array<RedisStream.Entry> = []
    // COUNT 0 (or negative) answers nothing, as Redis does; no COUNT means no limit.
    if (stream.success === undefined || options.count !== undefined && count.success <= 0) return Result.succeed(out)
    const entries = stream.success.entries
    const from = firstIndexAfter(entries, start.id, !start.exclusive)
    const to = firstIndexAfter(entries, end.id, end.exclusive)
    const limit = count.success > 0 ? count.success : Infinity
    if (options.reverse === true) {
      for (let index = to - 1; index >= from && out.length < limit; index--) {
        const entry = entries[index]
        if (entry !== undefined) out.push({ key: options.key, id: entry.id, fields: entry.fields })
      }
    } else {
      for (let index = from; index < to && out.length < limit; index++) {
        const entry = entries[index]
        if (entry !== undefined) out.push({ key: options.key, id: entry.id, fields: entry.fields })
      }
    }
    return Result.succeed(out)
  }

  const takeDueNow = (
    options: TakeDueOptions,
    now: number
  ): Result.Result<{ readonly entries: ReadonlyArray<RedisStream.DueEntry>; readonly nextDueAt: number | undefined }, Failure> => {
    const zset = zsetAt("ZRANGEBYSCORE", options.scheduleKey, now)
    if (Result.isFailure(zset)) return Result.fail(zset.failure)
    const count = integerArgument("ZRANGEBYSCORE", options.count)
    if (Result.isFailure(count)) return Result.fail(count.failure)
    const records = lookup(options.recordsKey, now)
    if (records !== undefined && records._tag !== "hash") return Result.fail(wrongType("HGET"))
    const nextDue = () => {
      let lowest: number | undefined
      for (const score of zset.success?.scores.values() ?? []) if (lowest === undefined || score < lowest) lowest = score
      return lowest
    }
    if (zset.success === undefined || count.success === 0) return Result.succeed({ entries: [], nextDueAt: nextDue() })
    // ZRANGEBYSCORE order: by score, ties by member. `LIMIT 0 <negative>` means no limit.
    const due = Array.from(zset.success.scores)
      .filter(([, score]) => score <= options.now)
      .sort(([ma, sa], [mb, sb]) => sa - sb || compareStrings(ma, mb))
      .slice(0, count.success > 0 ? count.success : undefined)
    if (due.length === 0) return Result.succeed({ entries: [], nextDueAt: nextDue() })
    // Checked before anything is taken, so a missing group leaves the schedule untouched.
    // Everything that can fail is checked before the first change: a missing group, or a member
    // that is not an entry id (XCLAIM rejects it), leaves the schedule and the group untouched.
    const target = groupAt("XCLAIM", options.key, options.group, now)
    if (Result.isFailure(target)) return Result.fail(target.failure)
    const ids = parseIds("XCLAIM", due.map(([member]) => member))
    if (Result.isFailure(ids)) return Result.fail(ids.failure)
    const { group, stream } = target.success
    zrem(options.scheduleKey, due.map(([member]) => member))
    const lazy: { consumer: Consumer | undefined } = { consumer: undefined }
    const claimed: Array<{ readonly nack: Nack; readonly entry: StreamEntry }> = []
    for (const id of ids.success) {
      const one = claimOne(stream, group, formatId(id), options.consumer, 0, false, now, lazy)
      if (one !== undefined) claimed.push(one)
    }
    const entries = claimed.map(({ entry, nack }) => ({
      ...groupEntry(options.key, entry, nack, false),
      record: records?.fields.get(entry.id)
    }))
    return Result.succeed({ entries, nextDueAt: nextDue() })
  }

  // What `lua/copyForReplay-n.lua` does, in the same order and with the same stops.
  const copyForReplayNow = (o: RedisStream.ReplayCopy, now: number): Result.Result<RedisStream.ReplayCopied, Failure> => {
    const command = "EVALSHA copyForReplay"
    for (const [key, want] of [[o.progress.key, "hash"], ...o.targets.map((t) => [t, "stream"] as const)] as const) {
      const actual = typeOf(key, now)
      if (actual !== "none" && actual !== want) return Result.fail(wrongType(command))
    }
    if (!Number.isInteger(o.count) || o.count < 1) return Result.fail(commandError(command, `count must be a positive integer, got ${o.count}`))
    if (o.firstAtMost !== undefined) {
      const kept = rangeNow({ key: o.key, start: "-", end: o.firstAtMost, count: 1 }, now)
      if (Result.isFailure(kept)) return Result.fail(kept.failure)
      if (kept.success.length === 0) {
        const first = rangeNow({ key: o.key, start: "-", end: "+", count: 1 }, now)
        if (Result.isFailure(first)) return Result.fail(first.failure)
        return Result.succeed({ passed: 0, cursor: undefined, copied: [], exhausted: false, stop: { _tag: "Trimmed", first: first.success[0]?.id } })
      }
    }
    const entries = rangeNow({ key: o.key, start: o.start, end: o.end, count: o.count }, now)
    if (Result.isFailure(entries)) return Result.fail(entries.failure)
    let passed = 0
    let cursor: string | undefined
    let stop: RedisStream.ReplayCopied["stop"]
    const copied: Array<{ readonly eventId: string; readonly type: string; readonly tenant: string }> = []
    for (const entry of entries.success) {
      const { event, tenant, type } = entry.fields
      if (type === undefined || tenant === undefined) {
        stop = { _tag: "Entry", id: entry.id }
        break
      }
      const indices = o.routes.get(type)
      if (indices === undefined) {
        stop = { _tag: "UnknownType", type }
        break
      }
      const to = indices.filter((i) => i >= 0 && i < o.targets.length)
      if (to.length > 0 && (o.tenant === undefined || tenant === o.tenant)) {
        const id = event === undefined ? undefined : /^\{"id":"([^"\\]+)"/.exec(event)?.[1]
        if (event === undefined || id === undefined || !event.endsWith("}") || event.includes(`"replay"`)) {
          stop = { _tag: "Entry", id: entry.id }
          break
        }
        for (let t = 0; t < o.targets.length; t++) {
          if (to.includes(t)) xadd(o.targets[t]!, { event, type, tenant, replay: o.jobId }, undefined, now)
        }
        copied.push({ eventId: id, type, tenant })
      }
      passed++
      cursor = entry.id
    }
    if (cursor !== undefined) {
      hset(o.progress.key, o.progress.field, JSON.stringify({ cursor, scanned: o.progress.scanned + passed, matched: o.progress.matched + copied.length }))
    }
    for (const target of o.targets) notify(target)
    return Result.succeed({ passed, cursor, copied, exhausted: stop === undefined && entries.success.length < o.count, stop })
  }

  // --- the service ----------------------------------------------------------------------------

  /** Runs a synchronous command at the current `Clock` time. */
  const run = <A>(f: (now: number) => Result.Result<A, Failure>): Effect.Effect<A, Failure> =>
    Effect.clockWith((clock) => Effect.fromResult(f(clock.currentTimeMillisUnsafe())))

  const readGroup = (options: ReadGroupOptions): Effect.Effect<ReadonlyArray<RedisStream.GroupEntry>, Failure> =>
    Effect.clockWith((clock) => {
      const block = millisArgument("XREADGROUP", options.block)
      if (Result.isFailure(block)) return Effect.fail(block.failure)
      const count = integerArgument("XREADGROUP", options.count)
      if (Result.isFailure(count)) return Effect.fail(count.failure)
      // No keys, nothing to read or wait for (Redis would reject the command; both backends answer).
      if (options.keys.length === 0) return Effect.succeed([])
      const slots = oneSlot("XREADGROUP", options.keys)
      if (Result.isFailure(slots)) return Effect.fail(slots.failure)
      const deadline = clock.currentTimeMillisUnsafe() + block.success
      // One attempt reads and, when there is nothing and it may wait, registers for a wake-up in
      // the same synchronous step: no append can slip in between the empty read and the wait.
      // `undefined` means "woken up, read again".
      const attempt = (wait: boolean) =>
        Effect.callback<ReadonlyArray<RedisStream.GroupEntry> | undefined, Failure>((resume) => {
          const read = readGroupNow(options, count.success, clock.currentTimeMillisUnsafe())
          if (Result.isFailure(read)) return resume(Effect.fail(read.failure))
          if (read.success.length > 0 || !wait) return resume(Effect.succeed(read.success))
          const waiter = watch(options.keys, () => resume(Effect.succeed(undefined)))
          // Runs when the wait is interrupted (timeout or caller): a gone reader is not woken.
          return Effect.sync(() => unwatch(waiter))
        })
      const loop: Effect.Effect<ReadonlyArray<RedisStream.GroupEntry>, Failure> = Effect.suspend(() => {
        const remaining = deadline - clock.currentTimeMillisUnsafe()
        // No (or no more) time to wait: answer with what is there now.
        if (!(remaining > 0)) return Effect.map(attempt(false), (entries) => entries ?? [])
        const waited = remaining === Infinity
          ? Effect.map(attempt(true), Option.some)
          : Effect.timeoutOption(attempt(true), remaining)
        return Effect.flatMap(waited, (outcome) => {
          if (Option.isNone(outcome)) return Effect.succeed([])
          return outcome.value === undefined ? loop : Effect.succeed(outcome.value)
        })
      })
      return loop
    })

  return RedisStream.RedisStream.of({
    // The reply of XADD is the new id; of XACK and XDEL a count.
    append: (key, fields, trim) =>
      run((now) => Result.map(single({ _tag: "XAdd", key, fields, trim }, now), String)),

    transaction: (commands) => run((now) => transact(commands, now)),

    copyForReplay: (options) => run((now) => copyForReplayNow(options, now)),

    createGroup: (key, groupName, startId = "$") =>
      run((now) => {
        const stream = streamAt("XGROUP", key, now)
        if (Result.isFailure(stream)) return Result.fail(stream.failure)
        // Checked before MKSTREAM creates anything, as Redis does.
        const explicitStart = startId === "$" ? undefined : parseId(startId, 0)
        if (startId !== "$" && explicitStart === undefined) return Result.fail(invalidId("XGROUP", startId))
        // MKSTREAM: a missing stream is created empty, with last id 0-0.
        let value = stream.success
        if (value === undefined) {
          value = makeStream()
          keyspace.set(key, value)
        }
        // BUSYGROUP: an existing group is kept as it is, which makes the call idempotent.
        if (value.groups.has(groupName)) return Result.succeed(undefined)
        // Without ENTRIESREAD Redis 7 leaves the read counter unknown; lag is then estimated.
        value.groups.set(groupName, {
          lastDelivered: explicitStart ?? value.lastId,
          entriesRead: unknownEntriesRead,
          pel: new PendingList(),
          consumers: new Map()
        })
        return Result.succeed(undefined)
      }),

    destroyGroup: (key, groupName) =>
      run((now) => {
        const stream = streamAt("XGROUP", key, now)
        if (Result.isFailure(stream)) return Result.fail(stream.failure)
        const existed = stream.success?.groups.delete(groupName) ?? false
        // Readers blocked on this group fail with NOGROUP, as on Redis 7.
        if (existed) notify(key)
        return Result.succeed(existed)
      }),

    readGroup,

    // What `lua/appendLines-2.lua` does: one all-or-nothing step.
    appendLines: (options) =>
      run((now) => {
        const command = "EVALSHA appendLines"
        if (!Number.isInteger(options.count) || options.count < 0) {
          return Result.fail(commandError(command, `count must be a non-negative integer, got ${options.count}`))
        }
        if (options.count === 0) return Result.succeed(0)
        const split: Record<string, ReadonlyArray<string>> = {}
        let any = false
        for (const name in options.lines) {
          any = true
          const lines = options.lines[name]!.split("\n")
          if (lines.length !== options.count) {
            return Result.fail(commandError(command, `field ${name} has ${lines.length} lines for ${options.count} entries`))
          }
          split[name] = lines
        }
        if (!any) return Result.fail(commandError(command, "an entry needs at least one field from the lines"))
        const commands: Array<RedisStream.Command> = []
        for (let i = 0; i < options.count; i++) {
          const fields: Record<string, string> = {}
          for (const name in split) fields[name] = split[name]![i]!
          commands.push({ _tag: "XAdd", key: options.key, fields: { ...fields, ...options.fields } })
        }
        const hash = options.hashSet
        if (hash !== undefined) commands.push({ _tag: "HSet", key: hash.key, field: hash.field, value: hash.value })
        return Result.map(transact(commands, now), () => options.count)
      }),

    readOwnPending: (options) => run((now) => readOwnPendingNow(options, now)),

    ack: (key, groupName, ids) =>
      ids.length === 0
        ? Effect.succeed(0)
        : run((now) => Result.map(single({ _tag: "XAck", key, group: groupName, ids }, now), Number)),

    pendingSummary: (key, groupName) =>
      run((now) => {
        const target = groupAt("XPENDING", key, groupName, now)
        if (Result.isFailure(target)) return Result.fail(target.failure)
        const { group } = target.success
        const consumers = Array.from(group.consumers.values())
          .filter((consumer) => consumer.pending > 0)
          .sort((a, b) => compareStrings(a.name, b.name))
          .map((consumer) => ({ name: consumer.name, pending: consumer.pending }))
        return Result.succeed({
          count: group.pel.size,
          minId: group.pel.first()?.id,
          maxId: group.pel.last()?.id,
          consumers
        })
      }),

    pending: (options) => run((now) => pendingNow(options, now)),

    claim: (options) => (options.ids.length === 0 ? Effect.succeed([]) : run((now) => claimNow(options, now))),

    autoClaim: (options) => run((now) => autoClaimNow(options, now)),

    range: (options) => run((now) => rangeNow(options, now)),

    length: (key) => run((now) => Result.map(streamAt("XLEN", key, now), (stream) => stream?.entries.length ?? 0)),

    info: (key) =>
      run((now) =>
        Result.map(streamAt("XINFO", key, now), (stream) => {
          if (stream === undefined) return undefined
          const first = stream.entries[0]
          const last = stream.entries[stream.entries.length - 1]
          return {
            length: stream.entries.length,
            lastGeneratedId: formatId(stream.lastId),
            firstEntry: first === undefined ? undefined : { key, id: first.id, fields: first.fields },
            lastEntry: last === undefined ? undefined : { key, id: last.id, fields: last.fields }
          }
        })
      ),

    groups: (key) =>
      run((now) =>
        Result.map(streamAt("XINFO", key, now), (stream) => {
          if (stream === undefined) return []
          return Array.from(stream.groups)
            .sort(([a], [b]) => compareStrings(a, b))
            .map(([name, group]) => ({
              name,
              consumers: group.consumers.size,
              pending: group.pel.size,
              lastDeliveredId: formatId(group.lastDelivered),
              lag: lagOf(stream, group)
            }))
        })
      ),

    consumers: (key, groupName) =>
      run((now) =>
        Result.map(groupAt("XINFO", key, groupName, now), ({ group }) =>
          Array.from(group.consumers.values())
            .sort((a, b) => compareStrings(a.name, b.name))
            .map((consumer) => ({
              name: consumer.name,
              pending: consumer.pending,
              idleMs: Math.max(0, now - consumer.seenTime)
            }))
        )
      ),

    delete: (key, ids) =>
      ids.length === 0 ? Effect.succeed(0) : run((now) => Result.map(single({ _tag: "XDel", key, ids }, now), Number)),

    trim: (key, trim) =>
      run((now) => {
        const stream = streamAt("XTRIM", key, now)
        if (Result.isFailure(stream)) return Result.fail(stream.failure)
        const parsed = parseTrim("XTRIM", trim)
        if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
        // Nothing asked, nothing trimmed.
        if (parsed.success === undefined || stream.success === undefined) return Result.succeed(0)
        return Result.succeed(trimStream(stream.success, parsed.success))
      }),

    scores: (key, members) =>
      members.length === 0 ? Effect.succeed([]) : run((now) =>
        Result.map(zsetAt("ZMSCORE", key, now), (zset) => members.map((member) => zset?.scores.get(member)))
      ),

    takeDue: (options) =>
      run((now) =>
        Result.flatMap(
          oneSlot("EVALSHA", [options.scheduleKey, options.recordsKey, options.key]),
          () => takeDueNow(options, now)
        )
      ),

    removeIdleConsumers: (options) =>
      run((now) => {
        const minIdle = millisArgument("XGROUP", options.minIdle)
        if (Result.isFailure(minIdle)) return Result.fail(minIdle.failure)
        return Result.map(groupAt("XINFO", options.key, options.group, now), ({ group }) => {
          const removed: Array<string> = []
          for (const consumer of group.consumers.values()) {
            if (consumer.name !== options.keep && consumer.pending === 0 && now - consumer.seenTime >= minIdle.success) {
              group.consumers.delete(consumer.name)
              removed.push(consumer.name)
            }
          }
          return removed.sort(compareStrings)
        })
      }),

    hashGet: (key, fields) =>
      fields.length === 0 ? Effect.succeed([]) : run((now) => {
        const value = lookup(key, now)
        if (value !== undefined && value._tag !== "hash") return Result.fail(wrongType("HMGET"))
        return Result.succeed(fields.map((field) => value?.fields.get(field)))
      }),

    hashFields: (key) =>
      run((now) => {
        const value = lookup(key, now)
        if (value !== undefined && value._tag !== "hash") return Result.fail(wrongType("HKEYS"))
        return Result.succeed(value === undefined ? [] : Array.from(value.fields.keys()))
      }),

    setMarker: (key, ttl) =>
      run((now) => {
        const ttlMs = millisArgument("SET", ttl)
        if (Result.isFailure(ttlMs)) return Result.fail(ttlMs.failure)
        // PX takes whole milliseconds; like the Redis backend, a TTL below 1 ms becomes 1 ms.
        const px = Math.max(1, Math.round(ttlMs.success))
        if (!Number.isSafeInteger(px)) {
          return Result.fail(commandError("SET", "ERR invalid expire time in 'set' command"))
        }
        if (lookup(key, now) !== undefined) return Result.succeed(false)
        keyspace.set(key, { _tag: "string", expiresAt: now + px })
        return Result.succeed(true)
      }),

    markersExist: (keys) => run((now) => Result.succeed(keys.map((key) => lookup(key, now) !== undefined))),

    deleteKeys: (keys) =>
      run((now) => {
        let deleted = 0
        for (const key of keys) {
          const value = lookup(key, now)
          if (value === undefined) continue
          keyspace.delete(key)
          deleted++
          // Readers blocked on a deleted stream wake up and fail (Redis 7 unblocks them too).
          if (value._tag === "stream") notify(key)
        }
        return Result.succeed(deleted)
      }),

    ping: Effect.void
  })
}

// --- internal ---------------------------------------------------------------------------------

type ServiceShape = RedisStream.RedisStream["Service"]
type ReadGroupOptions = Parameters<ServiceShape["readGroup"]>[0]
type ReadOwnPendingOptions = Parameters<ServiceShape["readOwnPending"]>[0]
type PendingOptions = Parameters<ServiceShape["pending"]>[0]
type ClaimOptions = Parameters<ServiceShape["claim"]>[0]
type AutoClaimOptions = Parameters<ServiceShape["autoClaim"]>[0]
type AutoClaimReply = Effect.Success<ReturnType<ServiceShape["autoClaim"]>>
type RangeOptions = Parameters<ServiceShape["range"]>[0]
type TakeDueOptions = Parameters<ServiceShape["takeDue"]>[0]

/** The Redis `TYPE` of a key. Markers are plain strings. */
type KeyType = "none" | "stream" | "zset" | "hash" | "string"

type Value = StreamValue | ZSetValue | HashValue | MarkerValue

interface StreamValue {
  readonly _tag: "stream"
  /** Sorted by id; binary-searched for ranges, trimming and `>` reads. */
  readonly entries: Array<StreamEntry>
  readonly byId: Map<string, StreamEntry>
  /** `last-generated-id`: survives deletion and trimming, so new ids never go back. */
  lastId: Id
  /** Highest id removed by XDEL (trimming does not count), the tombstone that voids lag figures. */
  maxDeletedId: Id
  /** `entries-added`: every entry ever appended. */
  entriesAdded: number
  readonly groups: Map<string, Group>
}

interface StreamEntry extends Id {
  readonly id: string
  readonly fields: RedisStream.Fields
}

interface ZSetValue {
  readonly _tag: "zset"
  readonly scores: Map<string, number>
}

interface HashValue {
  readonly _tag: "hash"
  readonly fields: Map<string, string>
}

interface MarkerValue {
  readonly _tag: "string"
  readonly expiresAt: number
}

interface Group {
  lastDelivered: Id
  /** The logical read counter of Redis 7 (`entries-read`), `unknownEntriesRead` when unknown. */
  entriesRead: number
  readonly pel: PendingList
  readonly consumers: Map<string, Consumer>
}

interface Consumer {
  readonly name: string
  /** Last time the consumer read or claimed something: its idle time counts from here. */
  seenTime: number
  pending: number
}

/** One pending entry (a "NACK" in Redis' source). */
interface Nack extends Id {
  readonly id: string
  consumer: Consumer
  deliveryTime: number
  deliveries: number
}

interface Waiter {
  readonly keys: ReadonlyArray<string>
  readonly wake: () => void
}

interface ParsedTrim {
  readonly minId: Id | undefined
  readonly maxLen: number | undefined
}

const unknownEntriesRead = -1

const makeStream = (): StreamValue => ({
  _tag: "stream",
  entries: [],
  byId: new Map(),
  lastId: zeroId,
  maxDeletedId: zeroId,
  entriesAdded: 0,
  groups: new Map()
})

/** The key type a command works on. */
const kindOf = (command: RedisStream.Command): KeyType => {
  switch (command._tag) {
    case "XAdd":
    case "XAck":
    case "XDel":
      return "stream"
    case "ZAdd":
    case "ZAddMany":
    case "ZRem":
    case "ZRemRangeByScore":
      return "zset"
    case "HSet":
    case "HDel":
      return "hash"
    case "Set":
      return "string"
  }
}

const commandNames: Record<RedisStream.Command["_tag"], string> = {
  XAdd: "XADD",
  XAck: "XACK",
  XDel: "XDEL",
  ZAdd: "ZADD",
  ZAddMany: "ZADD",
  ZRem: "ZREM",
  ZRemRangeByScore: "ZREMRANGEBYSCORE",
  HSet: "HSET",
  HDel: "HDEL",
  Set: "SET"
}

const touchConsumer = (group: Group, name: string, now: number): Consumer => {
  const existing = group.consumers.get(name)
  if (existing !== undefined) {
    existing.seenTime = now
    return existing
  }
  const consumer: Consumer = { name, seenTime: now, pending: 0 }
  group.consumers.set(name, consumer)
  return consumer
}

const groupEntry = (key: string, entry: StreamEntry, nack: Nack, justId: boolean): RedisStream.GroupEntry => ({
  key,
  id: entry.id,
  fields: justId ? {} : entry.fields,
  deliveries: nack.deliveries
})

const trimStream = (stream: StreamValue, trim: ParsedTrim): number => {
  // Approximate trimming is applied exactly: Redis would only drop whole radix-tree nodes (100
  // entries by default), so it may keep more, never less. Code relying on `~` must not expect
  // entries below the threshold to survive, so exact trimming is a safe stand-in.
  let remove = trim.minId === undefined ? 0 : firstIndexAfter(stream.entries, trim.minId, true)
  if (trim.maxLen !== undefined) remove = Math.max(remove, stream.entries.length - trim.maxLen)
  if (remove <= 0) return 0
  for (const entry of stream.entries.splice(0, remove)) stream.byId.delete(entry.id)
  return remove
}

// --- Redis 7 lag bookkeeping (t_stream.c) ----------------------------------------------------

const firstIdOf = (stream: StreamValue): Id => stream.entries[0] ?? zeroId

/** `streamRangeHasTombstones(s, start, +)`: whether an XDEL may have left a gap at or after `start`. */
const hasTombstonesFrom = (stream: StreamValue, start: Id): boolean =>
  stream.entries.length > 0 &&
  !isZeroId(stream.maxDeletedId) &&
  compareIds(firstIdOf(stream), stream.maxDeletedId) <= 0 &&
  compareIds(start, stream.maxDeletedId) <= 0

/** `streamEstimateDistanceFromFirstEverEntry`: the read counter at `id`, when it can be known. */
const entriesReadAt = (stream: StreamValue, id: Id): number => {
  if (stream.entriesAdded === 0) return 0
  if (stream.entries.length === 0 && compareIds(id, stream.lastId) <= 0) return stream.entriesAdded
  const versusLast = compareIds(id, stream.lastId)
  if (versusLast === 0) return stream.entriesAdded
  if (versusLast > 0) return unknownEntriesRead
  const first = firstIdOf(stream)
  if (isZeroId(stream.maxDeletedId) || compareIds(stream.maxDeletedId, first) < 0) {
    const versusFirst = compareIds(id, first)
    if (versusFirst < 0) return stream.entriesAdded - stream.entries.length
    if (versusFirst === 0) return stream.entriesAdded - stream.entries.length + 1
  }
  return unknownEntriesRead
}

/** `streamReplyWithCGLag`: undefined when deletions make the lag unknowable, as in Redis. */
const lagOf = (stream: StreamValue, group: Group): number | undefined => {
  if (stream.entriesAdded === 0) return 0
  if (group.entriesRead !== unknownEntriesRead && !hasTombstonesFrom(stream, group.lastDelivered)) {
    return stream.entriesAdded - group.entriesRead
  }
  const read = entriesReadAt(stream, group.lastDelivered)
  return read === unknownEntriesRead ? undefined : stream.entriesAdded - read
}

// --- pending-entries list ---------------------------------------------------------------------

/**
 * A group's pending entries in id order. Entries only ever enter through `>` reads, whose ids
 * exceed every id delivered before, so adding is an append; removal (ack, claim of a deleted
 * entry) is O(1) through the map and leaves a hole in `order` that is compacted once holes
 * outnumber live entries. Each consumer's pending count is kept here too.
 */
class PendingList {
  private readonly byId = new Map<string, Nack>()
  private order: Array<Nack> = []
  private holes = 0

  get size(): number {
    return this.byId.size
  }

  get(id: string): Nack | undefined {
    return this.byId.get(id)
  }

  add(nack: Nack): void {
    this.byId.set(nack.id, nack)
    nack.consumer.pending++
    const last = this.order[this.order.length - 1]
    if (last === undefined || compareIds(last, nack) < 0) this.order.push(nack)
    else this.order.splice(firstIndexAfter(this.order, nack, true), 0, nack)
  }

  remove(nack: Nack): void {
    if (this.byId.get(nack.id) !== nack) return
    this.byId.delete(nack.id)
    nack.consumer.pending--
    this.holes++
    if (this.holes > 32 && this.holes > this.byId.size) {
      this.order = this.order.filter((live) => this.byId.get(live.id) === live)
      this.holes = 0
    }
  }

  transfer(nack: Nack, consumer: Consumer): void {
    if (nack.consumer === consumer) return
    nack.consumer.pending--
    consumer.pending++
    nack.consumer = consumer
  }

  first(): Nack | undefined {
    for (const nack of this.from({ id: zeroId, exclusive: false })) return nack
    return undefined
  }

  last(): Nack | undefined {
    for (let index = this.order.length - 1; index >= 0; index--) {
      const nack = this.order[index]
      if (nack !== undefined && this.byId.get(nack.id) === nack) return nack
    }
    return undefined
  }

  /** Live entries from `start` on, in id order; entries removed while iterating are skipped. */
  *from(start: Bound): Generator<Nack> {
    // A compaction during the iteration replaces `this.order`; this snapshot stays valid.
    const order = this.order
    for (let index = firstIndexAfter(order, start.id, !start.exclusive); index < order.length; index++) {
      const nack = order[index]
      if (nack !== undefined && this.byId.get(nack.id) === nack) yield nack
    }
  }
}

// --- ids --------------------------------------------------------------------------------------

interface Id {
  readonly ms: number
  readonly seq: number
}

/** A range bound: `-`, `+`, an id, or an exclusive `(id`. */
interface Bound {
  readonly id: Id
  readonly exclusive: boolean
}

const zeroId: Id = { ms: 0, seq: 0 }

const isZeroId = (id: Id): boolean => id.ms === 0 && id.seq === 0

const compareIds = (a: Id, b: Id): number =>
  a.ms < b.ms ? -1 : a.ms > b.ms ? 1 : a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0

const formatId = (id: Id): string => `${id.ms}-${id.seq}`

/** The id after `id`; like Redis, a full sequence rolls over to the next millisecond. */
const nextId = (id: Id): Id =>
  id.seq >= Number.MAX_SAFE_INTEGER ? { ms: id.ms + 1, seq: 0 } : { ms: id.ms, seq: id.seq + 1 }

const idPattern = /^(\d+)(?:-(\d+))?$/

/**
 * Parses `<ms>-<seq>` or a bare `<ms>` (whose seq is `missingSeq`), as Redis does. Parts above
 * 2^53 are rejected here although Redis accepts 64 bits: ids come from ms timestamps, so this
 * only matters for hand-made ids.
 */
const parseId = (input: string, missingSeq: number): Id | undefined => {
  const match = idPattern.exec(input)
  if (match === null) return undefined
  const ms = Number(match[1])
  const seq = match[2] === undefined ? missingSeq : Number(match[2])
  return Number.isSafeInteger(ms) && (Number.isSafeInteger(seq) || seq === Infinity) ? { ms, seq } : undefined
}

/** A range bound; a bare `<ms>` covers the whole millisecond (seq 0 as a start, max as an end). */
const parseBound = (input: string, side: "start" | "end"): Bound | undefined => {
  if (input === "-") return { id: zeroId, exclusive: false }
  if (input === "+") return { id: { ms: Infinity, seq: Infinity }, exclusive: false }
  const exclusive = input.startsWith("(")
  const id = parseId(exclusive ? input.slice(1) : input, side === "start" ? 0 : Infinity)
  return id === undefined ? undefined : { id, exclusive }
}

const parseIds = (command: string, inputs: ReadonlyArray<string>): Result.Result<ReadonlyArray<Id>, Failure> => {
  const ids: Array<Id> = []
  for (const input of inputs) {
    const id = parseId(input, 0)
    if (id === undefined) return Result.fail(invalidId(command, input))
    ids.push(id)
  }
  return Result.succeed(ids)
}

/** The first index whose id is after `id` (`orEqual`: at or after); `sorted` is in id order. */
const firstIndexAfter = (sorted: ReadonlyArray<Id>, id: Id, orEqual: boolean): number => {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const middle = (low + high) >>> 1
    const item = sorted[middle]
    const order = item === undefined ? 1 : compareIds(item, id)
    if (order < 0 || (order === 0 && !orEqual)) low = middle + 1
    else high = middle
  }
  return low
}

// --- arguments --------------------------------------------------------------------------------

/**
 * Checks a `Trim`. Both strategies may be given (Redis takes one per command; the Redis backend
 * runs the second as an `XTRIM`), and then both apply.
 */
const parseTrim = (
  command: string,
  trim: RedisStream.Trim | undefined
): Result.Result<ParsedTrim | undefined, Failure> => {
  if (trim === undefined || (trim.minId === undefined && trim.maxLen === undefined)) return Result.succeed(undefined)
  if (trim.maxLen !== undefined && !(Number.isSafeInteger(trim.maxLen) && trim.maxLen >= 0)) {
    return Result.fail(commandError(command, "ERR The MAXLEN argument must be >= 0."))
  }
  const minId = trim.minId === undefined ? undefined : parseId(trim.minId, 0)
  if (trim.minId !== undefined && minId === undefined) return Result.fail(invalidId(command, trim.minId))
  return Result.succeed({ minId, maxLen: trim.maxLen })
}

const integerArgument = (command: string, value: number): Result.Result<number, Failure> =>
  Number.isSafeInteger(value)
    ? Result.succeed(value)
    : Result.fail(commandError(command, "ERR value is not an integer or out of range"))

/** A duration in milliseconds; negative ones count as zero (Redis clamps a negative min-idle). */
const millisArgument = (command: string, input: Duration.Input): Result.Result<number, Failure> =>
  Option.match(Duration.fromInput(input), {
    onNone: () => Result.fail(commandError(command, `ERR invalid duration: ${String(input)}`)),
    onSome: (duration) => Result.succeed(Math.max(0, Duration.toMillis(duration)))
  })

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

// --- errors (worded as Redis words them) -------------------------------------------------------

const commandError = (command: string, detail: string): Failure =>
  new RedisStream.RedisStreamError({ command, kind: "Command", detail })

const wrongType = (command: string): Failure =>
  commandError(command, "WRONGTYPE Operation against a key holding the wrong kind of value")

const invalidId = (command: string, input: string): Failure =>
  commandError(command, `ERR Invalid stream ID specified as stream command argument: ${input}`)

const noGroup = (command: string, key: string, group: string): Failure =>
  new RedisStream.RedisStreamError({
    command,
    kind: "NoGroup",
    detail: `NOGROUP No such key '${key}' or consumer group '${group}'`
  })
