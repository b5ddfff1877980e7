/**
 * The bus side of the benchmark: the bench event type (same payload as the baselines write) and
 * the bus layer every "ours" measurement runs on, with the fast uuidv7 id generator.
 */
import { EventType } from "@hyvve/schema"
import { Effect, Layer, Schema } from "effect"
import { BusConfig, Consumer, EventBus, IoRedisStream, Publisher, RedisStream } from "../src/index.ts"
import { redisUrl, tenantId, userId } from "./lib.ts"

export const BenchTick = EventType.make(
  "bench.tick",
  Schema.Struct({
    seq: Schema.Finite,
    sentAt: Schema.Finite,
    approvalId: Schema.NonEmptyString,
    decidedById: Schema.NonEmptyString,
    decision: Schema.Literals(["approved", "rejected"]),
    notes: Schema.optionalKey(Schema.String)
  }),
  { description: "Benchmark event: an approval decision plus a sequence number and its send time" }
)

/** Who every bench event is published for. */
export const context = { tenantId, userId } as const

/** Entries read per round trip: the same COUNT as the raw consumer. */
export const batchSize = 500

/** The bus over the real Redis, keys under `prefix`, ids from uuidv7. */
export const busLayer = (prefix: string, name: string) =>
  EventBus.layer({
    redis: RedisStream.options(redisUrl, name),
    bus: { prefix, batchSize, source: "bench", eventId: "uuidv7" }
  })
/** Calls per `RedisStream` method, counted when each call starts. */
export type Calls = Map<string, number>

/**
 * Every `RedisStream` call of `service` counted in `calls`. Each call is one round trip (a
 * pipeline, `MULTI`/`EXEC` or one script), except a blocking `readGroup`, which may also wait on
 * the notifier's connection.
 */
const counting = (service: RedisStream.RedisStream["Service"], calls: Calls): RedisStream.RedisStream["Service"] => {
  const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1)
  const wrapped: Record<string, unknown> = {}
  for (const [name, member] of Object.entries(service)) {
    if (typeof member === "function") {
      wrapped[name] = (...args: Array<unknown>) =>
        Effect.suspend(() => {
          count(name)
          return (member as (...a: Array<unknown>) => Effect.Effect<unknown, unknown>)(...args)
        })
    } else if (Effect.isEffect(member)) {
      wrapped[name] = Effect.suspend(() => {
        count(name)
        return member
      })
    } else {
      wrapped[name] = member
    }
  }
  return wrapped as RedisStream.RedisStream["Service"]
}

/** `Publisher` and `Consumer` over a `RedisStream` that counts its calls in `calls`. */
export const countingBusLayer = (prefix: string, name: string, calls: Calls) => {
  const redis = Layer.effect(RedisStream.RedisStream, Effect.map(Effect.service(RedisStream.RedisStream), (s) => counting(s, calls))).pipe(
    Layer.provide(IoRedisStream.layer(RedisStream.options(redisUrl, name)))
  )
  return Layer.mergeAll(Publisher.layer, Consumer.layer).pipe(
    Layer.provideMerge(redis),
    Layer.provideMerge(BusConfig.layer({ prefix, batchSize, source: "bench", eventId: "uuidv7" }))
  )
}
