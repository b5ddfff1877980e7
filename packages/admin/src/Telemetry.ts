/**
 * OTLP export of traces, metrics and logs, on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (and
 * `OTEL_SDK_DISABLED` is not `true`): JSON over HTTP to `<endpoint>/v1/traces`, `/v1/metrics` and
 * `/v1/logs`, with Effect's own exporter (no OpenTelemetry SDK). Without an endpoint nothing is
 * exported and nothing is started. (Effect's `Otlp.layerFromConfig` also needs
 * `OTEL_TRACES_EXPORTER=otlp` and so on per signal; setting the endpoint is enough here.)
 *
 * The bus carries the W3C `traceparent` in every envelope, so a publish and the handling of its
 * event (and what the handler publishes) are one trace.
 *
 * @since 0.1.0
 */
import { Config, Effect, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp, OtlpExporter } from "effect/observability"

/**
 * The OTLP exporter configured from the environment; provide it under the application (the bus
 * included) so every fiber traces through it. Closing it flushes what is pending.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromEnv = (serviceName: string, serviceVersion?: string): Layer.Layer<OtlpExporter.Flusher, Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const endpoint = yield* Config.String("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(Config.withDefault(""))
      const disabled = yield* Config.Boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false))
      if (endpoint === "" || disabled) return OtlpExporter.layerFlusher
      const exportInterval = yield* Config.Int("OTEL_BSP_SCHEDULE_DELAY").pipe(Config.withDefault(5000))
      return Otlp.layerJson({
        baseUrl: endpoint,
        resource: { serviceName, ...(serviceVersion === undefined ? {} : { serviceVersion }) },
        tracerExportInterval: `${exportInterval} millis`
      }).pipe(Layer.provide(FetchHttpClient.layer))
    })
  )
