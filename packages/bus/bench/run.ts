/**
 * `npm run bench`: the bus against hand-written ioredis baselines, on the real Redis, in one run.
 * Every figure is a ratio against a baseline measured in the same run, interleaved round by round
 * (the order flips every round), and the table reports medians over the rounds. See README.md.
 */
import { execFileSync } from "node:child_process"
import os from "node:os"
import { Keys } from "../src/index.ts"
import * as Baseline from "./baseline.ts"
import * as ClusterBench from "./cluster.ts"
import * as ClusterScale from "./cluster-scale.ts"
import * as Fanout from "./fanout.ts"
import type { Calls } from "./bus.ts"
import {
  connect,
  deleteKeys,
  killChildren,
  type Latency,
  latency,
  median,
  medianInterval,
  type Memory,
  parseFlags,
  pendingCount,
  prefill,
  startChild
} from "./lib.ts"
import * as History from "./history.ts"
import * as Ours from "./ours.ts"

const flags = parseFlags(process.argv.slice(2))
const runPrefix = `hyvve-bench:${process.pid}:`
const admin = await connect("hyvve-bench:admin")

// ---------------------------------------------------------------------------------------------
// cleanup: children and keys, whatever happens
// ---------------------------------------------------------------------------------------------

let cleaning: Promise<void> | undefined
const cleanup = (): Promise<void> => {
  cleaning ??= (async () => {
    killChildren()
    stopTrimmer()
    try {
      const removed = await deleteKeys(admin, runPrefix)
      log(`cleanup: removed ${removed} keys under ${runPrefix}`)
    } catch (error) {
      log(`cleanup: could not delete keys under ${runPrefix}: ${String(error)}`)
    }
    admin.disconnect()
  })()
  return cleaning
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping`)
    void cleanup().finally(() => process.exit(130))
  })
}
process.on("exit", killChildren)

const t0 = performance.now()
function log(message: string): void {
  process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${message}\n`)
}

// ---------------------------------------------------------------------------------------------
// sizes
// ---------------------------------------------------------------------------------------------

const rate = 1000
const sizes = flags.quick
  ? { publish: 10_000, single: 1000, drain: 15_000, failure: 10_000, e2e: 10_000, e2eLatency: 1000, warmup: 200, cuid2: 1000, uuid: 50_000, history: 10_000 }
  : { publish: 50_000, single: 5000, drain: 100_000, failure: 10_000, e2e: 100_000, e2eLatency: 5000, warmup: 500, cuid2: 3000, uuid: 200_000, history: 50_000 }
const batch = 100
const wants = (section: string) => flags.only === undefined || flags.only.has(section)
/** Child time limit: generous for `count` events at ≥ 500 events/s. */
const childTimeout = (count: number) => 30_000 + count * 2

// ---------------------------------------------------------------------------------------------
// samples
// ---------------------------------------------------------------------------------------------

interface Samples {
  eps: Array<number>
  p50: Array<number>
  p99: Array<number>
  notes: Array<string>
}
const samples = new Map<string, Samples>()
const sample = (name: string): Samples => {
  let s = samples.get(name)
  if (s === undefined) {
    s = { eps: [], p50: [], p99: [], notes: [] }
    samples.set(name, s)
  }
  return s
}
const recordEps = (name: string, eps: number) => {
  sample(name).eps.push(eps)
  log(`  ${name}: ${fmtInt(eps)} events/s`)
}
const recordLatency = (name: string, l: Latency, eps?: number) => {
  const s = sample(name)
  s.p50.push(l.p50)
  s.p99.push(l.p99)
  if (eps !== undefined) s.eps.push(eps)
  log(`  ${name}: p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, max ${l.max.toFixed(2)} ms (n=${l.n})`)
}

let tags = 0
const nextPrefix = (label: string) => `${runPrefix}${label}-${++tags}`

// ---------------------------------------------------------------------------------------------
// end to end (two child processes)
// ---------------------------------------------------------------------------------------------

/** Snapshots at start (after startup), at `memoryAt` event counts, and at the end. */
interface MemoryReport {
  readonly start: Memory
  readonly at: ReadonlyArray<Memory>
  readonly end: Memory
}

interface E2eResult {
  readonly eps: number
  /** Rate the publisher achieved (paced runs: should be ~1000/s). */
  readonly publishEps: number
  readonly latency: Latency
  readonly pending: number | undefined
  readonly publisherMemory: MemoryReport
  readonly consumerMemory: MemoryReport
}

let trimmer: ReturnType<typeof setInterval> | undefined
function stopTrimmer(): void {
  if (trimmer !== undefined) clearInterval(trimmer)
  trimmer = undefined
}

/** Trims entries the group has read (2 s margin), so a long run keeps Redis memory bounded. */
const startTrimmer = (key: string, group: string) => {
  let busy = false
  trimmer = setInterval(() => {
    if (busy) return
    busy = true
    void (async () => {
      const groups = (await admin.call("XINFO", "GROUPS", key)) as Array<Array<string | number>>
      for (const row of groups) {
        const at = (field: string) => row[row.indexOf(field) + 1]
        if (at("name") !== group) continue
        const ms = Number(String(at("last-delivered-id")).split("-")[0])
        if (ms > 2000) await admin.call("XTRIM", key, "MINID", "~", `${ms - 2000}-0`)
      }
    })().catch(() => {}).finally(() => {
      busy = false
    })
  }, 500)
}

