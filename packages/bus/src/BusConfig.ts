/**
 * The bus's settings: key prefix, application group, consumer name, the application whose
 * subscriptions are routed (`application`), read batching, retention, claim and shutdown
 * timeouts, the event id generator, the event catalog and the topology (how events spread over
 * streams, see `Topology`). One service read by every module.
 *
 * - `layer(options)`: settings given in code (defaults for what is left out).
 * - `layerFromEnv(options)`: settings from the environment (`HYVVE_PREFIX`, `HYVVE_BATCH_SIZE`,
 *   `HYVVE_TOPOLOGY`, ...), with `options` given in code laid over them, in the order of Effect's own
 *   `ShardingConfig.layerFromEnv`: an option written in code always wins; the environment
 *   decides what the code leaves out.
 *
 * Every value is checked: a bad environment value fails the layer with a `ConfigError` naming the
 * variable, the value and the accepted form; a bad option in code is a programmer error, and
 * `make` throws the same `ConfigError` naming the option.
 *
 * @since 0.1.0
 */
import { hostname } from "node:os"
import { Catalog, EventId } from "@hyvve/schema"
import type { EventType } from "@hyvve/schema"
import { Config, Context, Duration, Effect, Layer, Option, Predicate, Redacted, Result, Schema } from "effect"
import * as Topology from "./Topology.ts"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * Settings shared by Publisher, Consumer and Dlq.
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
  /**
   * The application whose processes share one read of the stream (`HYVVE_APP`). When set, a
   * subscription is routed: the application reads the stream once and forwards each event to the
   * inbox of each subscription that takes it, so the cost of an event does not grow with the
   * subscriptions that skip it (see `Consumer`). Subscriptions that ask for `isolated` or
   * `startFrom: "all"` keep their own group on the stream. Defaults to none: every subscription
   * is its own group on the stream, as in 0.1 and the NestJS bus.
   *
   * **Gotchas**: switching a running subscription between the two modes does not carry its
   * position over: a routed subscription starts with the events read after it starts.
   */
  readonly application: string | undefined
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
  /**
   * Mints the id of every published event. Fixed when the layer is built: `EventId.cuid2` by
   * default (or the `EventId.Generator` provided to the layer), `EventId.uuidV7` with
   * `eventId: "uuidv7"` / `HYVVE_EVENT_ID=uuidv7`.
   */
  readonly eventId: EventId.IdGenerator
  /**
   * The event types patterns and names resolve against, by default: the platform catalog merged
   * with the `catalog` option.
   */
  readonly catalog: Catalog.Catalog<EventType.Any>
  /**
   * How events are spread over streams (see `Topology`): `single` (default, the 0.1 and NestJS
   * keys), `family`, or `partitioned:N[:tenant|aggregate]`.
   */
  readonly topology: Topology.Topology
  /**
   * The topology being migrated from, while its streams still hold events: subscriptions read
   * its streams too, publishers write the current one only. Defaults to none.
   */
  readonly previousTopology: Topology.Topology | undefined
  /**
   * Tag the `single` stream's keys with a Redis Cluster hash tag too (the other topologies always
   * are): needed on a cluster; renames the keys, which the NestJS bus does not follow. Defaults
   * to false.
   */
  readonly hashTags: boolean
}

/**
 * The id generators that can be named in configuration.
 *
 * @category models
 * @since 0.1.0
 */
export type EventIdName = "cuid2" | "uuidv7"

/**
 * Settings as callers write them: any subset, durations in any `Duration.Input` form, the id
 * generator by name or as a generator, and the application's own event catalog (merged with the
 * platform catalog).
 *
 * @category models
 * @since 0.1.0
 */
export type Options =
  & {
    readonly [K in Exclude<keyof BusSettings, "eventId" | "catalog" | "topology" | "previousTopology">]?:
      | (BusSettings[K] extends Duration.Duration ? Duration.Input : BusSettings[K])
      | undefined
  }
  & {
    readonly eventId?: EventIdName | EventId.IdGenerator | undefined
    readonly catalog?: Catalog.Catalog<EventType.Any> | undefined
    /** A `Topology` or its text form (`"partitioned:16"`). */
    readonly topology?: Topology.Topology | string | undefined
    readonly previousTopology?: Topology.Topology | string | undefined
  }

