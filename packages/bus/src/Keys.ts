/**
 * The bus-wide Redis keys, built from the configured prefix (the per-subscription keys — retry
 * schedules, failure records, done markers, redeliver streams — belong to the settlement, in
 * `internal/settlement.ts`; the application router's inboxes and routes to `internal/router.ts`).
 * Defaults follow
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