const e2e = async (options: {
  readonly side: "raw" | "ours"
  readonly mode: "batch" | "paced"
  readonly concurrency: number
  readonly count: number
  readonly warmup: number
  readonly long?: boolean
}): Promise<E2eResult> => {
  const prefix = nextPrefix(options.side === "raw" ? "raw-e2e" : `e2e-c${options.concurrency}`)
  const group = "bench-e2e"
  const key = options.side === "raw" ? `${prefix}:stream` : Keys.main(prefix)
  const total = options.count + options.warmup
  const timeoutMs = childTimeout(total)
  // Long run: snapshots after the warm-up (5 %) and half way; the second half must not grow.
  const memoryAt = options.long === true ? [Math.min(total, Math.max(10_000, Math.floor(total / 20))), Math.floor(total / 2)] : []
  const nodeArgs = (role: string) =>
    flags.cpuProfDir !== undefined && options.side === "ours"
      ? ["--cpu-prof", `--cpu-prof-dir=${flags.cpuProfDir}`, `--cpu-prof-name=${role}-${options.mode}-c${options.concurrency}-${process.pid}-${tags}.cpuprofile`]
      : []
  try {
    const consumer = options.side === "raw"
      ? startChild("raw-consumer.ts", { key, group, count: total, warmup: options.warmup, latencies: options.mode === "paced", memoryAt }, { timeoutMs })
      : startChild(
        "bus-consumer.ts",
        { prefix, group, concurrency: options.concurrency, count: total, warmup: options.warmup, latencies: options.mode === "paced", memoryAt },
        { timeoutMs, nodeArgs: nodeArgs("consumer") }
      )
    const publisherConfig = { mode: options.mode, count: total, batch, rate, memoryAt }
    const publisher = options.side === "raw"
      ? startChild("raw-publisher.ts", { ...publisherConfig, key }, { timeoutMs })
      : startChild(
        "bus-publisher.ts",
        { ...publisherConfig, prefix, maxBacklog: options.long === true ? 200_000 : undefined },
        { timeoutMs, nodeArgs: nodeArgs("publisher") }
      )
    await Promise.all([consumer.message("ready"), publisher.message("ready")])
    publisher.go()
    if (options.long === true) startTrimmer(key, group)
    const [pub, con] = await Promise.all([publisher.message("result"), consumer.message("result")])
    await Promise.all([publisher.exited, consumer.exited])
    stopTrimmer()
    const pending = await pendingCount(admin, key, group)
    const elapsed = (con["lastWall"] as number) - (pub["startWall"] as number)
    return {
      eps: (total * 1000) / elapsed,
      publishEps: (total * 1000) / ((pub["endWall"] as number) - (pub["startWall"] as number)),
      latency: latency(con["latencies"] as Array<number>),
      pending,
      publisherMemory: pub["memory"] as E2eResult["publisherMemory"],
      consumerMemory: con["memory"] as E2eResult["consumerMemory"]
    }
  } finally {
    stopTrimmer()
    killChildren()
    await deleteKeys(admin, prefix)
  }
}

const checkAcked = (name: string, result: E2eResult) => {
  if (result.pending !== 0) {
    sample(name).notes.push(`pending after exit: ${result.pending}`)
    log(`  WARNING ${name}: ${result.pending} entries still pending after the consumer closed`)
  }
}

// ---------------------------------------------------------------------------------------------
// rounds
// ---------------------------------------------------------------------------------------------

const names = {
  xadd: "baseline  raw pipelined XADD (100/pipeline)",
  publishBatch: "ours      publishBatch (100/batch)",
  rawSingle: "baseline  raw XADD awaited one by one @1000/s",
  single: "ours      publish awaited one by one @1000/s",
  rawDrain: "baseline  raw XREADGROUP(500)+XACK drain",
  drain1: "ours      Consumer.handle drain, c=1",
  drain64: "ours      Consumer.handle drain, c=64",
  drainIdem: "ours      Consumer.handle drain, c=1, idempotent",
  failPlain: "ours      drain c=1 of the failure stream (no failure)",
  failOnce: "ours      fail once, retry after 0 ms, then ack, c=1",
  rawE2e: "baseline  raw e2e, 2 processes (pipelined XADD)",
  e2e1: "ours      e2e publishBatch→handle→ack, c=1",
  e2e64: "ours      e2e publishBatch→handle→ack, c=64",
  rawE2eLatency: "baseline  raw e2e latency @1000/s",
  e2eLatency1: "ours      e2e latency @1000/s, c=1",
  e2eLatency64: "ours      e2e latency @1000/s, c=64",
  clusterPlain: "baseline  cluster XADD, ioredis Cluster, no reader",
  clusterPlainBlocked: "baseline  cluster XADD, XREAD BLOCK 100 on the same Cluster",
  clusterBackend: "ours      cluster append, no reader waiting",
  clusterBackendWaiting: "ours      cluster append, readers waiting on every master",
  historyPlain: "ours      publishBatch (100/batch), no store",
  historyArchiver: "ours      publishBatch, archiver in this process",
  historyArchiverOwn: "ours      publishBatch, archiver process at nice 19",
  replayRedisStore: "ours      replay from Redis into a group, store",
  replayRedisNoStore: "ours      replay from Redis into a group, no store",
  replayArchive: "ours      replay from the archive into a group"
} as const

