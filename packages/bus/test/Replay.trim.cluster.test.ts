/**
 * Replay while retention trims the stream at the archive/Redis handover, on a Redis Cluster with
 * the bus's hash tags and a PostgreSQL archive (see `Replay.trim.test.ts`): the copy's check reads
 * the stream in the script's own slot.
 */
import { it } from "@effect/vitest"
import { BusConfig, EventBus, IoRedisClusterStream } from "@hyvve/bus"
import { Effect, Layer } from "effect"
import * as Harness from "./fixtures/Harness.ts"
import * as PgStore from "./fixtures/PgStore.ts"
import * as TrimRace from "./fixtures/TrimRace.ts"
import { describeCluster } from "./utils/Cluster.ts"
import { uniquePrefix } from "./utils/TestEnv.ts"

describeCluster("Replay (cluster, hash tags, PostgreSQL): retention trims during the handover", (nodes) => {
  for (const [before, skip] of [["copyForReplay", 0], ["copyForReplay", 1], ["range", 0], ["range", 1]] as const) {
    it.live(`trimmed right before ${before} #${skip + 1}: every matching event once, in order`, () => {
      const { trigger, layer } = TrimRace.wrap()
      const bus = EventBus.layerServices({ store: PgStore.layer("replaytrimc") }).pipe(
        Layer.provideMerge(layer.pipe(Layer.provide(IoRedisClusterStream.layer({ nodes, connectionName: "hyvve-test-replay-trim" })))),
        Layer.provideMerge(BusConfig.layer({ ...Harness.fast, prefix: uniquePrefix(`replay-trim-${before}-${skip}`), hashTags: true }))
      )
      return TrimRace.scenario(trigger, before, skip).pipe(Effect.provide(bus))
    }, 30_000)
  }
})
