/**
 * Replay while retention trims the stream at the archive/Redis handover, on real Redis and
 * PostgreSQL (see `Replay.trim.test.ts`): the server copy's check runs in the Lua script.
 */
import { describe, it } from "@effect/vitest"
import { BusConfig, EventBus, IoRedisStream, RedisStream } from "@hyvve/bus"
import { Effect, Layer } from "effect"
import * as Harness from "./fixtures/Harness.ts"
import * as PgStore from "./fixtures/PgStore.ts"
import * as TrimRace from "./fixtures/TrimRace.ts"
import { redisUrl, uniquePrefix } from "./utils/TestEnv.ts"

describe("Replay (Redis + PostgreSQL): retention trims during the handover", () => {
  for (const [before, skip] of [["copyForReplay", 0], ["copyForReplay", 1], ["range", 0], ["range", 1]] as const) {
    it.live(`trimmed right before ${before} #${skip + 1}: every matching event once, in order`, () => {
      const prefix = uniquePrefix(`replay-trim-${before}-${skip}`)
      const { trigger, layer } = TrimRace.wrap()
      const bus = EventBus.layerServices({ store: PgStore.layer("replaytrim") }).pipe(
        Layer.provideMerge(layer.pipe(Layer.provide(IoRedisStream.layer(RedisStream.options(redisUrl, "hyvve-test-replay-trim"))))),
        Layer.provideMerge(BusConfig.layer({ ...Harness.fast, prefix }))
      )
      return Effect.gen(function*() {
        yield* Effect.addFinalizer(() => Harness.redisBackend().cleanup(prefix))
        yield* TrimRace.scenario(trigger, before, skip).pipe(Effect.provide(bus))
      })
    }, 30_000)
  }
})