/**
 * Provides the bus settings.
 *
 * @category services
 * @since 0.1.0
 */
export class BusConfig extends Context.Service<BusConfig, BusSettings>()("@hyvve/bus/BusConfig") {}

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/**
 * A setting has a value the bus cannot work with (or a required one is missing). `variable` is
 * the environment variable (`HYVVE_RETRY_POLL`) or, for an option given in code, the option
 * (`retryPoll`); `value` is what it was (absent when missing; a URL's password is masked);
 * `expected` is the accepted form.
 *
 * @category errors
 * @since 0.1.0
 */
export class ConfigError extends Schema.TaggedError<ConfigError>("@hyvve/bus/BusConfig/ConfigError")(
  "ConfigError",
  { variable: Schema.String, value: Schema.optionalKey(Schema.String), expected: Schema.String }
) {
  override get message(): string {
    return this.value === undefined ?
      `${this.variable} is not set: expected ${this.expected}` :
      `${this.variable}=${JSON.stringify(this.value)} is invalid: expected ${this.expected}`
  }
}

// ---------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------

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
  application: undefined,
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
  circuitThreshold: 20,
  eventId: EventId.cuid2,
  catalog: Catalog.platform,
  topology: Topology.single,
  previousTopology: undefined,
  hashTags: false
}

/**
 * The environment variable of every setting that can be read from the environment.
 *
 * @category configuration
 * @since 0.1.0
 */
export const variables = {
  prefix: "HYVVE_PREFIX",
  group: "HYVVE_GROUP",
  consumer: "HYVVE_CONSUMER",
  application: "HYVVE_APP",
  source: "HYVVE_SOURCE",
  block: "HYVVE_BLOCK",
  batchSize: "HYVVE_BATCH_SIZE",
  retention: "HYVVE_RETENTION",
  dlqRetention: "HYVVE_DLQ_RETENTION",
  dlqMaxLength: "HYVVE_DLQ_MAX_LENGTH",
  claimTimeout: "HYVVE_CLAIM_TIMEOUT",
  consumerIdleTimeout: "HYVVE_CONSUMER_IDLE_TIMEOUT",
  retryPoll: "HYVVE_RETRY_POLL",
  shutdownTimeout: "HYVVE_SHUTDOWN_TIMEOUT",
  circuitThreshold: "HYVVE_CIRCUIT_THRESHOLD",
  eventId: "HYVVE_EVENT_ID",
  topology: "HYVVE_TOPOLOGY",
  previousTopology: "HYVVE_TOPOLOGY_PREVIOUS",
  hashTags: "HYVVE_HASH_TAGS"
} as const satisfies { readonly [K in keyof BusSettings]?: string }

/**
 * The environment's values, as text, by setting (unset and empty variables left out).
 *
 * @category models
 * @since 0.1.0
 */
export type FromEnv = { readonly [K in keyof typeof variables]?: string }

/**
 * Resolves options given in code (over `fromEnv`, over the defaults) and checks every value.
 * `generator` is the id generator used when neither names one.
 *
 * @category constructors
 * @since 0.1.0
 */
