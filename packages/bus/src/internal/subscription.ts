/**
 * The engine of one subscription: it reads entries, hands them out as deliveries and keeps the
 * ones it holds safe from other consumers. Outcomes are not decided here: every delivery settles
 * through the subscription's `Settlement` (`./settlement.ts`).
 *
 * One engine reads one stream of the topology (`Topology.StreamKeys`) with that stream's own
 * redeliver stream, and settles through a settlement of that stream: every step touches keys of
 * one hash tag. A subscription over several streams runs one engine per stream.
 *
 * Producers, all into one bounded queue:
 * - the **reader**: new entries of the stream and of the subscription's redeliver stream;
 * - the **retry poller**: due retries; it sleeps until the next due time (woken early when this
 *   process schedules an earlier one) and never longer than `retryPoll`, which bounds how late a
 *   retry scheduled by another process can be;
 * - the **sweeper**: entries pending longer than `claimTimeout` on any consumer, except those this
 *   consumer holds and those waiting for a retry; it also removes consumers idle longer than
 *   `consumerIdleTimeout` that own no pending entry.
 * Beside them, the **heartbeat** re-claims held entries every quarter of `claimTimeout` (a PING
 * when none is held, so every subscription notices an outage), every 100 ms while Redis fails,
 * and at once when Redis answers again; sweeps of other consumers' entries hold off for one
 * `claimTimeout` after an outage, so a live consumer's entries are never handed to another live
 * consumer because its heartbeats could not land. An abandoned entry is claimed between
 * `claimTimeout` and `1.25 × claimTimeout` after its consumer stopped (one `claimTimeout` more
 * when Redis was away meanwhile).
 *
 * Outcomes the worker pool decides (acks, failures for the retry policy) are queued synchronously
 * and sent by one **flusher**, a batch per step: the acks of a batch in one step, the retries of
 * its failures in another; a delivery stays held until its step lands. Shutdown sends what is
 * still queued (bounded by `shutdownTimeout`).
 *
 * Entries of other types are acked unread by their `type` field; undecodable ones are
 * dead-lettered with the parse error. With idempotency, the done-markers of a whole read batch
 * are checked in one round trip, while the reader reads the next batch. A group that disappears (`NOGROUP`: Redis restarted empty, or
 * the stream was deleted) is re-created at the start of what the stream holds now, so events
 * appended since are not skipped.
 *
 * A read that fails may still have run in Redis (its reply lost to a timeout or a dropped
 * connection): its entries are then pending to this consumer, which never saw them. Before the
 * next read the reader takes back this consumer's pending entries it does not hold, so they run
 * now instead of after a claim timeout. Every step that makes entries this consumer's (the
 * poller's `takeDue`, a sweep's claim) holds them before that recovery can look (one permit).
 *
 * Two variants (`./router.ts`): a **routed** subscription reads its inbox instead of the stream
 * (`Spec.inbox`; its group starts at the inbox's beginning); the **router** itself is this engine
 * with `Spec.forward`: it hands nothing out, and every entry it reads is acked by the flusher in
 * one step with its copies to the inboxes the routes name (no retry poller, no redeliver stream).
 */
import { Envelope, EventType } from "@hyvve/schema"
import type { EventError } from "@hyvve/schema"
import { Cause, Duration, Effect, Exit, Fiber, FiberSet, Option, Queue, Schedule, type Scope, Semaphore } from "effect"
import type * as BusConfig from "../BusConfig.ts"
import type * as DeliveryLog from "../DeliveryLog.ts"
import type { Delivery } from "../Delivery.ts"
import * as RedisStream from "../RedisStream.ts"
import * as Retry from "../Retry.ts"
import type * as Topology from "../Topology.ts"
import * as ReplayMarker from "./replayMarker.ts"
import * as Settlement from "./settlement.ts"
import * as Supervision from "./supervision.ts"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/** A subscription, resolved from what the user asked for. */
export interface Spec {
  readonly source: string
  readonly group: string
  /** The stream this engine reads. */
  readonly stream: Topology.StreamKeys
  /** This process's consumer name in the group. */
  readonly consumer: string
  readonly startFrom: "new" | "all"
  readonly policy: Retry.Policy
  readonly idempotent: boolean
  /** The type names it takes (aliases included), for the application router's route. */
  readonly names: ReadonlyArray<string>
  /** Cheap test on the entry's `type` field. */
  readonly matches: (type: string) => boolean
  /** The event type to decode `type` with (undefined: not decodable by this subscription). */
  readonly lookup: (type: string) => EventType.Any | undefined
  /** Ack entries a replay re-delivered (they have a `replay` field) without handing them out. */
  readonly skipReplays?: boolean | undefined
  /**
   * The stream read instead of the main stream: the subscription's inbox, which the application
   * router fills (`./router.ts`). Its group starts at its beginning, and settled entries are
   * deleted from it.
   */
  readonly inbox?: Settlement.Inbox | undefined
  /** Makes this engine the application router: entries are forwarded, never handed out. */
  readonly forward?: Forward | undefined
}

