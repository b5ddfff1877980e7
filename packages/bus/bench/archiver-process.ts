/**
 * The history's archiver in a process of its own (child process of the `history` section): the
 * bus layer with the PostgreSQL store and nothing else, which is how an application runs its
 * archiver off the publishing processes (they set `history: { archiver: false }`). The parent
 * starts it at a lower CPU priority, as an operator would with `nice`, and kills it once the
 * archive holds every event.
 */
import { Effect, Layer, Logger } from "effect"
import { EventBus, EventStore, RedisStream } from "../src/index.ts"
import { childConfig, guardChild, redisUrl } from "./lib.ts"

interface Config {
  readonly prefix: string
  readonly databaseUrl: string
  readonly schema: string
  readonly archiveBatch: number
  readonly timeoutMs: number
}

const config = childConfig<Config>()
guardChild(config.timeoutMs)

const archiver = EventBus.layer({
  redis: RedisStream.options(redisUrl, "hyvve-bench-archiver"),
  bus: { prefix: config.prefix, batchSize: 500, source: "bench", block: "1 second" },
  store: EventStore.layerPg({ url: config.databaseUrl, schema: config.schema }),
  history: { archiveBatch: config.archiveBatch }
})

await Effect.runPromise(
  Layer.launch(archiver).pipe(Effect.provideService(Logger.CurrentLoggers, new Set()))
)
