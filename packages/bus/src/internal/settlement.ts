/**
 * Settlement: the one place that decides and writes the outcome of a delivery, and the owner of
 * every per-subscription key those outcomes touch.
 *
 * Outcomes: **ack** (XACK; with idempotency the done-marker; the retry state of a retried entry
 * cleared), **fail** (the retry policy decides: schedule the retry, or exhaust into the DLQ),
 * **dead-letter** now, and **release**. Each outcome that writes is one atomic Redis step
 * (`RedisStream.transaction`), and every step that ends a delivery includes its XACK: a crash can
 * never leave a marker without its ack, a DLQ copy without its ack, or the reverse. Acks and
 * scheduled retries are written a batch per step (`ack`, `failAll`): the worker pool queues them
 * and the subscription's flusher sends what accumulated, so a busy consumer pays one round trip
 * per batch of outcomes, not per event.
 *
 * The rule that keeps events from being stranded: **no failure on the settle path leaves a
 * delivery held.** Each step is retried on `settleRetry` while Redis is unavailable, until it
 * lands; when Redis rejects it for good (or shutdown interrupts it) the entry is released: it
 * stays pending in the group, nobody refreshes it any more, and the sweep of this or another
 * consumer claims it again after the claim timeout. Releasing happens in a finalizer, so
 * interruption releases too.
 *
 * A settlement belongs to one subscription on one stream (`Topology.StreamKeys`), and every key it
 * writes derives from that stream's key, so each step touches keys of one hash tag (one cluster
 * slot). Keys are per subscription (one subscription is one consumer group); in the `single`
 * layout the names are the 0.1 names, so retries scheduled by 0.1 keep working:
 * - `<stream>:retry:<subscription>` sorted set: entry id → due time (ms) of its next retry;
 * - `<stream>:failures:<subscription>` hash: entry id → JSON failure record (first and last failure
 *   time, last error), cleared when the entry is acked or dead-lettered;
 * - `StreamKeys.done(subscription)` sorted set: the event ids this subscription completed,
 *   scored by when their mark expires (idempotent handling; kept for the stream's retention);
 * - `StreamKeys.redeliver(subscription)` stream: entries re-driven from the DLQ to this
 *   subscription only;
 * - `StreamKeys.dlq`: where given-up entries go (per stream in tagged layouts).
 *
 * A routed subscription (`./router.ts`) reads its inbox instead of the stream: its entries are
 * deleted in the step that acks or dead-letters them, and outcomes name the entry the copy came
 * from (`origin`). The router's own ack step carries the copies it forwards (`forwardTo`), so
 * copies and ack land together.
 */
import { Clock, Duration, Effect, Option, Schedule, Schema } from "effect"
import type * as BusConfig from "../BusConfig.ts"
import type * as DeliveryLog from "../DeliveryLog.ts"
import * as Metrics from "../Metrics.ts"
import type * as RedisStream from "../RedisStream.ts"
import * as Retry from "../Retry.ts"
import type * as Topology from "../Topology.ts"
import * as DlqEntry from "./dlqEntry.ts"
import * as ReplayMarker from "./replayMarker.ts"
import * as Supervision from "./supervision.ts"

// ---------------------------------------------------------------------------------------------
// keys
// ---------------------------------------------------------------------------------------------

/** The retry schedule of `subscription` for entries of `stream`. */
export const retryKey = (stream: string, subscription: string): string => `${stream}:retry:${subscription}`

/** The failure records of `subscription` for entries of `stream`. */
export const failuresKey = (stream: string, subscription: string): string => `${stream}:failures:${subscription}`

/**
 * A subscription's inbox (`./router.ts`) and the stream its entries were forwarded from. Each
 * copy names the entry it copies in its `origin` field, so deliveries, dead letters and the
 * delivery log show where the event really is: the stream and the entry id it was published as.
 */
export interface Inbox {
  readonly key: string
  readonly stream: string
}

/** The field of a forwarded copy that names the entry it copies. */
export const originField = "origin"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/** What the bus remembers between attempts of one entry. */
export const FailureRecord = Schema.Struct({
  firstFailedAt: Schema.Finite,
  lastFailedAt: Schema.Finite,
  error: Retry.FailureInfo
})
export type FailureRecord = typeof FailureRecord.Type

const decodeRecord = Schema.decodeUnknownOption(Schema.fromJsonString(FailureRecord))