export const resolve = (
  options: Options,
  fromEnv: FromEnv = {},
  generator: EventId.IdGenerator = defaults.eventId
): Result.Result<BusSettings, ConfigError> =>
  Result.gen(function*() {
    // Each setting: the code's option if given, else the environment's text, else the default.
    const setting = <K extends keyof typeof variables, A>(
      key: K,
      fromCode: (input: NonNullable<Options[K]>) => A | undefined,
      fromText: (text: string) => A | undefined,
      fallback: A,
      form: Form<A>
    ): Result.Result<A, ConfigError> => {
      const code = options[key]
      if (code !== undefined) {
        const value = fromCode(code)
        return value !== undefined && form.valid(value) ?
          Result.succeed(value) :
          Result.fail(new ConfigError({ variable: key, value: show(code), expected: form.expected }))
      }
      const text = fromEnv[key]
      if (text === undefined) return Result.succeed(fallback)
      const value = fromText(text)
      return value !== undefined && form.valid(value) ?
        Result.succeed(value) :
        Result.fail(new ConfigError({ variable: variables[key], value: text, expected: form.expected }))
    }
    const text = <K extends "prefix" | "group" | "consumer" | "source">(key: K, form: Form<string>) =>
      setting(key, (s: string) => s, (s) => s, defaults[key], form)
    const duration = <K extends DurationKey>(key: K, form: Form<Duration.Duration>) =>
      setting(key, (input: Duration.Input) => Option.getOrUndefined(Duration.fromInput(input)), parseDuration, defaults[key], form)
    const count = <K extends "batchSize" | "dlqMaxLength" | "circuitThreshold">(key: K) =>
      setting(key, (n: number) => n, parseCount, defaults[key], positiveInt)

    const topologyOf = (input: Topology.Topology | string) => typeof input === "string" ? Topology.parse(input) : input
    const topology = yield* setting("topology", topologyOf, Topology.parse, defaults.topology, topologyForm)
    const previousTopology = yield* setting(
      "previousTopology",
      topologyOf,
      Topology.parse,
      defaults.previousTopology,
      optionalTopologyForm
    )
    const hashTags = yield* setting("hashTags", (b: boolean) => b, parseBoolean, defaults.hashTags, boolean)
    const prefix = yield* text("prefix", keyPrefix)
    // A brace in the prefix would become the hash tag of every key: all streams in one slot.
    if ((topology._tag !== "Single" || hashTags || previousTopology !== undefined) && /[{}]/.test(prefix)) {
      return yield* Result.fail(
        new ConfigError({
          variable: options.prefix === undefined ? variables.prefix : "prefix",
          value: prefix,
          expected: "a key prefix without { or } (the keys of tagged topologies carry a hash tag in braces)"
        })
      )
    }

    return {
      prefix,
      group: yield* text("group", nonEmpty("a consumer group name")),
      consumer: yield* text("consumer", nonEmpty("a consumer name")),
      application: yield* setting(
        "application",
        (s: string) => s,
        (s) => s,
        defaults.application,
        optional(nonEmpty("an application name"))
      ),
      source: yield* text("source", nonEmpty("a source name such as platform")),
      block: yield* duration("block", positiveDuration),
      batchSize: yield* count("batchSize"),
      retention: yield* duration("retention", positiveDuration),
      dlqRetention: yield* duration("dlqRetention", positiveDuration),
      dlqMaxLength: yield* count("dlqMaxLength"),
      claimTimeout: yield* duration("claimTimeout", positiveDuration),
      consumerIdleTimeout: yield* duration("consumerIdleTimeout", positiveDuration),
      retryPoll: yield* duration("retryPoll", positiveDuration),
      shutdownTimeout: yield* duration("shutdownTimeout", nonNegativeDuration),
      circuitThreshold: yield* count("circuitThreshold"),
      eventId: yield* setting(
        "eventId",
        (input: EventIdName | EventId.IdGenerator) => typeof input === "string" ? generators[input] : input,
        (name) => isEventIdName(name) ? generators[name] : undefined,
        generator,
        idGenerator
      ),
      catalog: options.catalog === undefined ? defaults.catalog : Catalog.merge(Catalog.platform, options.catalog),
      topology,
      previousTopology,
      hashTags
    }
  })

/**
 * Resolves options given in code against the defaults.
 *
 * **Gotchas**
 *
 * An invalid option is a programmer error: `make` throws a `ConfigError` naming it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): BusSettings => Result.getOrThrow(resolve(options))

/**
 * Provides the settings from options given in code (defaults for what is left out). When no
 * `eventId` is given, the `EventId.Generator` provided to this layer mints ids.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<BusConfig> =>
  Layer.effect(BusConfig, Effect.map(EventId.Generator, (generator) => Result.getOrThrow(resolve(options, {}, generator))))

/**
 * Reads the `HYVVE_*` variables (see `variables`) as text from the current `ConfigProvider`.
 * Unset and empty variables are left out.
 *
 * @category configuration
 * @since 0.1.0
 */
export const readEnv: Effect.Effect<FromEnv, ConfigError> = Effect.gen(function*() {
  const out: { -readonly [K in keyof FromEnv]: FromEnv[K] } = {}
  for (const [key, variable] of Object.entries(variables)) {
    const text = yield* readVariable(variable)
    if (text !== undefined) Object.assign(out, { [key]: text })
  }
  return out
})

