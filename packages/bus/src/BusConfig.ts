/**
 * The bus's settings: key prefix, application group, consumer name, read batching, retention,
 * claim and shutdown timeouts. One service read by every module; `layer(partial)` for code and
 * tests, `layerConfig` for environment variables (`HYVVE_PREFIX`, `HYVVE_GROUP`, ...).
 *
 * @since 0.1.0
 */
import { hostname } from "node:os"
import { Config, Context, Duration, Effect, Layer } from "effect"

/**
 * Settings shared by Publisher, Consumer, Retry and Dlq.
 *
 * @category models
 * @since 0.1.0
 */
export interface BusSettings {
  /** First segment of every Redis key. Defaults to `"hyvve"` (keys `hyvve:events:main`, ...). */
  readonly prefix: string
  /** The application's group; subscription groups derive from it. Defaults to `"hyvve-platform"`. */
  readonly group: string
  /** This process's consumer name inside every group. Defaults to `<hostname>-<pid>`. */
  readonly consumer: string
  /** The `source` written on published events. Defaults to `"platform"`. */
  readonly source: string
  /** Longest wait of one read before it returns empty. Defaults to 5 seconds. */
  readonly block: Duration.Duration
  /** Entries read per round trip. Defaults to 200. */
  readonly batchSize: number
  /** Main stream retention, trimmed by time on every append. Defaults to 30 days. */
  readonly retention: Duration.Duration
  /** Dead-letter retention, trimmed by time. Defaults to 90 days. */
  readonly dlqRetention: Duration.Duration
  /** Dead-letter size that raises the near-limit warning (at 80 %). Defaults to 10,000. */
  readonly dlqMaxLength: number
  /**
   * Idle time after which an entry pending on another consumer is presumed abandoned and claimed.
   * Live consumers refresh their in-flight entries every quarter of it, and sweeps run as often,
   * so an abandoned entry is claimed within 1.25 × this. Defaults to 60 seconds.
   */
  readonly claimTimeout: Duration.Duration
  /**
   * A consumer of a group idle this long that owns no pending entry is removed from the group (a
   * process that stopped for good). Defaults to 1 hour.
   */
  readonly consumerIdleTimeout: Duration.Duration
  /**
   * The longest a retry poller sleeps: retries scheduled by this process run on time, one
   * scheduled by another process at most this late (if that process died). Defaults to 1 second.
   */
  readonly retryPoll: Duration.Duration
  /** How long closing a consumer waits for in-flight handlers. Defaults to 10 seconds. */
  readonly shutdownTimeout: Duration.Duration
  /**
   * Consecutive Redis errors (over all of a subscription's loops) after which its circuit opens
   * and health reports it. Defaults to 20.
   */
  readonly circuitThreshold: number
}

/**
 * Provides the bus settings.
 *
 * @category services
 * @since 0.1.0
 */
export class BusConfig extends Context.Service<BusConfig, BusSettings>()("@hyvve/bus/BusConfig") {}

/**
 * The defaults, resolved for this process.
 *
 * @category configuration
 * @since 0.1.0
 */
export const defaults: BusSettings = {
  prefix: "hyvve",
  group: "hyvve-platform",
  consumer: `${hostname()}-${process.pid}`,
  source: "platform",
  block: Duration.seconds(5),
  batchSize: 200,
  retention: Duration.days(30),
  dlqRetention: Duration.days(90),
  dlqMaxLength: 10_000,
  claimTimeout: Duration.seconds(60),
  consumerIdleTimeout: Duration.hours(1),
  retryPoll: Duration.seconds(1),
  shutdownTimeout: Duration.seconds(10),
  circuitThreshold: 20
}

/**
 * Settings as callers write them: any subset, durations in any `Duration.Input` form.
 *
 * @category models
 * @since 0.1.0
 */
export type Options = {
  readonly [K in keyof BusSettings]?: (BusSettings[K] extends Duration.Duration ? Duration.Input : BusSettings[K]) | undefined
}