/** Reads a failure record as stored; undefined when absent or unreadable. */
export const parseRecord = (raw: string | undefined): FailureRecord | undefined =>
  raw === undefined ? undefined : Option.getOrUndefined(decodeRecord(raw))

/** A delivery as the settlement sees it. */
export interface Settled {
  readonly entry: RedisStream.GroupEntry
  /** Known once the envelope decoded; an undecodable entry has none. */
  readonly eventId: string | undefined
  readonly type: string | undefined
  readonly tenantId: string | undefined
  /** For log lines written outside the handler's context (a failure settled with a batch). */
  readonly correlationId?: string | undefined
  /** The failure record taken with a retry (`takeDue`): when it first failed. */
  readonly record: FailureRecord | undefined
  /**
   * Streams the entry is copied to, server-side, in the step that acks it (the application
   * router forwarding to subscription inboxes, `./router.ts`): copies and ack land together.
   */
  readonly forwardTo?: ReadonlyArray<string> | undefined
}

/**
 * Entries delivered to this consumer and not settled yet, per stream. The heartbeat keeps them
 * fresh so no sweep takes them; the settlement releases each one when its outcome lands or
 * cannot land.
 */
export class Held {
  private readonly byKey = new Map<string, Set<string>>()
  add(key: string, id: string): void {
    let ids = this.byKey.get(key)
    if (ids === undefined) {
      ids = new Set()
      this.byKey.set(key, ids)
    }
    ids.add(id)
  }
  release(key: string, id: string): void {
    this.byKey.get(key)?.delete(id)
  }
  has(key: string, id: string): boolean {
    return this.byKey.get(key)?.has(id) ?? false
  }
  /** Streams with the ids held on each (non-empty only). */
  *streams(): IterableIterator<readonly [string, ReadonlyArray<string>]> {
    for (const [key, ids] of this.byKey) if (ids.size > 0) yield [key, Array.from(ids)]
  }
  get size(): number {
    let n = 0
    for (const ids of this.byKey.values()) n += ids.size
    return n
  }
}

/**
 * Per-type outcome counters, kept as plain numbers on the hot path and published to the Metrics
 * after each settle step: every outcome counts, whether or not an ack follows.
 */
export class Counts {
  private readonly byType = new Map<string, { delivered: number; acked: number; failed: number }>()
  readonly group: string
  constructor(group: string) {
    this.group = group
  }
  count(type: string, what: "delivered" | "acked" | "failed"): void {
    let counts = this.byType.get(type)
    if (counts === undefined) {
      counts = { delivered: 0, acked: 0, failed: 0 }
      this.byType.set(type, counts)
    }
    counts[what]++
  }
  readonly publish: Effect.Effect<void> = Effect.suspend(() => {
    const updates: Array<Effect.Effect<void>> = []
    for (const [type, counts] of this.byType) {
      if (counts.delivered > 0) updates.push(Metrics.delivered(this.group, type, counts.delivered))
      if (counts.acked > 0) updates.push(Metrics.acked(this.group, type, counts.acked))
      if (counts.failed > 0) updates.push(Metrics.failed(this.group, type, counts.failed))
      counts.delivered = counts.acked = counts.failed = 0
    }
    return updates.length === 0 ? Effect.void : Effect.all(updates, { discard: true })
  })
}

