/**
 * OTLP export (`Telemetry.layerFromEnv`) against a local OTLP/HTTP receiver (a tiny HTTP server in
 * the test): with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a publish and the handling of its event on
 * the real Redis arrive as one trace, the handle span a child of the publish span.
 */
import { createServer, type Server } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Consumer, EventBus, Publisher, RedisStream } from "@hyvve/bus"
import { ApprovalApproved } from "@hyvve/schema"
import { ConfigProvider, Deferred, Effect, Layer } from "effect"
import { Telemetry } from "../src/index.ts"
import { redisUrl, uniquePrefix } from "./fixtures/AdminFixture.ts"

interface Span {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
}

// Collects the spans of every OTLP/HTTP JSON export it receives.
const receiver = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ server: Server; url: string; spans: Array<Span> }>((resolve) => {
        const spans: Array<Span> = []
        const server = createServer((request, response) => {
          let body = ""
          request.on("data", (chunk) => (body += String(chunk)))
          request.on("end", () => {
            if (request.url === "/v1/traces") {
              const json = JSON.parse(body)
              for (const resource of json.resourceSpans ?? []) {
                for (const scope of resource.scopeSpans ?? []) spans.push(...(scope.spans ?? []))
              }
            }
            response.writeHead(200, { "content-type": "application/json" }).end("{}")
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          resolve({ server, url: `http://127.0.0.1:${port}`, spans })
        })
      })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

// Publishes one event and waits for its handler, with the bus and the exporter built from `env`.
const publishAndHandle = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const handled = yield* Deferred.make<void>()
    yield* Consumer.handle(ApprovalApproved, () => Deferred.succeed(handled, undefined), { group: "otlp" })
    yield* Publisher.publish(
      ApprovalApproved,
      { approvalId: "apr_otlp", decidedById: "usr_1", decision: "approved" },
      { tenantId: "ws_1", userId: "usr_1" }
    )
    yield* Deferred.await(handled).pipe(Effect.timeout("20 seconds"))
  }).pipe(
    // Closing the layer flushes the exporter.
    Effect.provide(
      EventBus.layer({ redis: RedisStream.options(redisUrl, "hyvve-admin-otlp"), bus: { prefix: uniquePrefix("otlp"), block: "1 second" } })
        .pipe(
          Layer.provideMerge(Telemetry.layerFromEnv("hyvve-test")),
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
        )
    )
  )

describe("Telemetry", () => {
  it.live("exports publish → handle as one trace to the OTLP endpoint", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver
      yield* publishAndHandle({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: "200" })
      const publish = otlp.spans.find((span) => span.name === "Publisher.publish")
      const handle = otlp.spans.find((span) => span.name === "Consumer.handle")
      assert.isDefined(publish, `spans: ${otlp.spans.map((s) => s.name).join(", ")}`)
      assert.isDefined(handle, `spans: ${otlp.spans.map((s) => s.name).join(", ")}`)
      assert.strictEqual(handle!.traceId, publish!.traceId)
      assert.strictEqual(handle!.parentSpanId, publish!.spanId)
    }).pipe(Effect.scoped))
})