/**
 * Provides the settings from the environment (`HYVVE_*`, see `variables`), with `options` given
 * in code laid over them, as Effect's `ShardingConfig.layerFromEnv` does: an option in code wins,
 * the environment decides the rest, the defaults fill what neither sets. Fails with a
 * `ConfigError` for a bad value.
 *
 * Durations are accepted as `500ms`, `5s`, `2m`, `1h`, `30d`, `1w` or in Effect's form
 * (`"5 seconds"`); counts as positive integers; `HYVVE_EVENT_ID` as `cuid2` or `uuidv7`;
 * `HYVVE_TOPOLOGY` and `HYVVE_TOPOLOGY_PREVIOUS` as `single`, `family` or
 * `partitioned:N[:tenant|aggregate]`; `HYVVE_HASH_TAGS` as `true` or `false`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromEnv = (options: Options = {}): Layer.Layer<BusConfig, ConfigError> =>
  Layer.effect(BusConfig, settingsFromEnv(options))

/**
 * The settings from the environment with `options` laid over them (see `layerFromEnv`).
 *
 * @category configuration
 * @since 0.1.0
 */
export const settingsFromEnv = (options: Options = {}): Effect.Effect<BusSettings, ConfigError> =>
  Effect.gen(function*() {
    const fromEnv = yield* readEnv
    const generator = yield* EventId.Generator
    return yield* Effect.fromResult(resolve(options, fromEnv, generator))
  })

/**
 * Reads `REDIS_URL`: a `redis://` or `rediss://` URL with a host. Fails with a `ConfigError`
 * naming it when it is missing or not such a URL (its password masked in the error).
 *
 * @category configuration
 * @since 0.1.0
 */
export const redisUrl: Effect.Effect<Redacted.Redacted<string>, ConfigError> = Effect.gen(function*() {
  const expected = "a redis:// or rediss:// URL such as redis://127.0.0.1:6379"
  const text = yield* readVariable("REDIS_URL")
  if (text === undefined) return yield* new ConfigError({ variable: "REDIS_URL", expected })
  const url = Result.try(() => new URL(text))
  if (Result.isFailure(url) || !redisProtocols.has(url.success.protocol) || url.success.hostname === "") {
    return yield* new ConfigError({
      variable: "REDIS_URL",
      value: Result.isSuccess(url) ? masked(text, url.success) : text,
      expected
    })
  }
  return Redacted.make(text)
})

/**
 * Reads `REDIS_CLUSTER_NODES`: some nodes of a Redis Cluster as `host:port` separated by commas
 * (`127.0.0.1:7000,127.0.0.1:7001`). Fails with a `ConfigError` naming it when it is missing or
 * an entry is not `host:port` with a port in 1–65535.
 *
 * @category configuration
 * @since 0.2.0
 */
export const redisClusterNodes: Effect.Effect<
  ReadonlyArray<{ readonly host: string; readonly port: number }>,
  ConfigError
> = Effect.gen(function*() {
  const expected = "host:port entries separated by commas, such as 127.0.0.1:7000,127.0.0.1:7001"
  const text = yield* readVariable("REDIS_CLUSTER_NODES")
  if (text === undefined) return yield* new ConfigError({ variable: "REDIS_CLUSTER_NODES", expected })
  const nodes: Array<{ readonly host: string; readonly port: number }> = []
  for (const entry of text.split(",")) {
    // A host has no slash: `redis://host:port` is a URL, not an entry.
    const match = /^\s*([^\s/]+):(\d{1,5})\s*$/.exec(entry)
    const port = match === null ? Number.NaN : Number(match[2])
    if (match === null || !(port >= 1 && port <= 65535)) {
      return yield* new ConfigError({ variable: "REDIS_CLUSTER_NODES", value: text, expected })
    }
    nodes.push({ host: match[1]!, port })
  }
  return nodes
})

// ---------------------------------------------------------------------------------------------
// internal
// ---------------------------------------------------------------------------------------------

type DurationKey =
  | "block"
  | "retention"
  | "dlqRetention"
  | "claimTimeout"
  | "consumerIdleTimeout"
  | "retryPoll"
  | "shutdownTimeout"