/** The settlement of one subscription. */
export interface Settlement {
  readonly subscription: string
  readonly group: string
  readonly held: Held
  readonly counts: Counts
  /**
   * Idempotent handling, in process: `begin` is false for an event already running or completed
   * here (ack that copy without running it); `end` records how the run ended.
   */
  readonly local: { readonly begin: (eventId: string) => boolean; readonly end: (eventId: string, completed: boolean) => void }
  /** Which of `eventIds` this subscription completed before (idempotent handling); one round trip. */
  readonly completed: (eventIds: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, RedisStream.RedisStreamError>
  /** Acks a batch in one step (markers and retry cleanup included); never fails: lands or releases. */
  readonly ack: (batch: ReadonlyArray<Settled>) => Effect.Effect<void>
  /** Applies the retry policy to a failed delivery: schedules its retry or dead-letters it. */
  readonly fail: (delivery: Settled, failure: Retry.Failure) => Effect.Effect<void>
  /**
   * `fail` for a batch: the retries it schedules are written in one step (one round trip for
   * the batch); exhausted deliveries are dead-lettered one by one.
   */
  readonly failAll: (batch: ReadonlyArray<Failed>) => Effect.Effect<void>
  /** Dead-letters a delivery now. */
  readonly deadLetter: (delivery: Settled, failure: Retry.Failure) => Effect.Effect<void>
  /** Reports deliveries handed out (`PROCESSING`) to the delivery log. */
  readonly delivered: (batch: ReadonlyArray<Settled>) => Effect.Effect<void>
  /** Gives a delivery up without an outcome: it is handed out again after the claim timeout. */
  readonly release: (delivery: Settled) => Effect.Effect<void>
  /** Due retries of `stream`, claimed to `consumer`, with the lowest due time left. */
  readonly takeDue: (stream: string, consumer: string, count: number) => Effect.Effect<
    { readonly entries: ReadonlyArray<Settled>; readonly nextDueAt: number | undefined },
    RedisStream.RedisStreamError
  >
  /** Where an entry's event was published: for a copy in the inbox, the stream and id it copies. */
  readonly origin: (entry: RedisStream.GroupEntry) => { readonly stream: string; readonly id: string }
  /** Which of `entryIds` wait for a retry (the sweep must leave those alone). */
  readonly scheduled: (stream: string, entryIds: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, RedisStream.RedisStreamError>
}

/** A failed delivery waiting for its outcome (see `Settlement.failAll`). */
export class Failed {
  readonly delivery: Settled
  readonly failure: Retry.Failure
  constructor(delivery: Settled, failure: Retry.Failure) {
    this.delivery = delivery
    this.failure = failure
  }
}

/**
 * A settle step that fails while Redis is unavailable is tried again from 50 ms, doubling up to
 * 2 s, until it lands: the entry stays held meanwhile, so the heartbeat keeps it from other
 * consumers once Redis answers, and it is settled once, with no duplicate. Shutdown interrupts the
 * retries (after `shutdownTimeout`), which releases the entry.
 */
const settleRetry = Schedule.exponential("50 millis", 2).pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(2)))),
  Schedule.jittered
)

/**
 * Event ids an idempotent subscription is running or completed in this process, so a second copy
 * of an event (read before the first copy's done-marker landed) is not run again. A copy can only
 * slip past the marker check while the first copy's ack is on its way, so only the latest
 * completions matter: they are kept in two generations, the newer one dropping the older whole
 * when it reaches `capacity` ids, so at least the latest `capacity` completions (and at most twice
 * that) are known. Running ids are never forgotten.
 *
 * Two generations instead of an eviction ring: a ring deletes one id per completion, and each
 * lookup in a large set is a cache miss on a busy process (the ring's four set operations per
 * event measured ~1 µs in the idempotent drain; these take half as many).
 */
export class LocalIdempotency {
  private readonly running = new Set<string>()
  private current = new Set<string>()
  private previous = new Set<string>()
  private readonly capacity: number
  constructor(capacity: number) {
    this.capacity = capacity
  }
  /** False when this event is running or completed here: the copy is a duplicate. */
  begin(eventId: string): boolean {
    if (this.running.has(eventId) || this.current.has(eventId) || this.previous.has(eventId)) return false
    this.running.add(eventId)
    return true
  }
  end(eventId: string, completed: boolean): void {
    this.running.delete(eventId)
    if (!completed) return
    if (this.current.size >= this.capacity) {
      this.previous = this.current
      this.current = new Set()
    }
    this.current.add(eventId)
  }
}

