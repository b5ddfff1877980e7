/**
 * Every Redis key the bus uses, built in one place from the configured prefix. Defaults follow
 * the NestJS seeds (`hyvve:events:main`, `hyvve:events:dlq`, `hyvve:events:replay`), so both
 * implementations can share a Redis during migration.
 *
 * @since 0.1.0
 */

/**
 * The main stream every event is appended to.
 *
 * @category constructors
 * @since 0.1.0
 */
export const main = (prefix: string): string => `${prefix}:events:main`

/**
 * The dead-letter stream.
 *
 * @category constructors
 * @since 0.1.0
 */
export const dlq = (prefix: string): string => `${prefix}:events:dlq`

/**
 * The replay stream.
 *
 * @category constructors
 * @since 0.1.0
 */
export const replay = (prefix: string): string => `${prefix}:events:replay`

/**
 * A group's private stream: entries re-driven from the DLQ to that group only. Its consumers read
 * it together with the main stream, so nothing is re-published to everyone.
 *
 * @category constructors
 * @since 0.1.0
 */
export const redeliver = (prefix: string, group: string): string => `${prefix}:events:redeliver:${group}`

/**
 * The sorted set of a group's scheduled retries for entries of `stream` (member: entry id, score:
 * due time in ms). The entries stay pending in the group while they wait.
 *
 * @category constructors
 * @since 0.1.0
 */
export const retrySchedule = (stream: string, group: string): string => `${stream}:retry:${group}`

/**
 * The hash of a group's failure records for entries of `stream` (field: entry id, value: JSON of
 * first failure time and last error), cleared on success or dead-lettering.
 *
 * @category constructors
 * @since 0.1.0
 */
export const failures = (stream: string, group: string): string => `${stream}:failures:${group}`

/**
 * The marker that says a group has completed an event (idempotent handling).
 *
 * @category constructors
 * @since 0.1.0
 */
export const done = (prefix: string, group: string, eventId: string): string =>
  `${prefix}:events:done:${group}:${eventId}`