/** What a setting accepts, and how that is said in an error. */
interface Form<A> {
  readonly expected: string
  readonly valid: (value: A) => boolean
}

const durationForms = "500ms, 5s, 2m, 1h, 30d, 1w or \"5 seconds\""

const positiveDuration: Form<Duration.Duration> = {
  expected: `a positive duration such as ${durationForms}`,
  valid: (d) => Duration.isFinite(d) && Duration.isGreaterThan(d, Duration.zero)
}

const nonNegativeDuration: Form<Duration.Duration> = {
  expected: `a duration of zero or more such as 0s, ${durationForms}`,
  valid: (d) => Duration.isFinite(d) && Duration.isGreaterThanOrEqualTo(d, Duration.zero)
}

const positiveInt: Form<number> = {
  expected: "a positive integer such as 200",
  valid: (n) => Number.isSafeInteger(n) && n >= 1
}

const nonEmpty = (what: string): Form<string> => ({ expected: `a non-empty ${what}`, valid: (s) => s.trim() !== "" })

const optional = <A>(form: Form<A>): Form<A | undefined> => ({
  expected: form.expected,
  valid: (a) => a === undefined || form.valid(a)
})

const keyPrefix: Form<string> = {
  expected: "a non-empty key prefix without spaces, such as hyvve",
  valid: (s) => s !== "" && !/\s/.test(s)
}

const idGenerator: Form<EventId.IdGenerator> = {
  expected: "cuid2 or uuidv7",
  valid: (g) => Predicate.hasProperty(g, "next") && typeof g.next === "function"
}

const topologyForm: Form<Topology.Topology> = { expected: Topology.expected, valid: Topology.isValid }

const optionalTopologyForm: Form<Topology.Topology | undefined> = {
  expected: Topology.expected,
  valid: (topology) => topology === undefined || Topology.isValid(topology)
}

const boolean: Form<boolean> = { expected: "true or false", valid: (b) => typeof b === "boolean" }

const parseBoolean = (text: string): boolean | undefined => {
  const t = text.trim().toLowerCase()
  return t === "true" || t === "1" || t === "yes" ? true : t === "false" || t === "0" || t === "no" ? false : undefined
}

const generators: Record<EventIdName, EventId.IdGenerator> = { cuid2: EventId.cuid2, uuidv7: EventId.uuidV7 }

const isEventIdName = (s: string): s is EventIdName => s === "cuid2" || s === "uuidv7"

// The short forms people write (`5s`, `30d`), else Effect's own (`5 seconds`).
const shortDuration = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/
const shortUnits: Readonly<Record<string, string>> = { ms: "millis", s: "seconds", m: "minutes", h: "hours", d: "days", w: "weeks" }
const decodeDuration = Schema.decodeUnknownOption(Schema.DurationFromString)

const parseDuration = (text: string): Duration.Duration | undefined => {
  const trimmed = text.trim()
  const short = shortDuration.exec(trimmed)
  const long = short === null ? trimmed : `${short[1]} ${shortUnits[short[2] ?? ""]}`
  return Option.getOrUndefined(decodeDuration(long))
}

const parseCount = (text: string): number | undefined => (/^\s*\d+\s*$/.test(text) ? Number(text) : undefined)

const show = (value: unknown): string =>
  Duration.isDuration(value) ?
    Duration.format(value) :
    typeof value === "object" && value !== null ?
    "(an object)" :
    String(value)

// One variable as text; unset and empty are the same. A provider that cannot be read names it too.
const readVariable = (variable: string): Effect.Effect<string | undefined, ConfigError> =>
  Effect.map(Config.option(Config.String(variable)), (text) => Option.isSome(text) && text.value !== "" ? text.value : undefined).pipe(
    Effect.mapError((error) => new ConfigError({ variable, expected: `a readable value (${error.message})` }))
  )

const redisProtocols = new Set(["redis:", "rediss:"])

// The URL as given, unless it has a password: then as parsed, with the password masked.
const masked = (text: string, url: URL): string => {
  if (url.password === "") return text
  const copy = new URL(url.href)
  copy.password = "***"
  return copy.href
}
