/**
 * Replay while retention trims the stream at the archive/Redis handover (memory stream, memory
 * store): the entries trimmed after the replay chose its boundary are read from the archive, both
 * when the server copies (group target) and when the replay reads the stream itself (handler).
 */
import { describe, it } from "@effect/vitest"
import { BusConfig, EventBus, EventStore, RedisStream } from "@hyvve/bus"
import { Effect, Layer } from "effect"
import * as TrimRace from "./fixtures/TrimRace.ts"

const fast = { claimTimeout: "300 millis", retryPoll: "50 millis", block: "100 millis", shutdownTimeout: "1 second" } as const

describe("Replay (memory): retention trims during the handover", () => {
  for (const [before, skip] of [["copyForReplay", 0], ["copyForReplay", 1], ["range", 0], ["range", 1]] as const) {
    it.live(`trimmed right before ${before} #${skip + 1}: every matching event once, in order`, () => {
      const { trigger, layer } = TrimRace.wrap()
      const bus = EventBus.layerServices({ store: EventStore.layerMemory }).pipe(
        Layer.provideMerge(layer.pipe(Layer.provide(RedisStream.layerMemory))),
        Layer.provideMerge(BusConfig.layer(fast))
      )
      return TrimRace.scenario(trigger, before, skip).pipe(Effect.provide(bus))
    }, 30_000)
  }
})
