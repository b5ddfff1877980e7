/**
 * Profiling helper (not part of `npm run bench`).
 *
 *   node --cpu-prof --cpu-prof-dir=DIR packages/bus/bench/profile.ts publish [--events=N]
 *   node --cpu-prof --cpu-prof-dir=DIR packages/bus/bench/profile.ts drain [--events=N] [--concurrency=N] [--idempotent]
 *   node --cpu-prof --cpu-prof-dir=DIR packages/bus/bench/profile.ts raw-publish|raw-drain [--events=N]
 *   node packages/bus/bench/profile.ts replay [--events=N] [--batch=N] --profile=FILE.cpuprofile
 *   node packages/bus/bench/profile.ts archive [--events=N] [--archiver=0] [--archive-batch=N] [--phase=publishBatch|archiver] [--profile=FILE]
 *   node packages/bus/bench/profile.ts archive-replay [--events=N] [--profile=FILE]
 *   node packages/bus/bench/profile.ts drain --profile=FILE.cpuprofile ...   # only the measured part
 *   node packages/bus/bench/profile.ts summary FILE.cpuprofile [--top=N]
 *
 * `archive` runs `publishBatch` with the PostgreSQL store and its archiver in this process (needs
 * DATABASE_URL; `--archiver=0`: without the archiver), then waits for the archive to hold every
 * event; `archive-replay` then empties the stream and replays it from the archive into a group.
 * Both print, per phase, the CPU seconds of this process, of the Redis server (`INFO cpu`) and of
 * every `postgres` process (`/proc`): the shared servers count other clients' work too.
 * `publish` runs only `publishBatch` (100 per batch); `drain` pre-fills a stream (untimed, raw
 * ioredis) and drains it with `Consumer.handle`. With `--profile=FILE` (instead of `--cpu-prof`)
 * the profiler runs only around the measured part, through `node:inspector`: start-up, module
 * compilation and the pre-fill stay out of it. `summary` prints the top self-time functions of a
 * profile and the self time per package.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { Effect, Logger } from "effect"
import { Keys, Replay } from "../src/index.ts"
import { busLayer } from "./bus.ts"
import { connect, deleteKeys, prefill } from "./lib.ts"
import * as Baseline from "./baseline.ts"
import * as History from "./history.ts"
import * as Ours from "./ours.ts"

const [command, ...rest] = process.argv.slice(2)
const option = (name: string, fallback: number) => {
  const raw = rest.find((arg) => arg.startsWith(`--${name}=`))
  return raw === undefined ? fallback : Number(raw.slice(name.length + 3))
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}
interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const packageOf = (url: string, name: string): string => {
  if (url === "") return name.startsWith("(") ? name : "(native)"
  if (url.includes("/node_modules/.pnpm/")) return /\/node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? "deps"
  if (url.includes("/packages/bus/src/")) return "@hyvve/bus"
  if (url.includes("/packages/schema/src/")) return "@hyvve/schema"
  if (url.includes("/packages/bus/bench/")) return "bench"
  if (url.startsWith("node:")) return "node"
  return "other"
}

const summary = (file: string, top: number) => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<string, number>()
  const perPackage = new Map<string, number>()
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)
    const dt = profile.timeDeltas[i] ?? 0
    if (node === undefined) continue
    const { functionName, lineNumber, url } = node.callFrame
    const short = url.replace(/^.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, "").replace(/^.*\/packages\//, "packages/")
    const key = `${functionName || "(anonymous)"}  ${short}${url === "" ? "" : `:${lineNumber + 1}`}`
    self.set(key, (self.get(key) ?? 0) + dt)
    const pkg = packageOf(url, functionName)
    perPackage.set(pkg, (perPackage.get(pkg) ?? 0) + dt)
    total += dt
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`
  console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`)
  console.log("self time by package:")
  for (const [name, us] of [...perPackage].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${pct(us)}  ${name}`)
  console.log(`top ${top} functions by self time:`)
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`)
}

const flag = (name: string) => rest.includes(`--${name}`)
const profileFile = rest.find((arg) => arg.startsWith("--profile="))?.slice("--profile=".length)

/** Runs `measured` under the inspector's CPU profiler when `--profile=FILE` was given. */
const profiled = async <A>(measured: () => Promise<A>): Promise<A> => {
  if (profileFile === undefined) return measured()
  const session = new Session()
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.setSamplingInterval", { interval: 200 })
  await session.post("Profiler.start")
  try {
    return await measured()
  } finally {
    const { profile } = await session.post("Profiler.stop")
    writeFileSync(profileFile, JSON.stringify(profile))
    session.disconnect()
    console.log(`profile written to ${profileFile}`)
  }
}

