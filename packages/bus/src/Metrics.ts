/**
 * The bus's Effect metrics. Counters are labelled by event type and group; labelled instances are
 * cached so the hot path does no allocation per event. Export them with
 * `PrometheusMetrics` from `effect/observability`.
 *
 * @since 0.1.0
 */
import { Effect, Metric } from "effect"

const cached = <M>(make: (key: string) => M): ((key: string) => M) => {
  const cache = new Map<string, M>()
  return (key) => {
    let metric = cache.get(key)
    if (metric === undefined) {
      metric = make(key)
      cache.set(key, metric)
    }
    return metric
  }
}

const labels = (key: string): { readonly group: string; readonly type: string } => {
  const at = key.indexOf("\u0000")
  return { group: key.slice(0, at), type: key.slice(at + 1) }
}

const publishedBy = cached((type) =>
  Metric.counter("hyvve_events_published_total", { description: "Events appended to the main stream", attributes: { type } })
)
const deliveredBy = cached((key) =>
  Metric.counter("hyvve_events_delivered_total", { description: "Deliveries to handlers", attributes: labels(key) })
)
const ackedBy = cached((key) =>
  Metric.counter("hyvve_events_acked_total", { description: "Deliveries acknowledged", attributes: labels(key) })
)
const failedBy = cached((key) =>
  Metric.counter("hyvve_events_failed_total", { description: "Handler failures", attributes: labels(key) })
)
const retriedBy = cached((group) =>
  Metric.counter("hyvve_events_retries_scheduled_total", { description: "Retries scheduled", attributes: { group } })
)
const deadLetteredBy = cached((group) =>
  Metric.counter("hyvve_events_dead_lettered_total", { description: "Entries moved to the DLQ", attributes: { group } })
)
const durationBy = cached((group) =>
  Metric.histogram("hyvve_handler_duration_ms", {
    description: "Handler run time in milliseconds",
    attributes: { group },
    boundaries: Metric.exponentialBoundaries({ start: 0.25, factor: 4, count: 10 })
  })
)
const lagBy = cached((group) =>
  Metric.gauge("hyvve_consumer_lag", { description: "Entries not yet delivered to the group", attributes: { group } })
)
const pendingBy = cached((group) =>
  Metric.gauge("hyvve_consumer_pending", { description: "Entries delivered and not acknowledged", attributes: { group } })
)

/**
 * The DLQ length gauge.
 *
 * @category metrics
 * @since 0.1.0
 */
export const dlqSize = Metric.gauge("hyvve_dlq_size", { description: "Entries in the dead-letter stream" })

/**
 * Counts DLQ near-limit warnings (DLQ length at 80 % of its configured maximum or more).
 *
 * @category metrics
 * @since 0.1.0
 */
export const dlqNearLimit = Metric.counter("hyvve_dlq_near_limit_total", {
  description: "Times the DLQ was found at 80 % of its maximum length or more"
})

/**
 * Counts published events of `type`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const published = (type: string, count = 1): Effect.Effect<void> => Metric.update(publishedBy(type), count)

/**
 * Counts deliveries to a group's handler.
 *
 * @category metrics
 * @since 0.1.0
 */
export const delivered = (group: string, type: string, count = 1): Effect.Effect<void> =>
  Metric.update(deliveredBy(`${group}\u0000${type}`), count)

/**
 * Counts acknowledged deliveries.
 *
 * @category metrics
 * @since 0.1.0
 */
export const acked = (group: string, type: string, count = 1): Effect.Effect<void> =>
  Metric.update(ackedBy(`${group}\u0000${type}`), count)

/**
 * Counts handler failures.
 *
 * @category metrics
 * @since 0.1.0
 */
export const failed = (group: string, type: string, count = 1): Effect.Effect<void> =>
  Metric.update(failedBy(`${group}\u0000${type}`), count)

/**
 * Counts scheduled retries.
 *
 * @category metrics
 * @since 0.1.0
 */
export const retried = (group: string): Effect.Effect<void> => Metric.update(retriedBy(group), 1)

/**
 * Counts dead-lettered entries.
 *
 * @category metrics
 * @since 0.1.0
 */
export const deadLettered = (group: string): Effect.Effect<void> => Metric.update(deadLetteredBy(group), 1)

/**
 * Records one handler run time.
 *
 * @category metrics
 * @since 0.1.0
 */
export const handlerDuration = (group: string, millis: number): Effect.Effect<void> =>
  Metric.update(durationBy(group), millis)

/**
 * Records many handler run times at once (the consumer records a batch per step).
 *
 * @category metrics
 * @since 0.1.0
 */
export const handlerDurations = (group: string, millis: ReadonlyArray<number>): Effect.Effect<void> =>
  millis.length === 0 ? Effect.void : Effect.contextWith((context) =>
    Effect.sync(() => {
      const histogram = durationBy(group)
      for (const ms of millis) histogram.updateUnsafe(ms, context)
    })
  )

/**
 * Sets a group's lag and pending gauges.
 *
 * @category metrics
 * @since 0.1.0
 */
export const groupState = (group: string, lag: number, pending: number): Effect.Effect<void> =>
  Effect.andThen(Metric.update(lagBy(group), lag), Metric.update(pendingBy(group), pending))

/**
 * Sets the DLQ length gauge.
 *
 * @category metrics
 * @since 0.1.0
 */
export const dlqLength = (size: number): Effect.Effect<void> => Metric.update(dlqSize, size)

/**
 * Counts one DLQ near-limit warning.
 *
 * @category metrics
 * @since 0.1.0
 */
export const dlqWarning: Effect.Effect<void> = Metric.update(dlqNearLimit, 1)
