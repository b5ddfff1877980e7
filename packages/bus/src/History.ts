/**
 * The writers that fill the event store, off the hot path: the **archiver** and the **status
 * writer**. `layer` runs both for the `EventStore` in context (nothing when it is `layerNone`) and
 * provides the status writer as the `DeliveryLog` the consumers report to.
 *
 * The archiver is a consumer group of its own (`archiverGroup`) on each stream of the topology
 * (the main stream of `single`; every family or partition, and during a migration the previous
 * layout's streams too), starting at the oldest retained entry. It reads a batch, writes it in one
 * statement (idempotent on the event id), then acks it: the envelopes go to the store as they
 * were read, spliced into one JSON array text that PostgreSQL parses. While the store is
 * unavailable it keeps the batch and retries on a backoff (from 100 ms to 5 s), reading nothing
 * new, so entries wait in Redis, unacked, and it catches up when the store answers: the first
 * write that lands after an outage, either writer's, ends the other's backoff wait. A crash loses
 * nothing: its pending entries are archived again at restart, and those of a dead archiver are
 * claimed after `claimTimeout`. Entries without a readable envelope are acked and counted (the
 * consumers dead-letter them with the parse error); a batch the store rejects is written entry by
 * entry, so one bad entry costs only itself.
 *
 * Retention: trimming is by time and does not wait for the archiver. The archiver records a gap
 * when its position has been trimmed away while entries appended since it last had read
 * everything were older than the retention (see `EventStore`): an exact test for "nothing
 * missed", a conservative one otherwise.
 *
 * The status writer takes outcome batches from the settlement (`record` only appends to a buffer)
 * and writes them in batches of up to 2,000 in arrival order, retrying on the same backoff while
 * the store is unavailable. The buffer is bounded (`statusBuffer`, 100,000 outcomes by default):
 * when the store has been down long enough to fill it, further outcomes are dropped, counted
 * (`hyvve_store_outcomes_dropped_total`, `status.dropped`), logged and reported by `status` as a
 * reason, so memory stays bounded and no loss is silent. Events are never dropped: they wait in
 * Redis for the archiver.
 *
 * @since 0.2.0
 */
import { Clock, Context, Duration, Effect, Fiber, Latch, Layer, Metric, Option, Queue, Schedule } from "effect"
import * as BusConfig from "./BusConfig.ts"
import * as DeliveryLog from "./DeliveryLog.ts"
import * as EventStore from "./EventStore.ts"
import * as Topology from "./Topology.ts"
import * as RedisStream from "./RedisStream.ts"
import * as Supervision from "./internal/supervision.ts"

/**
 * The archiver's consumer group on the main stream.
 *
 * @category constants
 * @since 0.2.0
 */
export const archiverGroup = "hyvve-archiver"

/**
 * What the writers report.
 *
 * @category models
 * @since 0.2.0
 */
export interface Status {
  readonly enabled: boolean
  /** Events written by this process's archiver (new rows). */
  readonly archived: number
  /** The last entry id this archiver acked on the first stream of the topology (the main stream of `single`). */
  readonly position: string | undefined
  /** The last entry id acked on each stream, by stream key. */
  readonly positions: Readonly<Record<string, string>>
  /** Entries acked without a readable envelope (the consumers dead-letter those). */
  readonly unreadable: number
  /** Outcomes waiting in the status writer's buffer. */
  readonly backlog: number
  /** Outcomes written. */
  readonly written: number
  /** Outcomes dropped because the buffer was full (the store down for long). */
  readonly dropped: number
  /** Gaps recorded by this process. */
  readonly gaps: number
  /** The last store error, while the store is failing. */
  readonly storeError: string | undefined
  /** Why the history is incomplete, if it is (empty when all is well). */
  readonly reasons: ReadonlyArray<string>
}

/**
 * The writers' status.
 *
 * @category services
 * @since 0.2.0
 */
export class History extends Context.Service<History, { readonly status: Effect.Effect<Status> }>()(
  "@hyvve/bus/History"
) {}

/**
 * Options of the writers.
 *
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** Outcomes the status writer buffers while the store is down. Defaults to 100,000. */
  readonly statusBuffer?: number | undefined
  /** Entries per archiver batch. Defaults to 500. */
  readonly archiveBatch?: number | undefined
  /**
   * Run the archiver in this process. Defaults to true. Publish-heavy services turn it off and run
   * the archiver in a process of its own at a lower CPU priority (a bus layer with the store and
   * nothing else, started with `nice`): it then takes the CPU the publishers leave.
   */
  readonly archiver?: boolean | undefined
}