/**
 * Resolves options against the defaults, rejecting values that cannot work.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): BusSettings => {
  const duration = (input: Duration.Input | undefined, fallback: Duration.Duration) =>
    input === undefined ? fallback : Duration.fromInputUnsafe(input)
  const settings: BusSettings = {
    prefix: options.prefix ?? defaults.prefix,
    group: options.group ?? defaults.group,
    consumer: options.consumer ?? defaults.consumer,
    source: options.source ?? defaults.source,
    block: duration(options.block, defaults.block),
    batchSize: options.batchSize ?? defaults.batchSize,
    retention: duration(options.retention, defaults.retention),
    dlqRetention: duration(options.dlqRetention, defaults.dlqRetention),
    dlqMaxLength: options.dlqMaxLength ?? defaults.dlqMaxLength,
    claimTimeout: duration(options.claimTimeout, defaults.claimTimeout),
    consumerIdleTimeout: duration(options.consumerIdleTimeout, defaults.consumerIdleTimeout),
    retryPoll: duration(options.retryPoll, defaults.retryPoll),
    shutdownTimeout: duration(options.shutdownTimeout, defaults.shutdownTimeout),
    circuitThreshold: options.circuitThreshold ?? defaults.circuitThreshold
  }
  if (settings.batchSize < 1 || !Number.isInteger(settings.batchSize)) {
    throw new RangeError(`batchSize must be a positive integer, got ${settings.batchSize}`)
  }
  if (settings.circuitThreshold < 1 || !Number.isInteger(settings.circuitThreshold)) {
    throw new RangeError(`circuitThreshold must be a positive integer, got ${settings.circuitThreshold}`)
  }
  if (settings.prefix === "" || settings.prefix.includes(" ")) {
    throw new RangeError(`prefix must be a non-empty string without spaces, got "${settings.prefix}"`)
  }
  return settings
}

/**
 * Provides the settings from options (defaults for what is left out).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<BusConfig> =>
  Layer.sync(BusConfig, () => make(options))

/**
 * The settings read from the environment: `HYVVE_PREFIX`, `HYVVE_GROUP`, `HYVVE_CONSUMER`,
 * `HYVVE_SOURCE`, `HYVVE_BLOCK`, `HYVVE_BATCH_SIZE`, `HYVVE_RETENTION`, `HYVVE_DLQ_RETENTION`,
 * `HYVVE_DLQ_MAX_LENGTH`, `HYVVE_CLAIM_TIMEOUT`, `HYVVE_RETRY_POLL`, `HYVVE_SHUTDOWN_TIMEOUT`,
 * `HYVVE_CIRCUIT_THRESHOLD`
 * (durations as `"5 seconds"`), each optional.
 *
 * @category configuration
 * @since 0.1.0
 */
export const config: Config.Config<Options> = Config.all({
  prefix: Config.option(Config.String("PREFIX")),
  group: Config.option(Config.String("GROUP")),
  consumer: Config.option(Config.String("CONSUMER")),
  source: Config.option(Config.String("SOURCE")),
  block: Config.option(Config.Duration("BLOCK")),
  batchSize: Config.option(Config.Int("BATCH_SIZE")),
  retention: Config.option(Config.Duration("RETENTION")),
  dlqRetention: Config.option(Config.Duration("DLQ_RETENTION")),
  dlqMaxLength: Config.option(Config.Int("DLQ_MAX_LENGTH")),
  claimTimeout: Config.option(Config.Duration("CLAIM_TIMEOUT")),
  consumerIdleTimeout: Config.option(Config.Duration("CONSUMER_IDLE_TIMEOUT")),
  retryPoll: Config.option(Config.Duration("RETRY_POLL")),
  shutdownTimeout: Config.option(Config.Duration("SHUTDOWN_TIMEOUT")),
  circuitThreshold: Config.option(Config.Int("CIRCUIT_THRESHOLD"))
}).pipe(
  Config.map((read) => {
    const out: { -readonly [K in keyof Options]: Options[K] } = {}
    for (const [key, value] of Object.entries(read)) {
      if (value._tag === "Some") Object.assign(out, { [key]: value.value })
    }
    return out
  }),
  Config.nested("HYVVE")
)

/**
 * Provides the settings from the environment (see `config`), over `overrides` given in code.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (overrides: Options = {}): Layer.Layer<BusConfig, Config.ConfigError> =>
  Layer.effect(
    BusConfig,
    Effect.map(config, (fromEnv) => make({ ...overrides, ...fromEnv }))
  )
