/**
 * Runs the admin server from the environment: the bus from `REDIS_URL` and `HYVVE_*`
 * (`EventBusLive`, with the event store when `DATABASE_URL` is set: history routes and the audit
 * table), the tokens from `HYVVE_ADMIN_TOKENS` (`token:role[:tenant],...`), and
 * `HYVVE_ADMIN_PORT` (8080) / `HYVVE_ADMIN_HOST` (127.0.0.1); OTLP export when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`Telemetry`). `node @hyvve/admin/main`, or
 * `import "@hyvve/admin/main"`.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { EventBusLive } from "@hyvve/bus"
import { Config, Effect, Layer } from "effect"
import * as AdminServer from "./AdminServer.ts"
import * as Audit from "./Audit.ts"
import * as Auth from "./Auth.ts"
import * as Telemetry from "./Telemetry.ts"

const server = Layer.unwrap(
  Effect.gen(function*() {
    const port = yield* Config.Int("HYVVE_ADMIN_PORT").pipe(Config.withDefault(8080))
    const host = yield* Config.String("HYVVE_ADMIN_HOST").pipe(Config.withDefault("127.0.0.1"))
    yield* Effect.logInfo(`admin server on http://${host}:${port} (page at /admin, docs at /docs)`)
    return AdminServer.layer({ port, host })
  })
)

Layer.launch(
  server.pipe(
    Layer.provide(Auth.layerTokensFromEnv),
    // The store's audit table with DATABASE_URL, memory (and a log line per call) without.
    Layer.provide(Audit.layer),
    Layer.provide(EventBusLive),
    // OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set.
    Layer.provide(Telemetry.layerFromEnv("hyvve-admin"))
  )
).pipe(NodeRuntime.runMain)