/**
 * How the application router (`./router.ts`) forwards: each entry read is acked in one step with
 * its copies to the streams `targets` names (none: acked unread), and nothing is handed out.
 */
export interface Forward {
  /** Brings the routes up to date; runs after every read, before its entries are routed. */
  readonly refresh: Effect.Effect<void, RedisStream.RedisStreamError>
  /** The streams an entry is copied to. */
  readonly targets: (entry: RedisStream.GroupEntry) => ReadonlyArray<string>
}

/** What a subscription reports to health checks. */
export interface Status extends Supervision.CircuitState {
  readonly group: string
  readonly stream: string
  readonly consumer: string
  readonly source: string
  readonly inFlight: number
}

/** A public `Delivery` as the settlement sees it. */
export interface EngineDelivery extends Delivery<EventType.Any>, Settlement.Settled {}

/** A running subscription. */
export interface Engine {
  readonly queue: Queue.Queue<EngineDelivery, Cause.Done>
  readonly settlement: Settlement.Settlement
  /**
   * Queues the ack of a handled delivery, synchronously (the worker pool's per-event path runs no
   * Effect for it); the ack flusher sends it with the others of its batch.
   */
  readonly ackUnsafe: (delivery: EngineDelivery) => void
  /**
   * Queues a failed delivery for the retry policy, synchronously; the flusher writes the retries
   * of a batch of failures in one step. The entry stays held until that step lands.
   */
  readonly failUnsafe: (delivery: EngineDelivery, failure: Retry.Failure) => void
  readonly status: () => Status
  /** Stops the producers: nothing new is read, retried or claimed. */
  readonly stop: Effect.Effect<void>
}

// ---------------------------------------------------------------------------------------------
// deliveries
// ---------------------------------------------------------------------------------------------

interface Settle {
  readonly settlement: Settlement.Settlement
  readonly ack: (delivery: Settlement.Settled) => Effect.Effect<void>
}

// One object per delivered event, methods on the prototype: the per-event path allocates
// nothing else until the delivery settles.
class DeliveryImpl implements EngineDelivery {
  readonly settle: Settle
  readonly entry: RedisStream.GroupEntry
  readonly event: Envelope.Envelope<EventType.Any>
  readonly record: Settlement.FailureRecord | undefined
  constructor(
    settle: Settle,
    entry: RedisStream.GroupEntry,
    event: Envelope.Envelope<EventType.Any>,
    record: Settlement.FailureRecord | undefined
  ) {
    this.settle = settle
    this.entry = entry
    this.event = event
    this.record = record
  }
  get group() {
    return this.settle.settlement.group
  }
  get stream() {
    return this.settle.settlement.origin(this.entry).stream
  }
  get entryId() {
    return this.settle.settlement.origin(this.entry).id
  }
  get attempt() {
    return this.entry.deliveries
  }
  get eventId() {
    return this.event.id
  }
  get type() {
    return this.event.type
  }
  get tenantId() {
    return this.event.tenantId
  }
  get correlationId() {
    return this.event.correlationId
  }
  get ack() {
    return this.settle.ack(this)
  }
  fail(error: unknown) {
    return this.settle.settlement.fail(this, Retry.failureFromError(error))
  }
  deadLetter(error: unknown) {
    return this.settle.settlement.deadLetter(this, Retry.failureFromError(error))
  }
}

type Decoded =
  | { readonly _tag: "Skip" }
  | { readonly _tag: "Poison"; readonly tag: string; readonly message: string }
  | { readonly _tag: "Event"; readonly event: Envelope.Envelope<EventType.Any> }

const skip: Decoded = { _tag: "Skip" }

const poisonOf = (exit: Exit.Failure<unknown, EventError.DecodeError>): Decoded => {
  const error = Cause.findErrorOption(exit.cause)
  return Option.isSome(error) ?
    { _tag: "Poison", tag: error.value._tag, message: error.value.message } :
    { _tag: "Poison", tag: "Defect", message: Cause.pretty(exit.cause) }
}