const prefix = `hyvve-bench:${process.pid}:profile`
switch (command) {
  case "publish": {
    const events = option("events", 200_000)
    const redis = await connect("hyvve-bench:profile")
    try {
      const eps = await profiled(() => Ours.publishBatches(prefix, events, 100))
      console.log(`publishBatch: ${Math.round(eps)} events/s over ${events} events`)
    } finally {
      await deleteKeys(redis, prefix)
      await redis.quit()
    }
    break
  }
  case "drain": {
    const events = option("events", 100_000)
    const concurrency = option("concurrency", 64)
    const redis = await connect("hyvve-bench:profile")
    try {
      await prefill(redis, Keys.main(prefix), events)
      const idempotent = flag("idempotent")
      const eps = await profiled(() => Ours.drain(prefix, "profile", events, concurrency, { idempotent }))
      console.log(`drain c=${concurrency}${idempotent ? " idempotent" : ""}: ${Math.round(eps)} events/s over ${events} events`)
    } finally {
      await deleteKeys(redis, prefix)
      await redis.quit()
    }
    break
  }
  case "replay": {
    const events = option("events", 100_000)
    const batch = option("batch", 1000)
    const redis = await connect("hyvve-bench:profile")
    try {
      await prefill(redis, Keys.main(prefix), events)
      await redis.call("XGROUP", "CREATE", Keys.main(prefix), "target", "$")
      const job = await profiled(() => Effect.runPromise(Replay.run({ target: Replay.group("target"), batchSize: batch }).pipe(
        Effect.provide(busLayer(prefix, "hyvve-bench-profile")),
        Effect.provideService(Logger.CurrentLoggers, new Set())
      )))
      const seconds = ((job.finishedAt ?? 0) - (job.startedAt ?? 0)) / 1000
      console.log(`replay from Redis, batch ${batch}: ${Math.round(job.replayed / seconds)} events/s over ${job.replayed} events`)
    } finally {
      await deleteKeys(redis, prefix)
      await redis.quit()
    }
    break
  }
  case "archive":
  case "archive-replay": {
    // publishBatch with the PostgreSQL store and its archiver in this process (`--archiver=0`:
    // without it), then with `archive-replay` the stream emptied and replayed from the archive.
    // Prints the CPU each process spent (this one, Redis, PostgreSQL) next to the rates.
    const events = option("events", 50_000)
    const databaseUrl = process.env["DATABASE_URL"]
    if (databaseUrl === undefined) throw new Error("DATABASE_URL is not set")
    const redis = await connect("hyvve-bench:profile")
    const schema = `hyvve_profile_${process.pid}`
    try {
      const report = await History.cpuProfile({
        prefix,
        schema,
        databaseUrl,
        events,
        archiver: option("archiver", 1) === 1,
        archiveBatch: option("archive-batch", 1000),
        replay: command === "archive-replay",
        profiledPhase: rest.find((arg) => arg.startsWith("--phase="))?.slice("--phase=".length) ??
          (command === "archive-replay" ? "replay" : "publishBatch"),
        profiled
      })
      console.log(report)
    } finally {
      await deleteKeys(redis, prefix)
      await redis.quit()
    }
    break
  }
  case "raw-publish": {
    const events = option("events", 200_000)
    const redis = await connect("hyvve-bench:profile")
    try {
      const eps = await profiled(() => Baseline.xaddBatches(redis, `${prefix}:raw`, events, 100))
      console.log(`raw pipelined XADD: ${Math.round(eps)} events/s over ${events} events`)
    } finally {
      await deleteKeys(redis, prefix)
      await redis.quit()
    }
    break
  }
  case "raw-drain": {
    const events = option("events", 100_000)
    const redis = await connect("hyvve-bench:profile")
    try {
      await prefill(redis, `${prefix}:raw`, events)
      const eps = await profiled(() => Baseline.readAck(redis, `${prefix}:raw`, "profile", events))
      console.log(`raw drain: ${Math.round(eps)} events/s over ${events} events`)
    } finally {
      await deleteKeys(redis, prefix)
      await redis.quit()
    }
    break
  }
  case "summary": {
    const file = rest.find((arg) => !arg.startsWith("--"))
    if (file === undefined) throw new Error("summary needs a .cpuprofile file")
    summary(file, option("top", 30))
    break
  }
  default:
    console.error("usage: profile.ts publish|drain|replay|archive|archive-replay|raw-publish|raw-drain [--events=N] [--batch=N] [--concurrency=N] [--idempotent] [--profile=FILE] | summary FILE [--top=N]")
    process.exitCode = 2
}
