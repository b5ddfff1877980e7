import { assert, describe, it } from "@effect/vitest"
import { BusConfig, EventBus, IoRedisClusterStream, IoRedisStream, Publisher } from "@hyvve/bus"
import { ApprovalApproved, Catalog, EventId, EventType } from "@hyvve/schema"
import { ConfigProvider, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { hostname } from "node:os"

const millis = (d: Duration.Duration) => Duration.toMillis(d)

const envLayer = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

const fromEnv = (env: Record<string, string>, options: BusConfig.Options = {}) =>
  Effect.gen(function*() {
    return yield* BusConfig.BusConfig
  }).pipe(Effect.provide(BusConfig.layerFromEnv(options).pipe(Layer.provide(envLayer(env)))))

const configError = (env: Record<string, string>) => Effect.flip(fromEnv(env))

const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const cuid2 = /^[a-z][a-z0-9]{23}$/

// The id of one event published by a bus built from `layer` (in memory).
const publishedId = <E>(layer: Layer.Layer<Publisher.Publisher, E>) =>
  Publisher.publish(
    ApprovalApproved,
    { approvalId: "apr_1", decidedById: "usr_1", decision: "approved" },
    { tenantId: "ws_1", userId: "usr_1" }
  ).pipe(Effect.provide(layer))

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
    assert.strictEqual(settings.eventId, EventId.cuid2)
    assert.strictEqual(settings.catalog, Catalog.platform)
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

  it("an invalid option in code throws a ConfigError naming the option", () => {
    const cases: ReadonlyArray<readonly [BusConfig.Options, string, string]> = [
      [{ batchSize: 0 }, "batchSize", "0"],
      [{ batchSize: 1.5 }, "batchSize", "1.5"],
      [{ batchSize: Number.NaN }, "batchSize", "NaN"],
      [{ circuitThreshold: -3 }, "circuitThreshold", "-3"],
      [{ dlqMaxLength: 0 }, "dlqMaxLength", "0"],
      [{ prefix: "" }, "prefix", ""],
      [{ prefix: "my app" }, "prefix", "my app"],
      [{ claimTimeout: -5 }, "claimTimeout", "-5"],
      [{ block: "Infinity" }, "block", "Infinity"]
    ]
    for (const [options, variable, value] of cases) {
      assert.throws(() => BusConfig.make(options), BusConfig.ConfigError, `${variable}=${JSON.stringify(value)}`)
    }
    const error = Effect.runSync(Effect.flip(Effect.fromResult(BusConfig.resolve({ batchSize: 0 }))))
    assert.strictEqual(error.message, `batchSize="0" is invalid: expected a positive integer such as 200`)
  })

  it.effect("the environment sets HYVVE_* settings; options in code win over it, as in Effect's layerFromEnv", () =>
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
          HYVVE_CIRCUIT_THRESHOLD: "7",
          HYVVE_RETRY_POLL: "5s"
        },
        { prefix: "code-app", source: "billing", retryPoll: "200 millis" }
      )
      assert.strictEqual(settings.prefix, "code-app", "an option in code wins over the environment")
      assert.strictEqual(millis(settings.retryPoll), 200, "an option in code wins over the environment")
      assert.strictEqual(settings.source, "billing")
      assert.strictEqual(settings.group, "env-group", "the environment decides what the code leaves out")
      assert.strictEqual(settings.consumer, "env-consumer")
      assert.strictEqual(settings.batchSize, 50)
      assert.strictEqual(millis(settings.claimTimeout), 30_000)
      assert.strictEqual(millis(settings.block), 250)
      assert.strictEqual(settings.dlqMaxLength, 500)
      assert.strictEqual(millis(settings.shutdownTimeout), 3_000)
      assert.strictEqual(settings.circuitThreshold, 7)
      assert.strictEqual(millis(settings.retention), 30 * 24 * 3_600_000, "the rest keeps its default")
    }))

  it.effect("an empty environment gives the defaults; an empty variable counts as unset", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* fromEnv({}), BusConfig.defaults)
      assert.deepStrictEqual(yield* fromEnv({ HYVVE_BATCH_SIZE: "", HYVVE_PREFIX: "" }), BusConfig.defaults)
    }))

  it.effect("durations in the short forms people write, and in Effect's", () =>
    Effect.gen(function*() {
      const cases = [
        ["100ms", 100],
        ["5s", 5_000],
        ["2m", 120_000],
        ["1h", 3_600_000],
        ["30d", 30 * 86_400_000],
        ["1w", 7 * 86_400_000],
        ["1.5s", 1_500],
        ["5 s", 5_000],
        ["5 seconds", 5_000],
        ["250 millis", 250]
      ] as const
      for (const [text, expected] of cases) {
        const settings = yield* fromEnv({ HYVVE_RETENTION: text })
        assert.strictEqual(millis(settings.retention), expected, text)
      }
      assert.strictEqual(millis((yield* fromEnv({ HYVVE_SHUTDOWN_TIMEOUT: "0s" })).shutdownTimeout), 0, "no drain wait")
    }))

  it.effect("every bad value is a ConfigError naming the variable, the value and the accepted form", () =>
    Effect.gen(function*() {
      const durations = `500ms, 5s, 2m, 1h, 30d, 1w or "5 seconds"`
      const cases = [
        ["HYVVE_BATCH_SIZE", "0", "a positive integer such as 200"],
        ["HYVVE_BATCH_SIZE", "many", "a positive integer such as 200"],
        ["HYVVE_BATCH_SIZE", "-5", "a positive integer such as 200"],
        ["HYVVE_BATCH_SIZE", "1.5", "a positive integer such as 200"],
        ["HYVVE_DLQ_MAX_LENGTH", "0", "a positive integer such as 200"],
        ["HYVVE_CIRCUIT_THRESHOLD", "0", "a positive integer such as 200"],
        ["HYVVE_CLAIM_TIMEOUT", "-5 seconds", `a positive duration such as ${durations}`],
        ["HYVVE_CLAIM_TIMEOUT", "-5s", `a positive duration such as ${durations}`],
        ["HYVVE_RETRY_POLL", "soon", `a positive duration such as ${durations}`],
        ["HYVVE_RETRY_POLL", "0s", `a positive duration such as ${durations}`],
        ["HYVVE_BLOCK", "Infinity", `a positive duration such as ${durations}`],
        ["HYVVE_RETENTION", "30 parsecs", `a positive duration such as ${durations}`],
        ["HYVVE_SHUTDOWN_TIMEOUT", "-1s", `a duration of zero or more such as 0s, ${durations}`],
        ["HYVVE_PREFIX", "my app", "a non-empty key prefix without spaces, such as hyvve"],
        ["HYVVE_EVENT_ID", "uuid4", "cuid2 or uuidv7"]
      ] as const
      for (const [variable, value, expected] of cases) {
        const error = yield* configError({ [variable]: value })
        assert.instanceOf(error, BusConfig.ConfigError, `${variable}=${value}`)
        assert.deepStrictEqual({ variable: error.variable, value: error.value, expected: error.expected }, {
          variable,
          value,
          expected
        })
        assert.strictEqual(error.message, `${variable}=${JSON.stringify(value)} is invalid: expected ${expected}`)
      }
      const error = yield* configError({ HYVVE_RETRY_POLL: "soon" })
      assert.strictEqual(
        error.message,
        `HYVVE_RETRY_POLL="soon" is invalid: expected a positive duration such as 500ms, 5s, 2m, 1h, 30d, 1w or "5 seconds"`
      )
      assert.notInclude(error.message, `["HYVVE"]`)
    }))

  it.effect("HYVVE_APP names the application whose subscriptions are routed; none by default; the option wins", () =>
    Effect.gen(function*() {
      assert.isUndefined(BusConfig.defaults.application)
      assert.isUndefined((yield* fromEnv({})).application)
      assert.strictEqual((yield* fromEnv({ HYVVE_APP: "billing" })).application, "billing")
      assert.strictEqual((yield* fromEnv({ HYVVE_APP: "billing" }, { application: "ledger" })).application, "ledger")
      const error = yield* configError({ HYVVE_APP: "  " })
      assert.strictEqual(error.variable, "HYVVE_APP")
      assert.throws(() => BusConfig.make({ application: "" }))
    }))

  it.effect("HYVVE_EVENT_ID names the id generator; the eventId option wins over it", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* fromEnv({ HYVVE_EVENT_ID: "uuidv7" })).eventId, EventId.uuidV7)
      assert.strictEqual((yield* fromEnv({ HYVVE_EVENT_ID: "cuid2" })).eventId, EventId.cuid2)
      assert.strictEqual((yield* fromEnv({ HYVVE_EVENT_ID: "uuidv7" }, { eventId: "cuid2" })).eventId, EventId.cuid2)
      assert.strictEqual((yield* fromEnv({})).eventId, EventId.cuid2)
    }))

  it.effect("the id generator is fixed when the bus is built: option, or the Generator provided to the layer", () =>
    Effect.gen(function*() {
      assert.match(yield* publishedId(EventBus.layerMemory({ eventId: "uuidv7" })), uuidV7)
      assert.match(yield* publishedId(EventBus.layerMemory()), cuid2)
      // What used to keep cuid2 silently: the generator provided to the bus's layer.
      assert.match(yield* publishedId(EventBus.layerMemory().pipe(Layer.provide(EventId.layerUuidV7))), uuidV7)
      // Fixed at build: a generator in the caller's context no longer changes the bus's ids.
      const id = yield* publishedId(EventBus.layerMemory({ eventId: "uuidv7" })).pipe(
        Effect.provideService(EventId.Generator, { next: () => "caller-id" })
      )
      assert.match(id, uuidV7)
      const custom = yield* publishedId(EventBus.layerMemory({ eventId: { next: () => "custom-1" } }))
      assert.strictEqual(custom, "custom-1")
    }))

  it("the catalog option is merged with the platform catalog", () => {
    const InvoicePaid = EventType.make("billing.invoice_paid", Schema.Struct({ invoiceId: Schema.String }))
    const settings = BusConfig.make({ catalog: Catalog.make([InvoicePaid]) })
    assert.deepStrictEqual(settings.catalog.get("billing.invoice_paid"), Option.some(InvoicePaid))
    assert.deepStrictEqual(settings.catalog.get("approval.approved"), Option.some(ApprovalApproved))
  })

  describe("REDIS_URL", () => {
    const read = (env: Record<string, string>) => Effect.flip(BusConfig.redisUrl.pipe(Effect.provide(envLayer(env))))
    const expected = "a redis:// or rediss:// URL such as redis://127.0.0.1:6379"

    it.effect("missing is a ConfigError naming it", () =>
      Effect.gen(function*() {
        const error = yield* read({})
        assert.strictEqual(error.variable, "REDIS_URL")
        assert.isUndefined(error.value)
        assert.strictEqual(error.message, `REDIS_URL is not set: expected ${expected}`)
      }))

    it.effect("not a redis URL is a ConfigError with the value, its password masked", () =>
      Effect.gen(function*() {
        for (const value of ["notaurl", "http://127.0.0.1:6379", "redis://"]) {
          const error = yield* read({ REDIS_URL: value })
          assert.deepStrictEqual([error.variable, error.value, error.expected], ["REDIS_URL", value, expected], value)
        }
        const secret = yield* read({ REDIS_URL: "http://admin:hunter2@cache:6379" })
        assert.strictEqual(secret.value, "http://admin:***@cache:6379/")
        assert.notInclude(secret.message, "hunter2")
      }))

    it.effect("a redis:// or rediss:// URL is read", () =>
      Effect.gen(function*() {
        for (const url of ["redis://127.0.0.1:6379", "rediss://user:pw@cache.internal:6380/2"]) {
          const read = yield* BusConfig.redisUrl.pipe(Effect.provide(envLayer({ REDIS_URL: url })))
          assert.strictEqual(Redacted.value(read), url)
        }
      }))

    it.effect("EventBusLive fails with the ConfigError, before any connection", () =>
      Effect.gen(function*() {
        const error = yield* Layer.build(EventBus.EventBusLive).pipe(
          Effect.provide(envLayer({ REDIS_URL: "http://127.0.0.1:6379" })),
          Effect.scoped,
          Effect.flip
        )
        assert.instanceOf(error, BusConfig.ConfigError)
        assert.strictEqual(error.message, `REDIS_URL="http://127.0.0.1:6379" is invalid: expected ${expected}`)
        const alone = yield* Layer.build(IoRedisStream.layerConfig()).pipe(Effect.provide(envLayer({})), Effect.scoped, Effect.flip)
        assert.instanceOf(alone, BusConfig.ConfigError, "IoRedisStream.layerConfig reads REDIS_URL the same way")
      }))
  })

  describe("REDIS_CLUSTER_NODES", () => {
    const read = (env: Record<string, string>) => BusConfig.redisClusterNodes.pipe(Effect.provide(envLayer(env)))
    const expected = "host:port entries separated by commas, such as 127.0.0.1:7000,127.0.0.1:7001"

    it.effect("host:port entries are read, spaces around them ignored", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* read({ REDIS_CLUSTER_NODES: "127.0.0.1:7000, cache-2.internal:7001" }), [
          { host: "127.0.0.1", port: 7000 },
          { host: "cache-2.internal", port: 7001 }
        ])
      }))

    it.effect("missing or malformed is a ConfigError naming it, with the value", () =>
      Effect.gen(function*() {
        const missing = yield* Effect.flip(read({}))
        assert.deepStrictEqual([missing.variable, missing.value, missing.expected], ["REDIS_CLUSTER_NODES", undefined, expected])
        for (const value of ["127.0.0.1", "127.0.0.1:7000,", "host:0", "host:70000", "redis://host:7000", ":7000"]) {
          const error = yield* Effect.flip(read({ REDIS_CLUSTER_NODES: value }))
          assert.deepStrictEqual([error.variable, error.value, error.expected], ["REDIS_CLUSTER_NODES", value, expected], value)
        }
      }))

    it.effect("IoRedisClusterStream.layerConfig fails with it, before any connection", () =>
      Effect.gen(function*() {
        const error = yield* Layer.build(IoRedisClusterStream.layerConfig()).pipe(
          Effect.provide(envLayer({ REDIS_CLUSTER_NODES: "nope" })),
          Effect.scoped,
          Effect.flip
        )
        assert.instanceOf(error, BusConfig.ConfigError)
      }))
  })
})