const settledOf = (entry: RedisStream.GroupEntry, record?: Settlement.FailureRecord): Settlement.Settled => ({
  entry,
  eventId: undefined,
  type: undefined,
  tenantId: undefined,
  record
})

// ---------------------------------------------------------------------------------------------
// engine
// ---------------------------------------------------------------------------------------------

/** Starts a subscription in the current scope: its group exists when this returns. */
export const make = (
  spec: Spec,
  deps: {
    readonly redis: RedisStream.RedisStream["Service"]
    readonly settings: BusConfig.BusSettings
    readonly log: DeliveryLog.Log | undefined
  }
): Effect.Effect<Engine, RedisStream.RedisStreamError, Scope.Scope> =>
  Effect.gen(function*() {
    const { redis, settings } = deps
    const { consumer, group } = spec
    const { forward, inbox } = spec
    const main = inbox?.key ?? spec.stream.key
    const redeliver = spec.stream.redeliver(group)
    // The router re-drives nothing, so it has no redeliver stream.
    const keys: ReadonlyArray<string> = forward === undefined ? [main, redeliver] : [main]
    const claimTimeout = settings.claimTimeout
    const claimTimeoutMs = Duration.toMillis(claimTimeout)
    const heartbeatInterval = Duration.millis(Math.max(20, claimTimeoutMs / 4))
    // Sweeps also remove idle consumers, so they run often enough for both timeouts.
    const sweepInterval = Duration.millis(
      Math.max(20, Math.min(claimTimeoutMs, Duration.toMillis(settings.consumerIdleTimeout)) / 4)
    )
    // After an outage every live consumer gets a whole claim timeout to refresh what it holds
    // before any sweep takes other consumers' entries: its connection may take a while to come
    // back (reconnect backoff), and one that never does is taken a claim timeout later.
    const holdOff = claimTimeout
    // While Redis fails, the heartbeat probes this often, so a held entry is refreshed as soon as
    // the connection is back.
    const probeInterval = Duration.millis(Math.min(100, Duration.toMillis(heartbeatInterval)))

    // `recreate`: after NOGROUP the main stream's group starts at what the stream holds now. An
    // inbox is read from its beginning: it holds only what was forwarded to this subscription.
    const ensureGroups = (recreate: boolean) =>
      Effect.all([
        redis.createGroup(main, group, recreate || inbox !== undefined || spec.startFrom === "all" ? "0" : "$"),
        forward === undefined ? redis.createGroup(redeliver, group, "0") : Effect.void
      ], { concurrency: "unbounded", discard: true })
    yield* ensureGroups(false)

    const queue = yield* Queue.bounded<EngineDelivery, Cause.Done>(settings.batchSize * 2)
    // Outcomes the worker pool (and `Delivery.ack`) decided, sent a batch at a time by the flusher.
    const acks = yield* Queue.unbounded<Settlement.Settled | Settlement.Failed, Cause.Done>()
    const heartbeatNow = yield* Queue.sliding<void>(1)
    const retryNow = yield* Queue.sliding<void>(1)
    // When the retry poller will look next; an earlier retry scheduled here wakes it.
    let pollerWakesAt = 0

    const settlement = Settlement.make({
      subscription: group,
      group,
      stream: spec.stream,
      policy: spec.policy,
      idempotent: spec.idempotent,
      redis,
      settings,
      onScheduled: (dueAt) => {
        if (dueAt < pollerWakesAt) Queue.offerUnsafe(retryNow, undefined)
      },
      log: deps.log,
      inbox
    })
    const { counts, held } = settlement

    const circuit = Supervision.makeCircuit({
      threshold: settings.circuitThreshold,
      annotations: { package: "@hyvve/bus", module: "Consumer", group, stream: main },
      // Refresh held entries at once: while Redis was away no heartbeat landed.
      onRecovered: Effect.sync(() => Queue.offerUnsafe(heartbeatNow, undefined)),
      onError: (error) => error.kind === "NoGroup" ? Effect.ignore(ensureGroups(true)) : Effect.void
    })

    // The entry stays held (kept fresh by the heartbeat, skipped by the sweep) until its ack lands.
    const settle: Settle = { settlement, ack: (delivery) => Queue.offer(acks, delivery) }

    // --- decoding ---------------------------------------------------------------------------

    // Decodes one entry synchronously (this runs for every entry read, so no fiber and no Effect
    // per entry): entries of other types are skipped by their `type` field without parsing JSON.
    const decode = (entry: RedisStream.GroupEntry): Decoded => {
      const type = entry.fields["type"]
      if (type !== undefined && !spec.matches(type)) return skip
      if (spec.skipReplays === true && entry.fields["replay"] !== undefined) return skip
      const json = entry.fields["event"]
      if (json === undefined) return { _tag: "Poison", tag: "MalformedEnvelope", message: "the entry has no `event` field" }
      const raw = Envelope.decodeJson(json)
      if (Exit.isFailure(raw)) return poisonOf(raw)
      if (type === undefined && !spec.matches(raw.value.type)) return skip
      const eventType = spec.lookup(raw.value.type)
      if (eventType === undefined) {
        return { _tag: "Poison", tag: "UnknownEventType", message: `no event type "${raw.value.type}" in the catalog` }
      }
      const decoded = EventType.fromRaw(eventType, ReplayMarker.marked(raw.value, entry.fields["replay"]))
      return Exit.isFailure(decoded) ? poisonOf(decoded) : { _tag: "Event", event: decoded.value }
    }

    // Drops deliveries whose event this subscription already completed (acking them), with one
    // marker check for the whole batch. A check that cannot land releases the batch.
    const dropCompleted = (out: Array<DeliveryImpl>): Effect.Effect<ReadonlyArray<DeliveryImpl>> => {
      if (!spec.idempotent || out.length === 0) return Effect.succeed(out)
      return settlement.completed(out.map((d) => d.event.id)).pipe(
        Supervision.retry({ schedule: Supervision.backoff.pipe(Schedule.upTo({ duration: claimTimeout })), while: (e) => e.isRetryable }),
        Effect.flatMap((done) => {
          if (done.size === 0) return Effect.succeed(out)
          const fresh: Array<DeliveryImpl> = []
          const already: Array<DeliveryImpl> = []
          for (const d of out) (done.has(d.event.id) ? already : fresh).push(d)
          return Effect.as(
            Effect.andThen(
              Effect.logDebug("skipping events this group already completed").pipe(
                Effect.annotateLogs({ group, count: already.length })
              ),
              Queue.offerAll(acks, already)
            ),
            fresh
          )
        }),
        Effect.catch((error) =>
          Effect.as(
            Effect.andThen(
              Effect.logError("could not check done-markers; released: the group hands the batch out again after the claim timeout")
                .pipe(Effect.annotateLogs({ group, entries: out.length, error: error.message })),
              Effect.forEach(out, settlement.release, { discard: true })
            ),
            []
          )
        )
      )
    }

    // The router's delivery: every entry is acked in the flusher's next step, with its copies.
    const route = (forward: Forward, entries: ReadonlyArray<Settlement.Settled>) =>
      entries.length === 0 ? Effect.void : Effect.andThen(
        forward.refresh,
        Effect.suspend(() => {
          const out: Array<Settlement.Settled> = []
          for (const s of entries) {
            const targets = forward.targets(s.entry)
            if (targets.length === 0) out.push(s)
            else {
              held.add(s.entry.key, s.entry.id)
              out.push({ ...s, forwardTo: targets })
            }
          }
          return Queue.offerAll(acks, out)
        })
      )

    // `isHeld`: the entries are held already (a staged read batch), so they are not added again.
    const deliver = (entries: ReadonlyArray<Settlement.Settled>, isHeld = false) =>
      forward !== undefined ? route(forward, entries) : Effect.suspend(() => {
        const out: Array<DeliveryImpl> = []
        const skipped: Array<Settlement.Settled> = []
        const poisoned: Array<readonly [Settlement.Settled, Extract<Decoded, { _tag: "Poison" }>]> = []
        for (const { entry, record } of entries) {
          const decoded = decode(entry)
          if (decoded._tag === "Event") {
            if (!isHeld) held.add(entry.key, entry.id)
            counts.count(decoded.event.type, "delivered")
            out.push(new DeliveryImpl(settle, entry, decoded.event, record))
          } else if (decoded._tag === "Skip") {
            // Not for this subscription: acknowledged unread.
            skipped.push(settledOf(entry))
          } else {
            if (!isHeld) held.add(entry.key, entry.id)
            poisoned.push([settledOf(entry, record), decoded])
          }
        }
        const skips = skipped.length > 0 ? Queue.offerAll(acks, skipped) : Effect.void
        const poisons = poisoned.length > 0 ?
          Effect.forEach(
            poisoned,
            ([s, p]) => settlement.deadLetter(s, { tag: p.tag, message: p.message, error: undefined }),
            { discard: true }
          ) :
          Effect.void
        return skips.pipe(
          Effect.andThen(poisons),
          Effect.andThen(dropCompleted(out)),
          Effect.flatMap((fresh) =>
            fresh.length > 0 ? Effect.andThen(settlement.delivered(fresh), Queue.offerAll(queue, fresh)) : Effect.void
          )
        )
      })

    const deliverRead = (entries: ReadonlyArray<RedisStream.GroupEntry>, isHeld = false) =>
      deliver(entries.map((e) => settledOf(e)), isHeld)

    // --- producers --------------------------------------------------------------------------

    // With idempotency, checking a batch's done-markers is a round trip of its own, so the reader
    // hands each batch to a stage that checks and delivers batches in order, and reads the next
    // one meanwhile. Entries are held from the moment they are read: one waiting in the stage is
    // refreshed by the heartbeat like any other.
    // One permit for each step that makes entries this consumer's and holds them (see the module doc).
    const taking = Semaphore.makeUnsafe(1).withPermits(1)
    const staged = spec.idempotent ? yield* Queue.bounded<ReadonlyArray<RedisStream.GroupEntry>>(1) : undefined
    const readOnce = Effect.flatMap(
      redis.readGroup({ keys, group, consumer, count: settings.batchSize, block: settings.block }),
      (entries) => {
        if (staged === undefined || entries.length === 0) return Effect.as(deliverRead(entries), true)
        for (const entry of entries) held.add(entry.key, entry.id)
        return Effect.as(Queue.offer(staged, entries), true)
      }
    )
    // Set when a read fails: Redis may have run it and handed its entries to this consumer.
    let readMayBeLost = false
    const read = Effect.suspend(() =>
      readMayBeLost ?
        Effect.andThen(
          sweep(consumer, 0).pipe(Effect.tap(() => Effect.sync(() => readMayBeLost = false))),
          readOnce
        ) :
        readOnce
    ).pipe(Effect.tapError(() => Effect.sync(() => readMayBeLost = true)))

    const pollRetries = Effect.gen(function*() {
      let full = false
      let next = Number.POSITIVE_INFINITY
      for (const key of keys) {
        // Taken and held under the permit, so the reader's recovery never sees them unheld.
        const due = yield* taking(Effect.tap(settlement.takeDue(key, consumer, settings.batchSize), (due) => deliver(due.entries)))
        if (due.entries.length === settings.batchSize) full = true
        if (due.nextDueAt !== undefined) next = Math.min(next, due.nextDueAt)
      }
      if (full) return true
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      pollerWakesAt = Math.min(next, now + Duration.toMillis(settings.retryPoll))
      yield* Queue.take(retryNow).pipe(Effect.timeoutOption(Math.max(0, pollerWakesAt - now)))
      return true
    })

    // Claims entries pending longer than the claim timeout, except those this consumer holds and
    // those waiting for a scheduled retry. `owner` limits the scan to one consumer (at start-up,
    // this consumer's own pending entries, resumed at once).
    const sweep = (owner: string | undefined, minIdleMs: number) =>
      taking(Effect.gen(function*() {
        for (const key of keys) {
          let start = "-"
          while (true) {
            const rows = yield* redis.pending({ key, group, count: settings.batchSize, start, consumer: owner, minIdle: minIdleMs })
            const candidates = rows.filter((row) => !held.has(key, row.id)).map((row) => row.id)
            const waiting = yield* settlement.scheduled(key, candidates)
            const ids = candidates.filter((id) => !waiting.has(id))
            if (ids.length > 0) {
              const claimed = yield* redis.claim({ key, group, consumer, minIdle: minIdleMs, ids })
              if (claimed.length > 0) {
                yield* Effect.logInfo("claimed stale entries").pipe(Effect.annotateLogs({ count: claimed.length, key }))
              }
              yield* deliverRead(claimed)
            }
            if (rows.length < settings.batchSize) break
            start = RedisStream.nextEntryId(rows[rows.length - 1]!.id)
          }
        }
      }))

    const removeIdleConsumers = Effect.forEach(keys, (key) =>
      Effect.flatMap(
        redis.removeIdleConsumers({ key, group, minIdle: settings.consumerIdleTimeout, keep: consumer }),
        (removed) =>
          removed.length === 0 ? Effect.void : Effect.logInfo("removed idle consumers").pipe(
            Effect.annotateLogs({ key, consumers: removed.join(", ") })
          )
      ), { discard: true })

    const sweepOthers = Effect.gen(function*() {
      // After an outage, live consumers first get a claim timeout to refresh what they hold.
      if (!(yield* circuit.quietFor(holdOff))) return false
      yield* sweep(undefined, claimTimeoutMs)
      yield* removeIdleConsumers
      return true
    })

    const heartbeat = Effect.gen(function*() {
      let sent = false
      for (const [key, ids] of held.streams()) {
        yield* redis.claim({ key, group, consumer, minIdle: 0, ids, justId: true })
        sent = true
      }
      // Nothing held: a PING, so an outage is noticed (and the sweep holds off after it).
      if (!sent) yield* redis.ping
      return true
    })

    const heartbeatLoop = Effect.forever(
      Effect.andThen(
        Effect.suspend(() =>
          Queue.take(heartbeatNow).pipe(
            Effect.timeoutOption(circuit.state().consecutiveErrors > 0 ? probeInterval : heartbeatInterval)
          )
        ),
        heartbeat.pipe(
          Effect.flatMap(() => circuit.success),
          Effect.catch(circuit.failure)
        )
      )
    ).pipe(Effect.annotateLogs({ package: "@hyvve/bus", module: "Consumer", fiber: "heartbeat", group }))

    // One ack step per batch, and one step for the retries of the failures among them: under
    // load the queue holds many outcomes and they leave together.
    const flushOutcomes = (batch: ReadonlyArray<Settlement.Settled | Settlement.Failed>) => {
      const acked: Array<Settlement.Settled> = []
      const failed: Array<Settlement.Failed> = []
      for (const outcome of batch) {
        if (outcome instanceof Settlement.Failed) failed.push(outcome)
        else acked.push(outcome)
      }
      return failed.length === 0 ?
        settlement.ack(acked) :
        Effect.andThen(settlement.ack(acked), settlement.failAll(failed))
    }
    const flusher = Effect.whileLoop({
      while: () => true,
      body: () => Effect.flatMap(Queue.takeBetween(acks, 1, 1000), flushOutcomes),
      step: () => {}
    }).pipe(
      // Ends with `Cause.Done` once shutdown ended the queue and every ack was sent.
      Effect.catchCause(() => Effect.void)
    )

    const every = <A>(interval: Duration.Duration, step: Effect.Effect<A, RedisStream.RedisStreamError>) =>
      Effect.andThen(Effect.sleep(interval), step)

    // Shutdown, in the reverse order of registration: the producers stop (FiberSet), the
    // heartbeat stops, then the acks still queued are sent (bounded by `shutdownTimeout`).
    const flusherFiber = yield* Effect.forkDetach(flusher)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Queue.end(acks)
        const done = yield* Fiber.await(flusherFiber).pipe(Effect.timeoutOption(settings.shutdownTimeout))
        if (Option.isNone(done)) {
          yield* Effect.logWarning("shutdown timeout: acks still unsent; their entries are handed out again later")
          yield* Fiber.interrupt(flusherFiber)
        }
        yield* counts.publish
      })
    )
    yield* Effect.forkScoped(heartbeatLoop)
    const producers = yield* FiberSet.make<never, never>()
    // This consumer's own pending entries (a restart under the same name) are resumed before
    // new entries are read, so none is delivered twice in this process.
    yield* FiberSet.run(
      producers,
      Effect.andThen(
        sweep(consumer, 0).pipe(Effect.tapError(circuit.failure), Effect.retry(Supervision.backoff), Effect.orDie),
        circuit.supervise("reader", read)
      )
    )
    if (staged !== undefined) {
      yield* FiberSet.run(producers, circuit.supervise("stage", Effect.as(Effect.flatMap(Queue.take(staged), (entries) => deliverRead(entries, true)), false)))
    }
    if (forward === undefined) yield* FiberSet.run(producers, circuit.supervise("retries", pollRetries))
    yield* FiberSet.run(producers, circuit.supervise("sweeper", every(sweepInterval, sweepOthers)))

    return {
      queue,
      settlement,
      ackUnsafe: (delivery) => {
        Queue.offerUnsafe(acks, delivery)
      },
      failUnsafe: (delivery, failure) => {
        Queue.offerUnsafe(acks, new Settlement.Failed(delivery, failure))
      },
      stop: FiberSet.clear(producers),
      status: () => ({ group, stream: main, consumer, source: spec.source, ...circuit.state(), inFlight: held.size })
    } satisfies Engine
  })