/** Creates the settlement of one subscription. */
export const make = (options: {
  readonly subscription: string
  readonly group: string
  /** The stream this settlement settles entries of (its own and its redeliver stream's). */
  readonly stream: Topology.StreamKeys
  readonly policy: Retry.Policy
  readonly idempotent: boolean
  readonly redis: RedisStream.RedisStream["Service"]
  readonly settings: BusConfig.BusSettings
  /** Called with the due time of every retry this settlement schedules (wakes the poller). */
  readonly onScheduled: (dueAt: number) => void
  /** Where landed outcomes are reported (the event store), if anywhere. */
  readonly log: DeliveryLog.Log | undefined
  /**
   * A stream this subscription reads alone (its inbox, `./router.ts`): an entry of it is deleted
   * in the step that acks or dead-letters it, so the inbox holds only unsettled entries.
   */
  readonly inbox?: Inbox | undefined
}): Settlement => {
  const { group, inbox, log, policy, redis, settings, subscription } = options
  const inboxKey = inbox?.key
  const origin = (entry: RedisStream.GroupEntry) =>
    inbox !== undefined && entry.key === inbox.key ?
      { stream: inbox.stream, id: entry.fields[originField] ?? entry.id } :
      { stream: entry.key, id: entry.id }

  const report = (
    batch: ReadonlyArray<Settled>,
    status: DeliveryLog.Status,
    error: Retry.FailureInfo | undefined
  ): Effect.Effect<void> =>
    log === undefined ? Effect.void : Effect.clockWith((clock) =>
      Effect.sync(() => {
        const at = clock.currentTimeMillisUnsafe()
        const outcomes: Array<DeliveryLog.Outcome> = []
        for (const s of batch) {
          // Entries of other types, acked unread, are no delivery of this subscription.
          if (s.type === undefined && status === "COMPLETED") continue
          const from = origin(s.entry)
          outcomes.push({
            status,
            group,
            stream: from.stream,
            entryId: from.id,
            eventId: s.eventId,
            type: s.type,
            tenantId: s.tenantId,
            attempt: s.entry.deliveries,
            error,
            at
          })
        }
        if (outcomes.length > 0) log.record(outcomes)
      }))
  const held = new Held()
  const counts = new Counts(group)
  const dlqKey = options.stream.dlq
  const dlqRetentionMs = Duration.toMillis(settings.dlqRetention)
  const markerTtlMs = Duration.toMillis(settings.retention)
  const done = options.stream.done(subscription)
  // A copy slips past the marker check only while the first copy's ack is in flight, and no more
  // events complete meanwhile than fit in the pipeline between the check and a worker: the read
  // batch being checked, the staged one, the delivery queue (two batches) and what the workers
  // took from it (at most the queue again). Eight batches cover that with room to spare.
  const local = new LocalIdempotency(Math.max(1_000, settings.batchSize * 8))

  const releaseAll = (batch: ReadonlyArray<Settled>) =>
    Effect.sync(() => {
      for (const s of batch) held.release(s.entry.key, s.entry.id)
    })

  /**
   * Runs one settle step until it lands (retrying while Redis is unavailable, within the claim
   * timeout) and releases the batch whatever happens. Succeeds with whether it landed.
   */
  const land = (
    what: string,
    batch: ReadonlyArray<Settled>,
    step: Effect.Effect<unknown, RedisStream.RedisStreamError>
  ): Effect.Effect<boolean> =>
    step.pipe(
      Supervision.retry({ schedule: settleRetry, while: (error) => error.isRetryable }),
      Effect.as(true),
      Effect.catch((error) =>
        Effect.as(
          Effect.logError(`could not ${what}; released: the group hands it out again after the claim timeout`).pipe(
            Effect.annotateLogs({ group, entries: batch.length, firstEntryId: batch[0]?.entry.id, error: error.message })
          ),
          false
        )
      ),
      Effect.ensuring(releaseAll(batch))
    )

  const completed = (eventIds: ReadonlyArray<string>) =>
    eventIds.length === 0 ?
      Effect.succeed(new Set<string>()) :
      Effect.clockWith((clock) =>
        Effect.map(redis.scores(done, eventIds), (expiries) => {
          const now = clock.currentTimeMillisUnsafe()
          const out = new Set<string>()
          expiries.forEach((expiresAt, i) => {
            if (expiresAt !== undefined && expiresAt > now) out.add(eventIds[i]!)
          })
          return out
        })
      )


  const ackCommands = (batch: ReadonlyArray<Settled>, now: number): ReadonlyArray<RedisStream.Command> => {
    const byKey = new Map<string, Array<string>>()
    const retried = new Map<string, Array<string>>()
    const commands: Array<RedisStream.Command> = []
    const marked: Array<string> = []
    for (const s of batch) {
      const { id, key } = s.entry
      push(byKey, key, id)
      if (s.forwardTo !== undefined) for (const target of s.forwardTo) commands.push(copyCommand(target, s.entry))
      if (s.entry.deliveries > 1 || s.record !== undefined) push(retried, key, id)
      if (options.idempotent && s.eventId !== undefined) marked.push(s.eventId)
    }
    if (marked.length > 0) {
      // The batch's done-markers share one expiry: one ZADD for all of them. Marks past their time
      // go as new ones are written (a range removal: cheap when none is due).
      commands.push({ _tag: "ZAddMany", key: done, score: now + markerTtlMs, members: marked })
      commands.push({ _tag: "ZRemRangeByScore", key: done, max: now })
    }
    for (const [key, ids] of byKey) {
      commands.push({ _tag: "XAck", key, group, ids })
      if (key === inboxKey) commands.push({ _tag: "XDel", key, ids })
    }
    for (const [key, ids] of retried) {
      commands.push({ _tag: "ZRem", key: retryKey(key, subscription), members: ids })
      commands.push({ _tag: "HDel", key: failuresKey(key, subscription), fields: ids })
    }
    return commands
  }

  const ack = (batch: ReadonlyArray<Settled>) => {
    if (batch.length === 0) return Effect.void
    return Effect.clockWith((clock) => ackNow(batch, clock.currentTimeMillisUnsafe()))
  }

  const ackNow = (batch: ReadonlyArray<Settled>, now: number) => {
    const commands = ackCommands(batch, now)
    const only = commands[0]
    // The common case, one stream and nothing else to write, is a plain XACK.
    const step = commands.length === 1 && only !== undefined && only._tag === "XAck" ?
      redis.ack(only.key, group, only.ids) :
      redis.transaction(commands)
    return land("acknowledge a batch", batch, step).pipe(
      Effect.tap((landed) => {
        if (!landed) return Effect.void
        for (const s of batch) if (s.type !== undefined) counts.count(s.type, "acked")
        return report(batch, "COMPLETED", undefined)
      }),
      Effect.andThen(counts.publish)
    )
  }

  const checkDlqLimit = Effect.gen(function*() {
    const size = yield* redis.length(dlqKey)
    yield* Metrics.dlqLength(size)
    const usage = size / settings.dlqMaxLength
    if (usage >= 1) {
      yield* Metrics.dlqWarning
      yield* Effect.logError("DLQ at or over its maximum length: entries are kept, act now").pipe(
        Effect.annotateLogs({ size, maxLength: settings.dlqMaxLength })
      )
    } else if (usage >= 0.8) {
      yield* Metrics.dlqWarning
      yield* Effect.logWarning("DLQ near its maximum length").pipe(
        Effect.annotateLogs({ size, maxLength: settings.dlqMaxLength, usage: Math.round(usage * 100) / 100 })
      )
    }
  }).pipe(Effect.catch((error) => Effect.logWarning("could not check the DLQ size", error)))

  const deadLetterAt = (s: Settled, error: Retry.FailureInfo, now: number) => {
    const { entry } = s
    const from = origin(entry)
    const text = entry.fields["event"]
    // A server-copied replay keeps its marker in the dead letter's envelope, as other replays do.
    const marked = text === undefined ? undefined : ReplayMarker.markedText(text, entry.fields["replay"], s.eventId)
    const letter: DlqEntry.DeadLetter = {
      // An entry without an envelope is kept whole, as the JSON of its fields.
      event: marked ?? text ?? JSON.stringify(entry.fields),
      error,
      movedAt: now,
      group,
      stream: from.stream,
      originalEntryId: from.id,
      attempts: entry.deliveries,
      firstFailedAt: s.record?.firstFailedAt ?? now,
      lastFailedAt: now,
      type: s.type ?? entry.fields["type"],
      tenantId: s.tenantId ?? entry.fields["tenant"],
      eventId: s.eventId
    }
    const step = redis.transaction([
      {
        _tag: "XAdd",
        key: dlqKey,
        fields: DlqEntry.encode(letter),
        trim: { minId: `${Math.max(0, now - dlqRetentionMs)}-0` },
        // The event as it is in the stream, byte for byte (text read back would replace invalid UTF-8).
        ...(marked === undefined ? { copyFrom: { key: entry.key, id: entry.id, fields: ["event"] } } : {})
      },
      { _tag: "XAck", key: entry.key, group, ids: [entry.id] },
      ...(entry.key === inboxKey ? [{ _tag: "XDel", key: entry.key, ids: [entry.id] } as const] : []),
      { _tag: "ZRem", key: retryKey(entry.key, subscription), members: [entry.id] },
      { _tag: "HDel", key: failuresKey(entry.key, subscription), fields: [entry.id] }
    ])
    return land("dead-letter an entry", [s], step).pipe(
      Effect.flatMap((landed) =>
        landed ?
          Effect.all([
            report([s], "DLQ", error),
            Metrics.deadLettered(group),
            Effect.logWarning("dead-lettered").pipe(
              Effect.annotateLogs({
                group,
                entryId: entry.id,
                eventId: s.eventId,
                type: letter.type,
                attempts: entry.deliveries,
                error: error.tag
              })
            ),
            checkDlqLimit
          ], { discard: true }) :
          Effect.void
      )
    )
  }

  const deadLetter = (s: Settled, failure: Retry.Failure) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.andThen(
        Effect.sync(() => {
          if (s.type !== undefined) counts.count(s.type, "failed")
        }),
        deadLetterAt(s, { tag: failure.tag, message: failure.message }, now)
      )).pipe(Effect.andThen(counts.publish))

  const failAll = (batch: ReadonlyArray<Failed>) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const commands: Array<RedisStream.Command> = []
      const scheduled: Array<{ readonly s: Settled; readonly dueAt: number; readonly error: Retry.FailureInfo }> = []
      for (const { delivery: s, failure } of batch) {
        if (s.type !== undefined) counts.count(s.type, "failed")
        const decision = yield* Retry.decide(policy, s.entry.deliveries, failure)
        const error = { tag: failure.tag, message: failure.message }
        if (decision._tag === "Exhausted") {
          yield* deadLetterAt(s, error, now)
          continue
        }
        const dueAt = now + Duration.toMillis(decision.delay)
        const record: FailureRecord = { firstFailedAt: s.record?.firstFailedAt ?? now, lastFailedAt: now, error }
        const { id, key } = s.entry
        commands.push(
          { _tag: "HSet", key: failuresKey(key, subscription), field: id, value: JSON.stringify(record) },
          { _tag: "ZAdd", key: retryKey(key, subscription), score: dueAt, member: id }
        )
        scheduled.push({ s, dueAt, error })
      }
      if (scheduled.length === 0) return
      const landed = yield* land("schedule a retry", scheduled.map((x) => x.s), redis.transaction(commands))
      if (!landed) return
      let earliest = Number.POSITIVE_INFINITY
      for (const { dueAt } of scheduled) earliest = Math.min(earliest, dueAt)
      options.onScheduled(earliest)
      for (const { dueAt, error, s } of scheduled) {
        yield* report([s], "FAILED", error)
        yield* Metrics.retried(group)
        yield* Effect.logInfo("retry scheduled").pipe(
          Effect.annotateLogs({
            group,
            eventId: s.eventId,
            correlationId: s.correlationId,
            tenantId: s.tenantId,
            entryId: s.entry.id,
            attempt: s.entry.deliveries,
            delayMs: dueAt - now,
            error: error.tag
          })
        )
      }
    }).pipe(Effect.andThen(counts.publish))

  const fail = (s: Settled, failure: Retry.Failure) => failAll([new Failed(s, failure)])

  const takeDue = (stream: string, consumer: string, count: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.map(
        redis.takeDue({
          scheduleKey: retryKey(stream, subscription),
          recordsKey: failuresKey(stream, subscription),
          key: stream,
          group,
          consumer,
          now,
          count
        }),
        ({ entries, nextDueAt }) => ({
          entries: entries.map((entry): Settled => ({
            entry,
            eventId: undefined,
            type: undefined,
            tenantId: undefined,
            record: parseRecord(entry.record)
          })),
          nextDueAt
        })
      ))

  const scheduled = (stream: string, entryIds: ReadonlyArray<string>) =>
    entryIds.length === 0 ?
      Effect.succeed(new Set<string>()) :
      Effect.map(redis.scores(retryKey(stream, subscription), entryIds), (scores) => {
        const out = new Set<string>()
        scores.forEach((score, i) => {
          if (score !== undefined) out.add(entryIds[i]!)
        })
        return out
      })

  return {
    subscription,
    group,
    held,
    counts,
    local,
    completed,
    ack,
    fail,
    failAll,
    deadLetter,
    release: (s) => releaseAll([s]),
    delivered: (batch) => report(batch, "PROCESSING", undefined),
    takeDue,
    origin,
    scheduled
  }
}

// A copy of `entry` appended to `target`, its fields taken server-side byte for byte (the values
// sent are only placeholders, used if the entry was trimmed meanwhile).
const copyCommand = (target: string, entry: RedisStream.GroupEntry): RedisStream.Command => {
  const names = Object.keys(entry.fields)
  const fields: Record<string, string> = {}
  for (const name of names) fields[name] = ""
  fields[originField] = entry.id
  return { _tag: "XAdd", key: target, fields, copyFrom: { key: entry.key, id: entry.id, fields: names } }
}

const push = (map: Map<string, Array<string>>, key: string, id: string): void => {
  const ids = map.get(key)
  if (ids === undefined) map.set(key, [id])
  else ids.push(id)
}
