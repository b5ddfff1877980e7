import { assert, describe, it } from "@effect/vitest"
import { BusConfig } from "@hyvve/bus"
import { ConfigProvider, Duration, Effect, Exit, Layer } from "effect"
import { hostname } from "node:os"

const millis = (d: Duration.Duration) => Duration.toMillis(d)

const fromEnv = (env: Record<string, string>, overrides: BusConfig.Options = {}) =>
  Effect.gen(function*() {
    return yield* BusConfig.BusConfig
  }).pipe(
    Effect.provide(BusConfig.layerConfig(overrides).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))))
  )

describe("BusConfig", () => {
  it("defaults follow the seeds: keys, group, batching, retention and timeouts", () => {
    const settings = BusConfig.make()
    assert.strictEqual(settings.prefix, "hyvve")
    assert.strictEqual(settings.group, "hyvve-platform")
    assert.strictEqual(settings.consumer, `${hostname()}-${process.pid}`)
    assert.strictEqual(settings.source, "platform")
    assert.strictEqual(millis(settings.block), 5_000)
    assert.strictEqual(settings.batchSize, 200)
    assert.strictEqual(millis(settings.retention), 30 * 24 * 3_600_000)
    assert.strictEqual(millis(settings.dlqRetention), 90 * 24 * 3_600_000)
    assert.strictEqual(settings.dlqMaxLength, 10_000)
    assert.strictEqual(millis(settings.claimTimeout), 60_000)
    assert.strictEqual(millis(settings.retryPoll), 1_000)
    assert.strictEqual(millis(settings.shutdownTimeout), 10_000)
    assert.strictEqual(settings.circuitThreshold, 20)
    assert.deepStrictEqual(settings, BusConfig.defaults)
  })

  it("options override the defaults, durations in any Duration.Input form", () => {
    const settings = BusConfig.make({ prefix: "app", batchSize: 50, claimTimeout: "300 millis", block: 250, retryPoll: Duration.seconds(2) })
    assert.strictEqual(settings.prefix, "app")
    assert.strictEqual(settings.batchSize, 50)
    assert.strictEqual(millis(settings.claimTimeout), 300)
    assert.strictEqual(millis(settings.block), 250)
    assert.strictEqual(millis(settings.retryPoll), 2_000)
    assert.strictEqual(settings.group, "hyvve-platform", "what is left out keeps its default")
  })

  it("an invalid batch size throws", () => {
    for (const batchSize of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => BusConfig.make({ batchSize }), RangeError, undefined, `batchSize ${batchSize}`)
    }
  })

  it("an invalid circuit threshold throws", () => {
    for (const circuitThreshold of [0, -3, 2.5]) {
      assert.throws(() => BusConfig.make({ circuitThreshold }), RangeError, undefined, `circuitThreshold ${circuitThreshold}`)
    }
  })

  it("an empty prefix or one with spaces throws", () => {
    assert.throws(() => BusConfig.make({ prefix: "" }), RangeError)
    assert.throws(() => BusConfig.make({ prefix: "my app" }), RangeError)
  })

  it.effect("the environment sets HYVVE_* settings, over defaults and code overrides", () =>
    Effect.gen(function*() {
      const settings = yield* fromEnv(
        {
          HYVVE_PREFIX: "env-app",
          HYVVE_GROUP: "env-group",
          HYVVE_CONSUMER: "env-consumer",
          HYVVE_BATCH_SIZE: "50",
          HYVVE_CLAIM_TIMEOUT: "30 seconds",
          HYVVE_BLOCK: "250 millis",
          HYVVE_DLQ_MAX_LENGTH: "500",
          HYVVE_SHUTDOWN_TIMEOUT: "3 seconds",
          HYVVE_CIRCUIT_THRESHOLD: "7"
        },
        { prefix: "code-app", source: "billing", retryPoll: "200 millis" }
      )
      assert.strictEqual(settings.prefix, "env-app", "the environment wins over code")
      assert.strictEqual(settings.group, "env-group")
      assert.strictEqual(settings.consumer, "env-consumer")
      assert.strictEqual(settings.batchSize, 50)
      assert.strictEqual(millis(settings.claimTimeout), 30_000)
      assert.strictEqual(millis(settings.block), 250)
      assert.strictEqual(settings.dlqMaxLength, 500)
      assert.strictEqual(millis(settings.shutdownTimeout), 3_000)
      assert.strictEqual(settings.circuitThreshold, 7)
      assert.strictEqual(settings.source, "billing", "code overrides apply where the environment is silent")
      assert.strictEqual(millis(settings.retryPoll), 200)
      assert.strictEqual(millis(settings.retention), 30 * 24 * 3_600_000, "the rest keeps its default")
    }))

  it.effect("an empty environment gives the defaults", () =>
    Effect.gen(function*() {
      const settings = yield* fromEnv({})
      assert.deepStrictEqual(settings, BusConfig.defaults)
    }))

  it.effect("an unreadable environment value fails the layer", () =>
    Effect.gen(function*() {
      const notANumber = yield* Effect.exit(fromEnv({ HYVVE_BATCH_SIZE: "many" }))
      assert.isTrue(Exit.isFailure(notANumber), "HYVVE_BATCH_SIZE=many")
      const notADuration = yield* Effect.exit(fromEnv({ HYVVE_CLAIM_TIMEOUT: "soon" }))
      assert.isTrue(Exit.isFailure(notADuration), "HYVVE_CLAIM_TIMEOUT=soon")
      const zero = yield* Effect.exit(fromEnv({ HYVVE_BATCH_SIZE: "0" }))
      assert.isTrue(Exit.isFailure(zero), "HYVVE_BATCH_SIZE=0")
    }))
})
