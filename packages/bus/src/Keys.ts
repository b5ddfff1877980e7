/**
 * The Redis keys of the `single` topology (the default), built from the configured prefix. They
 * follow the NestJS seeds (`hyvve:events:main`, `hyvve:events:dlq`, `hyvve:events:replay`), so both
 * implementations can share a Redis during migration. Other topologies (and `single` with hash
 * tags) name their streams and every per-stream key from the stream key: see `Topology`, whose
 * `StreamKeys` is the one source of a stream's key names.
 * The application router's inboxes and routes derive from the stream key too (`internal/router.ts`).
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
 * The `single` layout's stream of entries re-driven from the DLQ to `group` only.
 *
 * @category constructors
 * @since 0.3.0
 */
export const redeliver = (prefix: string, group: string): string => `${prefix}:events:redeliver:${group}`

/**
 * The `single` layout's done markers of `group` (idempotent handling).
 *
 * @category constructors
 * @since 0.3.0
 */
export const done = (prefix: string, group: string): string => `${prefix}:events:done:${group}`
