/**
 * One consumer process of the cluster scale-out runs (child process, `cluster-scale.ts`): the bus
 * over `IoRedisClusterStream` with the run's topology, `Consumer.handle(BenchTick, h, { group,
 * concurrency, startFrom: "all" })` where `h` only counts. Sends "ready" once the layer is
 * connected, subscribes on "go", and on "stop" (the parent saw the group settle every stream)
 * reports what it handled and the CPU it used since "go", then closes the scope.
 */
import { Effect, Layer } from "effect"
import { BusConfig, Consumer, EventBus, IoRedisClusterStream } from "../src/index.ts"
import { BenchTick, batchSize } from "./bus.ts"
import { childConfig, guardChild, releaseChild, send, waitForLine, wallNow } from "./lib.ts"

interface Config {
  readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>
  readonly prefix: string
  readonly topology: string
  readonly group: string
  readonly concurrency: number
  readonly timeoutMs: number
}

const config = childConfig<Config>()
let handled = 0
guardChild(config.timeoutMs, () => `handled ${handled}`)
// Both listen from the start: stdin flows, and a line with no listener yet would be lost.
const go = waitForLine("go")
const stop = waitForLine("stop")

const layer = EventBus.layerServices().pipe(
  Layer.provideMerge(IoRedisClusterStream.layer({ nodes: config.nodes, connectionName: "hyvve-bench-scale" })),
  Layer.provideMerge(
    BusConfig.layer({ prefix: config.prefix, topology: config.topology, hashTags: true, batchSize, source: "bench", eventId: "uuidv7" })
  )
)

const program = Effect.gen(function*() {
  send({ kind: "ready" })
  yield* Effect.promise(() => go)
  const cpu0 = process.cpuUsage()
  let firstWall = 0
  let lastWall = 0
  yield* Consumer.handle(
    BenchTick,
    () =>
      Effect.sync(() => {
        const now = wallNow()
        if (handled === 0) firstWall = now
        lastWall = now
        handled++
      }),
    { group: config.group, concurrency: config.concurrency, startFrom: "all" }
  )
  yield* Effect.promise(() => stop)
  const cpu = process.cpuUsage(cpu0)
  send({ kind: "result", handled, firstWall, lastWall, cpuUs: cpu.user + cpu.system })
}).pipe(Effect.scoped, Effect.provide(layer))

try {
  await Effect.runPromise(program)
  releaseChild()
} catch (error) {
  process.stderr.write(`cluster-consumer failed: ${String(error)}\n`)
  process.exit(1)
}