/** Runs the steps in order, or reversed (alternate rounds), so neither side always goes first. */
const alternate = async (round: number, steps: ReadonlyArray<() => Promise<void>>) => {
  for (const step of round % 2 === 0 ? steps : [...steps].reverse()) await step()
}

const redisVersion = /redis_version:(\S+)/.exec(await admin.info("server"))?.[1] ?? "unknown"
const cpus = os.cpus()
/** The commit measured, and whether the bus/schema sources differ from it. */
const revision = (() => {
  try {
    const git = (...args: Array<string>) => execFileSync("git", args, { cwd: new URL(".", import.meta.url), encoding: "utf8" }).trim()
    const dirty = git("status", "--porcelain", "--", "../src", "../../schema/src") !== ""
    return `${git("rev-parse", "--short", "HEAD")}${dirty ? " + uncommitted changes in packages/{bus,schema}/src" : ""}`
  } catch {
    return "unknown"
  }
})()
const started = performance.now()
const header = [
  `@hyvve/bus benchmark${flags.quick ? " (--quick)" : ""}: ${flags.rounds} interleaved rounds, medians reported`,
  `machine: ${cpus.length} cpus (${cpus[0]?.model.trim() ?? "unknown"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  `node ${process.version}, redis ${redisVersion}, ids: uuidv7 (eventId: "uuidv7") for every bus figure`,
  `source: ${revision}`
]
for (const line of header) log(line)

let drainPrefix: string | undefined
let failurePrefix: string | undefined
/** Per round: extra RedisStream calls per failed event. */
const failureTrips: Array<number> = []
/** Per round: the archive's lag behind publishBatch and the PENDING rows' behind a replay, ms. */
const historyLags = { archive: [] as Array<number>, archiveOwn: [] as Array<number>, pending: [] as Array<number> }
const databaseUrl = process.env["DATABASE_URL"]
const fmtCalls = (calls: Calls) =>
  Array.from(calls).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`).join(", ")
