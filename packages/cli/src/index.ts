/**
 * @hyvve/cli: the `hyvve` command (stats, the dead-letter queue, live events) over the admin API.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Cli from "./Cli.ts"
