/**
 * The bus side of the benchmark: the bench event type (same payload as the baselines write) and
 * the bus layer every "ours" measurement runs on, with the fast uuidv7 id generator.
 */
import { EventType } from "@hyvve/schema"
import { Schema } from "effect"
import { EventBus, RedisStream } from "../src/index.ts"
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