try {
  if (wants("drain")) {
    drainPrefix = nextPrefix("drain")
    log(`prefilling ${fmtInt(sizes.drain)} entries for the drain measurements`)
    await prefill(admin, Keys.main(drainPrefix), sizes.drain)
  }
  if (wants("failure")) {
    failurePrefix = nextPrefix("failure")
    log(`prefilling ${fmtInt(sizes.failure)} entries for the failure path`)
    await prefill(admin, Keys.main(failurePrefix), sizes.failure)
  }
  for (let round = 0; round < flags.rounds; round++) {
    log(`round ${round + 1}/${flags.rounds}`)
    if (wants("publish")) {
      const rawKey = `${nextPrefix("xadd")}:stream`
      const oursPrefix = nextPrefix("publish")
      await alternate(round, [
        async () => recordEps(names.xadd, await Baseline.xaddBatches(admin, rawKey, sizes.publish, batch)),
        async () => recordEps(names.publishBatch, await Ours.publishBatches(oursPrefix, sizes.publish, batch))
      ])
      await deleteKeys(admin, rawKey)
      await deleteKeys(admin, oursPrefix)
    }
    if (wants("single")) {
      const rawKey = `${nextPrefix("single")}:stream`
      const oursPrefix = nextPrefix("single")
      await alternate(round, [
        async () => recordLatency(names.rawSingle, latency(await Baseline.xaddPaced(admin, rawKey, sizes.single, sizes.warmup, rate))),
        async () => recordLatency(names.single, latency(await Ours.publishPaced(oursPrefix, sizes.single, sizes.warmup, rate)))
      ])
      await deleteKeys(admin, rawKey)
      await deleteKeys(admin, oursPrefix)
    }
    if (drainPrefix !== undefined) {
      const prefix = drainPrefix
      await alternate(round, [
        // Each compared pair runs back to back (raw and c=1, c=1 and idempotent): the machine's
        // speed drifts within a round, and the drift between two neighbours is the smallest.
        async () => recordEps(names.rawDrain, await Baseline.readAck(admin, Keys.main(prefix), `raw-r${round}`, sizes.drain)),
        async () => recordEps(names.drain1, await Ours.drain(prefix, `ours-c1-r${round}`, sizes.drain, 1)),
        async () => recordEps(names.drainIdem, await Ours.drain(prefix, `ours-idem-r${round}`, sizes.drain, 1, { idempotent: true })),
        async () => recordEps(names.drain64, await Ours.drain(prefix, `ours-c64-r${round}`, sizes.drain, 64))
      ])
    }
    if (failurePrefix !== undefined) {
      const prefix = failurePrefix
      const plainCalls: Calls = new Map()
      const failCalls: Calls = new Map()
      let failed = 0
      await alternate(round, [
        async () => recordEps(names.failPlain, await Ours.drain(prefix, `plain-r${round}`, sizes.failure, 1, { calls: plainCalls })),
        async () => {
          const result = await Ours.failOnce(prefix, `fail-r${round}`, sizes.failure, failCalls)
          failed = result.failed
          recordEps(names.failOnce, result.eps)
          log(`    ${result.failed} failures, ${result.logLines} log lines`)
        }
      ])
      const total = (calls: Calls) => Array.from(calls.values()).reduce((a, b) => a + b, 0)
      const extra = (total(failCalls) - total(plainCalls)) / Math.max(1, failed)
      failureTrips.push(extra)
      log(`    RedisStream calls, no failure: ${fmtCalls(plainCalls)}`)
      log(`    RedisStream calls, fail once:  ${fmtCalls(failCalls)}`)
      log(`    round trips per failed event (fail-once calls − plain calls) ÷ failures: ${extra.toFixed(3)}`)
    }
    if (wants("e2e")) {
      const one = async (name: string, side: "raw" | "ours", concurrency: number) => {
        const result = await e2e({ side, mode: "batch", concurrency, count: sizes.e2e, warmup: 0 })
        recordEps(name, result.eps)
        checkAcked(name, result)
      }
      await alternate(round, [
        // The compared pair (raw and c=64) back to back, as in the drain.
        () => one(names.rawE2e, "raw", 1),
        () => one(names.e2e64, "ours", 64),
        () => one(names.e2e1, "ours", 1)
      ])
    }
    if (wants("e2e-latency")) {
      const one = async (name: string, side: "raw" | "ours", concurrency: number) => {
        const result = await e2e({ side, mode: "paced", concurrency, count: sizes.e2eLatency, warmup: sizes.warmup })
        recordLatency(name, result.latency, result.publishEps)
        checkAcked(name, result)
      }
      await alternate(round, [
        () => one(names.rawE2eLatency, "raw", 1),
        () => one(names.e2eLatency1, "ours", 1),
        () => one(names.e2eLatency64, "ours", 64)
      ])
    }
    if (wants("history")) {
      if (databaseUrl === undefined) {
        if (round === 0) log("history: DATABASE_URL is not set; skipped")
      } else {
        log(`  history: ${fmtInt(sizes.history)} events`)
        const prefix = nextPrefix("history")
        try {
          const result = await History.round({
            prefix,
            schema: `hyvve_bench_${process.pid}_${round}`,
            databaseUrl,
            events: sizes.history,
            round,
            log
          })
          sample(names.historyPlain).eps.push(result.publishWithout)
          sample(names.historyArchiver).eps.push(result.publishWith)
          sample(names.historyArchiverOwn).eps.push(result.publishWithOwn)
          sample(names.replayRedisStore).eps.push(result.replayRedisStore)
          sample(names.replayRedisNoStore).eps.push(result.replayRedisNoStore)
          sample(names.replayArchive).eps.push(result.replayArchive)
          historyLags.archive.push(result.archiveLagMs)
          historyLags.archiveOwn.push(result.archiveLagOwnMs)
          historyLags.pending.push(result.pendingLagMs)
        } finally {
          await deleteKeys(admin, prefix)
        }
      }
    }
  }
  if (drainPrefix !== undefined) await deleteKeys(admin, drainPrefix)
  if (failurePrefix !== undefined) await deleteKeys(admin, failurePrefix)

  // ids: cuid2 (the default generator) against uuidv7, interleaved
  const ids = { cuid2: [] as Array<number>, uuidv7: [] as Array<number> }
  if (wants("ids")) {
    for (let round = 0; round < flags.rounds; round++) {
      ids.cuid2.push(Baseline.idsPerSecond(Baseline.generators.cuid2, sizes.cuid2))
      ids.uuidv7.push(Baseline.idsPerSecond(Baseline.generators.uuidv7, sizes.uuid))
    }
  }

  // cluster: what a blocked reader costs other commands (REDIS_CLUSTER_NODES, started by npm run bench)
  const scaleRuns: Array<ClusterScale.Run & { readonly round: number }> = []
  const scaleSpread: Array<string> = []
  let twoSlotsOneMaster: string | undefined
  const clusterNodes = process.env["REDIS_CLUSTER_NODES"]
  if (wants("cluster") && clusterNodes !== undefined && clusterNodes !== "") {
    log("cluster: XADD latency with a blocked reader present vs absent")
    const nodes = clusterNodes.split(",").map((entry) => {
      const colon = entry.lastIndexOf(":")
      return { host: entry.slice(0, colon), port: Number(entry.slice(colon + 1)) }
    })
    for (let round = 0; round < flags.rounds; round++) {
      const l = await ClusterBench.measure(nodes, nextPrefix("cluster"), flags.quick ? 200 : 1000)
      recordLatency(names.clusterPlain, l.plain)
      recordLatency(names.clusterPlainBlocked, l.plainBlocked)
      recordLatency(names.clusterBackend, l.backend)
      recordLatency(names.clusterBackendWaiting, l.backendWaiting)
      twoSlotsOneMaster = l.twoSlotsOneMaster
    }
    // Scale-out: 1, 2, 4 consumer processes draining a backlog, streams spread over the masters
    // or one stream (one slot, one master).
    const events = flags.quick ? 15_000 : 60_000
    const cluster = await ClusterScale.connect(nodes)
    const backlogs: Array<ClusterScale.Backlog> = []
    try {
      for (const topology of ["partitioned:12", "single"]) {
        log(`cluster scale-out: prefilling ${fmtInt(events)} entries, ${topology}`)
        backlogs.push(await ClusterScale.prepare(cluster, nextPrefix(`scale-${topology.replace(":", "")}`), topology, events))
      }
      for (let round = 0; round < flags.rounds; round++) {
        for (const backlog of round % 2 === 0 ? backlogs : [...backlogs].reverse()) {
          await alternate(round, [1, 2, 4].map((processes) => async () => {
            const run = await ClusterScale.drain(cluster, nodes, backlog, events, processes, `scale-p${processes}-r${round}`).catch((error: unknown) => {
              log(`  cluster ${backlog.topology}, ${processes} process(es): FAILED, left out: ${String(error)}`)
              return undefined
            })
            if (run === undefined) return
            scaleRuns.push({ ...run, round })
            log(`  cluster ${backlog.topology}, ${processes} process(es): ${fmtInt(run.eps)} events/s, Node ${run.nodeUs.toFixed(1)} µs + Redis ${run.masters.map((m) => m.us.toFixed(1)).join("/")} µs (masters) + ${run.replicaUs.toFixed(1)} µs (replicas) per event, cores ${(100 * run.busy).toFixed(0)} % busy (${(100 * run.ours).toFixed(0)} % ours), ${run.notifiers} notifier connections${run.extra > 0 ? `, ${run.extra} handled twice` : ""}${run.stuck > 0 ? `, ${run.stuck} process(es) did not exit within 15 s of stop` : ""}`)
          }))
        }
      }
      for (const partitions of [3, 6, 12, 16]) {
        const s = ClusterScale.spread(cluster, partitions, 1000)
        scaleSpread.push(`partitioned:${partitions} over ${cluster.nodes("master").length} masters, 1,000 prefixes: every master used for ${(100 * s.allMasters).toFixed(0)} % of them; streams on the busiest master: median ${s.busiest} of ${partitions}`)
      }
    } finally {
      for (const backlog of backlogs) await ClusterScale.cleanup(cluster, backlog.prefix)
      cluster.disconnect()
    }
  }

  // long run: memory must stay flat
  let long: E2eResult | undefined
  if (wants("long")) {
    log(`long run: ${fmtInt(flags.eventsLong)} events, publishBatch → handle c=64`)
    long = await e2e({ side: "ours", mode: "batch", concurrency: 64, count: flags.eventsLong, warmup: 0, long: true })
    checkAcked("long run", long)
  }

  // fanout: K subscriptions of which one matches, per subscription group vs the application
  // router (issue 12); one pass (each drain is long), both modes in the same run
  const fanout: Array<string> = []
  if (wants("fanout")) {
    const count = flags.quick ? 20_000 : 100_000
    const modes: ReadonlyArray<Fanout.Mode> = ["groups", "routed"]
    const drains = new Map<string, Fanout.Drain>()
    for (const k of [1, 10, 50]) {
      for (const mode of k === 1 ? modes : modes.slice().reverse()) {
        log(`fanout drain: ${fmtInt(count)} events, K = ${k}, ${mode}`)
        const prefix = nextPrefix(`fanout-${mode}-${k}`)
        const result = await Fanout.drain(admin, prefix, k, count, mode)
        await deleteKeys(admin, prefix)
        log(`  ${result.seconds.toFixed(1)} s, Node ${result.nodeUs.toFixed(1)} µs + Redis ${result.redisUs.toFixed(1)} µs per event, K starts ${result.startSeconds.toFixed(2)} s`)
        drains.set(`${mode}-${k}`, result)
      }
    }
    // K = 1 per group is the baseline: one subscription as before issue 12.
    const lives = new Map<string, Fanout.Live>()
    for (const [mode, k] of [["groups", 1], ["groups", 50], ["routed", 50]] as const) {
      log(`fanout live: 5,000 events/s for 10 s, K = ${k}, ${mode}`)
      const prefix = nextPrefix(`fanout-live-${mode}`)
      lives.set(`${mode}, K = ${k}`, await Fanout.live(admin, prefix, k, 5000, flags.quick ? 4 : 10, mode))
      await deleteKeys(admin, prefix)
    }
    const startups = new Map<string, number>()
    for (const mode of modes) {
      for (const backlog of [0, count]) {
        log(`start-up: 50 subscriptions, ${backlog === 0 ? "idle bus" : `one draining ${fmtInt(backlog)}`}, ${mode}`)
        const prefix = nextPrefix(`startup-${mode}`)
        startups.set(`${mode}-${backlog}`, await Fanout.startup(admin, prefix, 50, backlog, mode))
        await deleteKeys(admin, prefix)
      }
    }
    const cpu = (d: Fanout.Drain | undefined) => (d === undefined ? Number.NaN : d.nodeUs + d.redisUs)
    fanout.push("", `fanout: ${fmtInt(count)} events of one type, one process, K subscriptions of which one matches (CPU = Node + Redis server, per handled event)`)
    fanout.push(`${"mode".padEnd(8)} ${"K".padStart(3)} ${"drain s".padStart(8)} ${"Node µs".padStart(8)} ${"Redis µs".padStart(9)} ${"CPU µs".padStart(8)} ${"vs K=1".padStart(7)}  K starts s   target`)
    for (const mode of modes) {
      const base = cpu(drains.get(`${mode}-1`))
      for (const k of [1, 10, 50]) {
        const d = drains.get(`${mode}-${k}`)
        if (d === undefined) continue
        const vs = cpu(d) / base
        const target = k === 50 ? `≤ 1.5× K=1: ${vs <= 1.5 ? "pass" : "MISS"}` : ""
        fanout.push(`${mode.padEnd(8)} ${String(k).padStart(3)} ${d.seconds.toFixed(1).padStart(8)} ${d.nodeUs.toFixed(1).padStart(8)} ${d.redisUs.toFixed(1).padStart(9)} ${cpu(d).toFixed(1).padStart(8)} ${`${vs.toFixed(2)}×`.padStart(7)}  ${d.startSeconds.toFixed(2).padStart(10)}   ${target}`)
      }
    }
    const routed1 = cpu(drains.get("routed-1"))
    const groups1 = cpu(drains.get("groups-1"))
    fanout.push(`routed vs groups at K = 1: ${(routed1 / groups1).toFixed(2)}× the CPU per event; at K = 50: ${(cpu(drains.get("routed-50")) / cpu(drains.get("groups-50"))).toFixed(2)}×`)
    for (const [label, l] of lives) {
      const keptUp = l.handledAtStop >= l.sent * 0.95
      fanout.push(`live ${label.padEnd(14)} 5,000 events/s: p50 ${l.latency.p50.toFixed(1)} ms, p99 ${l.latency.p99.toFixed(1)} ms, max ${l.latency.max.toFixed(0)} ms; ${fmtInt(l.handledAtStop)} of ${fmtInt(l.sent)} handled when publishing stopped, the rest ${l.tail.toFixed(1)} s later  target keeps up, p99 ≤ 50 ms: ${keptUp && l.latency.p99 <= 50 ? "pass" : "MISS"}`)
    }
    for (const mode of modes) {
      const idle = startups.get(`${mode}-0`) ?? Number.NaN
      const busy = startups.get(`${mode}-${count}`) ?? Number.NaN
      fanout.push(`start-up ${mode.padEnd(7)} 50 subscriptions: idle ${idle.toFixed(2)} s (< 1 s: ${idle < 1 ? "pass" : "MISS"}), while one drains ${fmtInt(count)}: ${busy.toFixed(2)} s (< 2 s: ${busy < 2 ? "pass" : "MISS"})`)
    }
  }

  // -------------------------------------------------------------------------------------------
  // the table
  // -------------------------------------------------------------------------------------------

  const out: Array<string> = ["", ...header, ""]
  const cols = (cells: ReadonlyArray<string>) =>
    [cells[0]!.padEnd(50), cells[1]!.padStart(10), cells[2]!.padStart(7), cells[3]!.padStart(8), cells[4]!.padStart(8), cells[5]!.padStart(11), "  ", cells[6]!.padEnd(26), cells[7]!].join(" ").trimEnd()
  out.push(cols(["measurement", "events/s", "spread", "p50 ms", "p99 ms", "ours/base", "target", "verdict"]))
  out.push("-".repeat(136))

  const eps = (name: string) => median(samples.get(name)?.eps ?? [])
  const spread = (name: string) => {
    const values = samples.get(name)?.eps ?? []
    if (values.length < 2) return ""
    return `±${((50 * (Math.max(...values) - Math.min(...values))) / median(values)).toFixed(0)}%`
  }
  const p = (name: string, which: "p50" | "p99") => median(samples.get(name)?.[which] ?? [])
  /** The per-round ratios (paired: both sides measured in the same round). */
  const ratios = (ours: string, base: string, of: "eps" | "p50") => {
    const a = samples.get(ours)?.[of] ?? []
    const b = samples.get(base)?.[of] ?? []
    return a.slice(0, b.length).map((x, i) => x / b[i]!)
  }
  /** Median of the per-round ratios. */
  const ratio = (ours: string, base: string, of: "eps" | "p50") => median(ratios(ours, base, of))
  const row = (name: string, options: { ratio?: number; ratioLabel?: string; target?: string; verdict?: string; latency?: boolean } = {}) => {
    if (!samples.has(name)) return
    const notes = samples.get(name)!.notes
    out.push(cols([
      name,
      (samples.get(name)?.eps.length ?? 0) > 0 ? fmtInt(eps(name)) : "",
      spread(name),
      options.latency === true ? p(name, "p50").toFixed(3) : "",
      options.latency === true ? p(name, "p99").toFixed(3) : "",
      options.ratio === undefined ? "" : `${options.ratioLabel ?? ""}${options.ratio.toFixed(2)}×`,
      options.target ?? "",
      `${options.verdict ?? ""}${notes.length > 0 ? ` (${notes.join("; ")})` : ""}`
    ]))
  }
  const atLeast = (value: number, floor: number) => (Number.isNaN(value) ? "n/a" : value >= floor ? "pass" : "MISS")
  /**
   * The verdict on a ratio target, with the 90 % confidence interval of its median (over the
   * per-round ratios, see `medianInterval`): "pass" or "MISS" when the whole interval is on one
   * side of the floor, "pass, within noise" / "MISS, within noise" (by the median) when it spans
   * the floor, so more rounds are needed to tell.
   */
  const ratioAtLeast = (values: ReadonlyArray<number>, floor: number) => {
    const value = median(values)
    if (Number.isNaN(value)) return "n/a"
    const interval = medianInterval(values)
    if (interval === undefined) return `${atLeast(value, floor)} (${values.length} rounds: too few for an interval)`
    const range = `90 % interval ${interval.low.toFixed(2)}–${interval.high.toFixed(2)}`
    if (interval.low >= floor) return `pass (${range})`
    if (interval.high < floor) return `MISS (${range})`
    return `${atLeast(value, floor)}, within noise (${range})`
  }
  /** A row whose events/s ratio to `base` has a floor: the median ratio and its verdict (`after` appended). */
  const floorRow = (name: string, base: string, floor: number, options: { readonly ratioLabel?: string; readonly target: string; readonly after?: string }) => {
    const values = ratios(name, base, "eps")
    row(name, {
      ratio: median(values),
      ...(options.ratioLabel === undefined ? {} : { ratioLabel: options.ratioLabel }),
      target: options.target,
      verdict: `${ratioAtLeast(values, floor)}${options.after ?? ""}`
    })
  }
  const latencyVerdict = (name: string, p50Max: number, p99Max: number) => {
    const a = p(name, "p50")
    const b = p(name, "p99")
    if (Number.isNaN(a) || Number.isNaN(b)) return "n/a"
    return a <= p50Max && b <= p99Max ? "pass" : `MISS${a > p50Max ? " (p50)" : ""}${b > p99Max ? " (p99)" : ""}`
  }

  row(names.xadd)
  floorRow(names.publishBatch, names.xadd, 0.7, { target: "≥ 0.70× raw XADD" })
  row(names.rawSingle, { latency: true })
  row(names.single, {
    latency: true,
    ratio: ratio(names.single, names.rawSingle, "p50"),
    ratioLabel: "p50 ",
    target: "p50 ≤ 0.3 ms, p99 ≤ 1 ms",
    verdict: latencyVerdict(names.single, 0.3, 1)
  })
  row(names.rawDrain)
  floorRow(names.drain1, names.rawDrain, 0.6, { target: "≥ 0.60× raw drain" })
  row(names.drain64, { ratio: ratio(names.drain64, names.rawDrain, "eps"), target: "(no target)" })
  floorRow(names.drainIdem, names.drain1, 0.8, { ratioLabel: "/c=1 ", target: "≥ 0.80× drain c=1" })
  row(names.failPlain)
  const trips = median(failureTrips)
  row(names.failOnce, {
    ratio: ratio(names.failOnce, names.failPlain, "eps"),
    ratioLabel: "/plain ",
    target: "1 round trip per failure",
    verdict: Number.isNaN(trips) ? "n/a" : `${trips.toFixed(2)} round trips per failure (${trips <= 1.05 ? "pass" : "MISS"})`
  })
  row(names.rawE2e)
  row(names.e2e1, { ratio: ratio(names.e2e1, names.rawE2e, "eps"), target: "(no target)" })
  floorRow(names.e2e64, names.rawE2e, 0.7, { target: "≥ 0.70× raw e2e" })
  row(names.rawE2eLatency, { latency: true })
  for (const name of [names.e2eLatency1, names.e2eLatency64]) {
    row(name, {
      latency: true,
      ratio: ratio(name, names.rawE2eLatency, "p50"),
      ratioLabel: "p50 ",
      target: "p50 ≤ 2 ms, p99 ≤ 10 ms",
      verdict: latencyVerdict(name, 2, 10)
    })
  }
  row(names.clusterPlain, { latency: true })
  row(names.clusterPlainBlocked, {
    latency: true,
    ratio: ratio(names.clusterPlainBlocked, names.clusterPlain, "p50"),
    ratioLabel: "p50 ",
    target: "(why: one conn per node)"
  })
  row(names.clusterBackend, { latency: true, ratio: ratio(names.clusterBackend, names.clusterPlain, "p50"), ratioLabel: "p50 " })
  {
    const waiting = ratio(names.clusterBackendWaiting, names.clusterBackend, "p50")
    row(names.clusterBackendWaiting, {
      latency: true,
      ratio: waiting,
      ratioLabel: "p50 ",
      target: "≤ 1.5× no reader",
      verdict: Number.isNaN(waiting) ? "n/a" : waiting <= 1.5 ? "pass" : "MISS"
    })
  }
  row(names.historyPlain)
  for (const [name, lags] of [[names.historyArchiver, historyLags.archive], [names.historyArchiverOwn, historyLags.archiveOwn]] as const) {
    floorRow(name, names.historyPlain, 0.9, {
      ratioLabel: "/plain ",
      target: "≥ 0.90× no store",
      after: `; archive lag ${fmtInt(median(lags))} ms after the last publish`
    })
  }
  const atLeastEps = (name: string, floor: number) => atLeast(eps(name), floor)
  row(names.replayRedisStore, {
    target: "≥ 50,000 events/s",
    verdict: `${atLeastEps(names.replayRedisStore, 50_000)}; PENDING rows written ${fmtInt(median(historyLags.pending))} ms after the job`
  })
  row(names.replayRedisNoStore, { target: "≥ 50,000 events/s", verdict: atLeastEps(names.replayRedisNoStore, 50_000) })
  row(names.replayArchive, { target: "≥ 20,000 events/s", verdict: atLeastEps(names.replayArchive, 20_000) })
  if (ids.cuid2.length > 0) {
    const c = median(ids.cuid2)
    const u = median(ids.uuidv7)
    out.push(cols([
      "ids       cuid2 (default) vs uuidv7, ids/s",
      fmtInt(c),
      "",
      "",
      "",
      `${(c / u).toFixed(3)}×`,
      "",
      `cuid2 ${(1000 / c * 1000).toFixed(1)} µs/id, uuidv7 ${fmtInt(u)} ids/s (${(1e6 / u).toFixed(2)} µs/id)`
    ]))
  }
  if (long !== undefined) {
    const fmt = (v: number | undefined, digits: number) => (v === undefined ? "?" : v.toFixed(digits))
    const growth = (a: number | undefined, b: number, digits: number) =>
      a === undefined ? "?" : `${b - a >= 0 ? "+" : ""}${(b - a).toFixed(digits)}`
    out.push("")
    out.push(`long run: ${fmtInt(flags.eventsLong)} events, publishBatch(100) → Consumer.handle c=64, ${fmtInt(long.eps)} events/s end to end${long.pending === 0 ? ", all acked" : `, pending after exit: ${long.pending}`}`)
    out.push(`  memory after GC, MB, at: start (after startup) | 5 % (warm) | 50 % | end;  growth 50 % → end;  flat = heap +≤ 2 MB + 5 %, RSS +≤ 32 MB + 10 %`)
    for (const [label, m] of [["publisher", long.publisherMemory], ["consumer", long.consumerMemory]] as const) {
      const mid = m.at[1]
      const series = (get: (x: Memory) => number, digits: number) =>
        [m.start, m.at[0], m.at[1], m.end].map((x) => fmt(x === undefined ? undefined : get(x), digits).padStart(7)).join(" |")
      const heapFlat = mid === undefined ? undefined : m.end.heapUsedMb - mid.heapUsedMb <= 2 + 0.05 * mid.heapUsedMb
      const rssFlat = mid === undefined ? undefined : m.end.rssMb - mid.rssMb <= 32 + 0.1 * mid.rssMb
      const verdict = heapFlat === undefined || rssFlat === undefined ? "?" : heapFlat && rssFlat ? "flat" : `GROWS${heapFlat ? "" : " (heap)"}${rssFlat ? "" : " (rss)"}`
      out.push(`  ${label.padEnd(10)} RSS        ${series((x) => x.rssMb, 0)}   ${growth(mid?.rssMb, m.end.rssMb, 0).padStart(6)}   ${verdict}`)
      out.push(`  ${"".padEnd(10)} heap used  ${series((x) => x.heapUsedMb, 1)}   ${growth(mid?.heapUsedMb, m.end.heapUsedMb, 1).padStart(6)}`)
      out.push(`  ${"".padEnd(10)} heap total ${series((x) => x.heapTotalMb, 1)}   ${growth(mid?.heapTotalMb, m.end.heapTotalMb, 1).padStart(6)}`)
      out.push(`  ${"".padEnd(10)} external   ${series((x) => x.externalMb, 1)}   ${growth(mid?.externalMb, m.end.externalMb, 1).padStart(6)}`)
    }
  }
  if (twoSlotsOneMaster !== undefined) {
    out.push("", `cluster: XREAD BLOCK over keys of two slots served by one master: ${twoSlotsOneMaster} (why notifiers block per slot, not per node)`)
  }
  out.push(...ClusterScale.report(scaleRuns, cpus.length), ...scaleSpread)
  out.push(...fanout)
  out.push("")
  out.push(`latency rows: events/s is the rate the publisher achieved; load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`)
  out.push(`total time ${((performance.now() - started) / 1000).toFixed(0)} s; ratios are medians of per-round ratios, with a 90 % confidence interval for the median from 5 rounds up (order statistics, no assumption on the distribution); "spread" is half the min–max range of events/s over the rounds`)
  console.log(out.join("\n"))
} catch (error) {
  log(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  process.exitCode = 1
} finally {
  await cleanup()
}

function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a"
}
