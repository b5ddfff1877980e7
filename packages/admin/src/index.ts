/**
 * @hyvve/admin: the admin HTTP API of the HYVVE event bus (one `HttpApi` definition: health,
 * stats, the DLQ, live updates, Prometheus metrics, OpenAPI and docs), its auth and audit seams,
 * and the monitoring page.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AdminApi from "./AdminApi.ts"
/** @since 0.1.0 */
export * as AdminServer from "./AdminServer.ts"
/** @since 0.1.0 */
export * as AsyncApi from "./AsyncApi.ts"
/** @since 0.1.0 */
export * as Audit from "./Audit.ts"
/** @since 0.1.0 */
export * as Auth from "./Auth.ts"
/** @since 0.1.0 */
export * as Page from "./Page.ts"
/** @since 0.1.0 */
export * as Telemetry from "./Telemetry.ts"