const archivedTotal = Metric.counter("hyvve_store_archived_total", { description: "Events written to the event store" })
const droppedTotal = Metric.counter("hyvve_store_outcomes_dropped_total", {
  description: "Delivery outcomes dropped because the status buffer was full (event store down)"
})
const gapsTotal = Metric.counter("hyvve_store_gaps_total", {
  description: "Ranges of the main stream trimmed before the archiver read them"
})

/** Store errors back off from 100 ms to 5 s. */
const backoff = Schedule.exponential("100 millis", 1.5).pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(5)))),
  Schedule.jittered
)

const entryMs = (id: string): number => Number(id.slice(0, Math.max(0, id.indexOf("-"))) || id)

/**
 * Runs the archiver and the status writer for the store in context, and provides the status
 * writer as the `DeliveryLog`.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<History, never, EventStore.EventStore | RedisStream.RedisStream | BusConfig.BusConfig> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const redis = yield* RedisStream.RedisStream
      const settings = yield* BusConfig.BusConfig
      const annotations = { package: "@hyvve/bus", module: "History" }

      let archived = 0
      let unreadable = 0
      let written = 0
      let dropped = 0
      let gaps = 0
      let storeError: string | undefined

      const status = Effect.sync((): Status => {
        const reasons: Array<string> = []
        if (storeError !== undefined) reasons.push(`event store failing: ${storeError}`)
        if (dropped > 0) reasons.push(`${dropped} delivery outcomes dropped while the event store was down`)
        if (gaps > 0) reasons.push(`${gaps} gaps: the main stream was trimmed before the archiver read it`)
        return {
          enabled: store.backend !== "none",
          archived,
          position: archivers[0]?.position(),
          positions: Object.fromEntries(
            archivers.flatMap((a) => {
              const at = a.position()
              return at === undefined ? [] : [[a.stream, at] as const]
            })
          ),
          unreadable,
          backlog: buffered,
          written,
          dropped,
          gaps,
          storeError,
          reasons
        }
      })

      // Open while the store answers. Each writer backs off on its own schedule, so without this
      // the second writer would wait out its current step (up to 5 s) after the store is back.
      const answering = Latch.makeUnsafe(true)
      const untilAnswering = backoff.pipe(
        Schedule.modifyDelay(({ duration }) =>
          Effect.as(Effect.raceFirst(Effect.sleep(duration), answering.await), Duration.zero)
        )
      )

      // Writes until it lands: the store's unavailability is waited out, a rejection is returned.
      const persist = <A>(what: string, write: Effect.Effect<A, EventStore.EventStoreError>) =>
        write.pipe(
          Effect.tapError((error) =>
            Effect.suspend(() => {
              const first = storeError === undefined
              storeError = error.message
              answering.closeUnsafe()
              return first ?
                Effect.logWarning(`event store unavailable; ${what} backs off and catches up`).pipe(
                  Effect.annotateLogs({ ...annotations, error: error.message })
                ) :
                Effect.void
            })
          ),
          Supervision.retry({ schedule: untilAnswering, while: (error) => error.isRetryable }),
          Effect.tap(() =>
            Effect.suspend(() => {
              if (storeError === undefined) return Effect.void
              storeError = undefined
              answering.openUnsafe()
              return Effect.logInfo("event store answers again").pipe(Effect.annotateLogs(annotations))
            })
          )
        )

      // --- status writer ------------------------------------------------------------------

      const capacity = Math.max(1, options.statusBuffer ?? 100_000)
      let chunks: Array<ReadonlyArray<DeliveryLog.Outcome>> = []
      let buffered = 0
      let droppedUnlogged = 0
      const wake = yield* Queue.sliding<void>(1)

      const log: DeliveryLog.Log = {
        record: (outcomes) => {
          // An empty buffer takes any batch, so a batch larger than the buffer is not lost while the store is up.
          if (buffered > 0 && buffered + outcomes.length > capacity) {
            dropped += outcomes.length
            droppedUnlogged += outcomes.length
          } else {
            chunks.push(outcomes)
            buffered += outcomes.length
          }
          Queue.offerUnsafe(wake, undefined)
        }
      }

      const takeBatch = (max: number): ReadonlyArray<DeliveryLog.Outcome> => {
        const out: Array<DeliveryLog.Outcome> = []
        let i = 0
        while (i < chunks.length && out.length + chunks[i]!.length <= max) out.push(...chunks[i++]!)
        if (out.length === 0 && chunks.length > 0) out.push(...chunks[i++]!)
        chunks = chunks.slice(i)
        buffered -= out.length
        return out
      }

      const writeOutcomes: Effect.Effect<void> = Effect.gen(function*() {
        if (droppedUnlogged > 0) {
          const n = droppedUnlogged
          droppedUnlogged = 0
          yield* Metric.update(droppedTotal, n)
          yield* Effect.logError("status buffer full while the event store is down: delivery outcomes dropped").pipe(
            Effect.annotateLogs({ ...annotations, dropped: n, capacity })
          )
        }
        while (buffered > 0) {
          const batch = takeBatch(2_000)
          const result = yield* Effect.result(persist("the status writer", store.recordDeliveries(batch)))
          if (result._tag === "Failure") {
            yield* Effect.logError("event store rejected delivery outcomes").pipe(
              Effect.annotateLogs({ ...annotations, count: batch.length, error: result.failure.message })
            )
          } else written += batch.length
        }
      })

      // --- archiver -----------------------------------------------------------------------

      const batchSize = Math.max(1, options.archiveBatch ?? 500)
      const retentionMs = Duration.toMillis(settings.retention)

      // One archiver per stream of the topology (during a migration, the previous one's too): a
      // group per stream, each with its own position, gap check and caught-up time.
      const archiverOf = (main: string) => {
        let position: string | undefined
        let caughtUpAt: number | undefined
        let savedCaughtUpAt = 0

        // Rejected for good (not unavailable): one by one, so one unreadable entry costs itself.
        const archiveOneByOne = (readable: ReadonlyArray<{ readonly entryId: string; readonly envelope: string }>) =>
          Effect.gen(function*() {
            for (const one of readable) {
              const single = yield* Effect.result(persist("the archiver", store.archiveEntries([one])))
              if (single._tag === "Failure") {
                unreadable++
                yield* Effect.logError("event store rejected an entry; not archived").pipe(
                  Effect.annotateLogs({ ...annotations, entryId: one.entryId, error: single.failure.message })
                )
              } else archived += single.success
            }
          })

        const counted = (added: number) =>
          Effect.suspend(() => {
            archived += added
            return Metric.update(archivedTotal, added)
          })

        // The events land before the entries leave the pending list.
        const ack = (ids: ReadonlyArray<string>) =>
          Effect.gen(function*() {
            yield* redis.ack(main, archiverGroup, ids).pipe(Supervision.retry({ schedule: backoff, while: (e) => e.isRetryable }))
            position = ids[ids.length - 1]
          })

        // Writes a batch and acks it.
        const archiveEntries = (entries: ReadonlyArray<RedisStream.Entry>) =>
          Effect.gen(function*() {
            if (entries.length === 0) return
            const readable: Array<{ readonly entryId: string; readonly envelope: string }> = []
            for (const entry of entries) {
              const envelope = entry.fields["event"]
              if (envelope === undefined) unreadable++
              else readable.push({ entryId: entry.id, envelope })
            }
            if (readable.length > 0) {
              const result = yield* Effect.result(persist("the archiver", store.archiveEntries(readable)))
              if (result._tag === "Failure") yield* archiveOneByOne(readable)
              else yield* counted(result.success)
            }
            yield* ack(entries.map((e) => e.id))
          })

        // Before reading past `position`: was anything after it trimmed unread?
        const checkGap = Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          if (position === undefined || entryMs(position) >= now - retentionMs) return
          if (caughtUpAt !== undefined && caughtUpAt >= now - retentionMs) return
          const [head] = yield* redis.range({ key: main, start: "-", end: "+", count: 1 })
          // Trimming removes from the head: while an entry up to `position` is there, nothing after it is gone.
          if (head === undefined || EventStore.compareEntryIds(head.id, position) <= 0) return
          if (caughtUpAt !== undefined && caughtUpAt >= entryMs(head.id)) return
          const gap: EventStore.Gap = { stream: main, afterEntryId: position, beforeEntryId: head.id, detectedAt: now }
          gaps++
          yield* Metric.update(gapsTotal, 1)
          yield* Effect.logError("the main stream was trimmed before the archiver read it: gap recorded").pipe(
            Effect.annotateLogs({ ...annotations, after: gap.afterEntryId, before: gap.beforeEntryId })
          )
          yield* Effect.ignore(persist("the archiver", store.recordGap(gap)))
        })

        const saveCaughtUp = (at: number) =>
          Effect.suspend(() => {
            caughtUpAt = Math.max(caughtUpAt ?? 0, at)
            // At most once a second.
            if (at - savedCaughtUpAt < 1_000) return Effect.void
            savedCaughtUpAt = at
            return Effect.ignore(store.saveArchiverState(main, at))
          })

        const readOnce = Effect.gen(function*() {
          yield* checkGap
          const startedAt = yield* Clock.currentTimeMillis
          const entries = yield* redis.readGroup({
            keys: [main],
            group: archiverGroup,
            consumer: settings.consumer,
            count: batchSize,
            block: settings.block
          })
          yield* archiveEntries(entries)
          // Fewer than a batch: everything appended before this read started is read.
          if (entries.length < batchSize) yield* saveCaughtUp(startedAt)
        })

        const resumeOwn = Effect.gen(function*() {
          let after: string | undefined
          while (true) {
            const entries = yield* redis.readOwnPending({
              key: main,
              group: archiverGroup,
              consumer: settings.consumer,
              count: batchSize,
              after
            })
            if (entries.length === 0) return
            yield* archiveEntries(entries)
            after = entries[entries.length - 1]!.id
          }
        })

        // Entries a dead archiver left pending, claimed after the claim timeout.
        const sweep = Effect.gen(function*() {
          let start = "0-0"
          do {
            const claimed = yield* redis.autoClaim({
              key: main,
              group: archiverGroup,
              consumer: settings.consumer,
              minIdle: settings.claimTimeout,
              start,
              count: batchSize
            })
            yield* archiveEntries(claimed.entries)
            start = claimed.next
          } while (start !== "0-0")
          // Archivers of processes that stopped for good (each process is a consumer of the group).
          yield* redis.removeIdleConsumers({
            key: main,
            group: archiverGroup,
            minIdle: settings.consumerIdleTimeout,
            keep: settings.consumer
          })
        })

        const redisRetry = <A>(name: string, step: Effect.Effect<A, RedisStream.RedisStreamError>) =>
          step.pipe(
            Effect.tapError((error) => Effect.logWarning(`archiver: Redis error; backing off`).pipe(
              Effect.annotateLogs({ ...annotations, fiber: name, error: error.message })
            )),
            Effect.retry(backoff)
          )

        const archiver = Effect.gen(function*() {
          yield* redisRetry("archiver", redis.createGroup(main, archiverGroup, "0"))
          // Not waited for: with the store down, the archiver still reads (and holds) its first batch.
          const saved = yield* Effect.result(store.archiverState(main))
          if (saved._tag === "Success" && saved.success !== undefined) caughtUpAt = saved.success.caughtUpAt
          const groups = yield* redisRetry("archiver", redis.groups(main))
          const mine = groups.find((g) => g.name === archiverGroup)
          if (mine !== undefined && mine.lastDeliveredId !== "0-0") position = mine.lastDeliveredId
          yield* redisRetry("archiver", resumeOwn)
          return yield* Effect.forever(
            redisRetry(
              "archiver",
              readOnce.pipe(
                Effect.catchIf(
                  (error) => error.kind === "NoGroup",
                  () => redis.createGroup(main, archiverGroup, "0")
                )
              )
            )
          )
        }).pipe(Effect.annotateLogs({ ...annotations, fiber: "archiver" }))

        const sweeper = Effect.forever(
          Effect.andThen(Effect.sleep(settings.claimTimeout), Effect.ignore(redisRetry("archiver-sweep", sweep)))
        )
        return { stream: main, archiver: Effect.annotateLogs(archiver, { stream: main }), sweeper, position: () => position }
      }
      const archivers = Topology.allStreams(settings).map((stream) => archiverOf(stream.key))

      const writer = Effect.forever(
        Effect.andThen(Queue.take(wake).pipe(Effect.timeoutOption("1 second")), writeOutcomes)
      ).pipe(Effect.annotateLogs({ ...annotations, fiber: "status-writer" }))

      const history = History.of({ status })
      // No store: no writers, and the `DeliveryLog` in context (if any) is left as it is.
      if (store.backend === "none") return Context.make(History, history)

      if (options.archiver ?? true) {
        for (const one of archivers) {
          yield* Effect.forkScoped(one.archiver)
          yield* Effect.forkScoped(one.sweeper)
        }
      }
      const writerFiber = yield* Effect.forkDetach(writer)
      // At shutdown (after the consumers closed: they are built on top of this layer) the last
      // outcomes are written, within the shutdown timeout.
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          yield* Fiber.interrupt(writerFiber)
          const flushed = yield* writeOutcomes.pipe(Effect.timeoutOption(settings.shutdownTimeout))
          if (Option.isNone(flushed) && buffered > 0) {
            yield* Effect.logWarning("shutdown timeout: delivery outcomes not written").pipe(
              Effect.annotateLogs({ ...annotations, count: buffered })
            )
          }
        })
      )
      return Context.make(History, history).pipe(Context.add(DeliveryLog.DeliveryLog, log))
    })
  )

/**
 * The writers' status through the `History` in context.
 *
 * @category accessors
 * @since 0.2.0
 */
export const status: Effect.Effect<Status, never, History> = History.use((history) => history.status)
