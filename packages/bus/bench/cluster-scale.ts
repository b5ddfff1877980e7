/**
 * Cluster scale-out (issue 12): 1, 2 and 4 consumer processes (`cluster-consumer.ts`) in one
 * group drain a pre-filled backlog on the Redis Cluster, for a topology whose streams spread over
 * the masters (`partitioned:12`, prefix chosen so each master serves four partitions) and for one
 * stream (`single` with hash tags: one slot, one master). Measured per run, over the window from
 * "go" to the group having read and acked every entry of every stream:
 * - events/s: backlog ÷ (last handler run in any process − "go");
 * - Node CPU per event: the consumer processes' `process.cpuUsage`, summed;
 * - Redis CPU per event, per node (`INFO cpu` of each master, and of the replicas together, which
 *   apply the replicated acks and share the same cores);
 * - how busy the machine's cores were (`os.cpus()` times, every process on the machine);
 * - the notifier connections open on the masters at the end (`CLIENT LIST`, by name).
 */
import os from "node:os"
import { Catalog } from "@hyvve/schema"
import { Cluster, Redis } from "ioredis"
import { Topology } from "../src/index.ts"
import { of as slotOf } from "../src/internal/slot.ts"
import { BenchTick } from "./bus.ts"
import { type Child, killChildren, prefill, startChild, wallNow } from "./lib.ts"

export type Nodes = ReadonlyArray<{ readonly host: string; readonly port: number }>

export interface MasterCpu {
  readonly node: string
  /** Streams of the run's topology this master serves. */
  readonly streams: number
  /** Redis CPU µs per event (of the whole backlog) on this master. */
  readonly us: number
}

export interface Run {
  readonly topology: string
  readonly processes: number
  readonly events: number
  readonly eps: number
  /** Events handled more than once (claims), over all processes. */
  readonly extra: number
  /** Consumer processes' CPU µs per event, summed. */
  readonly nodeUs: number
  readonly masters: ReadonlyArray<MasterCpu>
  /** Every replica's CPU µs per event, summed. */
  readonly replicaUs: number
  /** Share of the machine's core time that was busy during the run (all processes, 0..1). */
  readonly busy: number
  /** Share of the machine's core time used by the consumers and the cluster's nodes (0..1). */
  readonly ours: number
  /** Consumer processes still running 15 s after "stop" (killed; their shutdown hung). */
  readonly stuck: number
  /** Notifier connections (`<name>:notify:<slot>`) open on the masters when the group settled. */
  readonly notifiers: number
}

export interface Backlog {
  readonly topology: string
  readonly prefix: string
  readonly streams: ReadonlyArray<string>
  /** The master serving each stream. */
  readonly masterOf: ReadonlyMap<string, string>
}

/**
 * How `partitioned:N` streams land on the cluster's masters, over `prefixes` prefixes: the share
 * of prefixes whose streams use every master, and the median streams on the busiest master. The
 * partition hash tags differ in a digit or two, and CRC16 is linear, so their slots sit close
 * together whatever the prefix: a small N often lands on one or two masters only.
 */
export const spread = (cluster: Cluster, partitions: number, prefixes: number): { readonly allMasters: number; readonly busiest: number } => {
  const masters = cluster.nodes("master").length
  let all = 0
  const busiest: Array<number> = []
  for (let i = 0; i < prefixes; i++) {
    const perMaster = new Map<string, number>()
    for (const key of streamsOf(`hyvve-spread-${i}`, `partitioned:${partitions}`)) {
      const master = cluster.slots[slotOf(key)]?.[0] ?? "?"
      perMaster.set(master, (perMaster.get(master) ?? 0) + 1)
    }
    if (perMaster.size === masters) all++
    busiest.push(Math.max(...perMaster.values()))
  }
  return { allMasters: all / prefixes, busiest: med(busiest) }
}

const within = <A>(promise: Promise<A>, ms: number, message: string): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

const nodeKey = (node: Redis): string => `${node.options.host}:${node.options.port}`

export const connect = async (nodes: Nodes): Promise<Cluster> => {
  const cluster = new Cluster(nodes.map((node) => ({ ...node })), { redisOptions: { protocol: 2 } })
  cluster.on("error", () => {})
  await new Promise((resolve) => cluster.once("ready", resolve))
  return cluster
}

const streamsOf = (prefix: string, topology: string): ReadonlyArray<string> => {
  const parsed = Topology.parse(topology)
  if (parsed === undefined) throw new Error(`bad topology ${topology}`)
  const layout = Topology.of({ prefix, topology: parsed, previousTopology: undefined, hashTags: true, catalog: Catalog.make([BenchTick]) })
  return layout.streams.map((stream) => stream.key)
}

/**
 * A prefix under `base` whose streams spread evenly over the masters (as evenly as the stream
 * count allows), and `count` bench entries spread round-robin over those streams.
 */
export const prepare = async (cluster: Cluster, base: string, topology: string, count: number): Promise<Backlog> => {
  const masters = cluster.nodes("master").length
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const prefix = `${base}-${attempt}`
    const streams = streamsOf(prefix, topology)
    const masterOf = new Map(streams.map((key) => [key, cluster.slots[slotOf(key)]?.[0] ?? "?"]))
    const perMaster = new Map<string, number>()
    for (const master of masterOf.values()) perMaster.set(master, (perMaster.get(master) ?? 0) + 1)
    const fair = Math.ceil(streams.length / masters)
    if (Array.from(perMaster.values()).some((n) => n > fair)) continue
    for (let i = 0; i < streams.length; i++) {
      await prefill(cluster, streams[i]!, Math.floor(count / streams.length) + (i < count % streams.length ? 1 : 0))
    }
    return { topology, prefix, streams, masterOf }
  }
  throw new Error(`no prefix spreads ${topology} evenly`)
}

/** Every node of the cluster, replicas included (the client itself only connects to masters). */
const everyNode = async (cluster: Cluster): Promise<ReadonlyArray<string>> => {
  const table = String(await cluster.nodes("master")[0]!.call("CLUSTER", "NODES"))
  return table.split("\n").filter((line) => line.trim() !== "" && !line.includes("fail")).map((line) => line.split(" ")[1]!.split("@")[0]!)
}

/** CPU µs used so far by each node (`INFO cpu`, user + sys), on a short-lived connection each. */
const redisCpu = async (nodes: ReadonlyArray<string>): Promise<Map<string, number>> => {
  const out = new Map<string, number>()
  await Promise.all(nodes.map(async (node) => {
    const colon = node.lastIndexOf(":")
    const redis = new Redis({ host: node.slice(0, colon), port: Number(node.slice(colon + 1)), lazyConnect: true, maxRetriesPerRequest: 1 })
    redis.on("error", () => {})
    try {
      await redis.connect()
      const info = await redis.info("cpu")
      const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN)
      out.set(node, (field("used_cpu_user") + field("used_cpu_sys")) * 1e6)
    } finally {
      redis.disconnect()
    }
  }))
  return out
}

/** Busy and total core time of the machine so far, ms. */
const machineCpu = (): { busy: number; total: number } => {
  let busy = 0
  let total = 0
  for (const cpu of os.cpus()) {
    const t = cpu.times
    busy += t.user + t.nice + t.sys + t.irq
    total += t.user + t.nice + t.sys + t.irq + t.idle
  }
  return { busy, total }
}

/** Whether `group` has read and acked everything on every stream. */
const settled = async (cluster: Cluster, streams: ReadonlyArray<string>, group: string): Promise<boolean> => {
  for (const key of streams) {
    const rows = (await cluster.xinfo("GROUPS", key)) as Array<Array<string | number | null>>
    const row = rows.find((r) => r[r.indexOf("name") + 1] === group)
    if (row === undefined) return false
    const at = (name: string) => row[row.indexOf(name) + 1]
    if (Number(at("pending")) !== 0 || Number(at("lag") ?? 1) !== 0) return false
  }
  return true
}

const notifierConnections = async (cluster: Cluster, name: string): Promise<number> => {
  let n = 0
  for (const node of cluster.nodes("master")) {
    const list = String(await node.call("CLIENT", "LIST"))
    for (const line of list.split("\n")) if (line.includes(` name=${name}:notify:`)) n++
  }
  return n
}

/** `processes` consumers drain `backlog` with a new group; see the module doc. */
export const drain = async (
  cluster: Cluster,
  nodes: Nodes,
  backlog: Backlog,
  events: number,
  processes: number,
  group: string
): Promise<Run> => {
  const timeoutMs = 60_000 + events * 5
  const children: Array<Child> = []
  try {
    for (let i = 0; i < processes; i++) {
      children.push(startChild("cluster-consumer.ts", {
        nodes,
        prefix: backlog.prefix,
        topology: backlog.topology,
        group,
        concurrency: 64
      }, { timeoutMs }))
    }
    await Promise.all(children.map((child) => child.message("ready")))
    const all = await everyNode(cluster)
    const redis0 = await redisCpu(all)
    const machine0 = machineCpu()
    const goWall = wallNow()
    for (const child of children) child.go()
    const deadline = performance.now() + timeoutMs
    while (!(await settled(cluster, backlog.streams, group))) {
      if (performance.now() > deadline) {
        const state = await Promise.all(backlog.streams.map((key) => cluster.xinfo("GROUPS", key)))
        throw new Error(`${processes} consumers did not drain ${backlog.topology} in time: ${JSON.stringify(state)}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const machine1 = machineCpu()
    const redis1 = await redisCpu(all)
    const notifiers = await notifierConnections(cluster, "hyvve-bench-scale")
    for (const child of children) child.tell("stop")
    const results = await within(Promise.all(children.map((child) => child.message("result"))), 20_000, "a consumer sent no result within 20 s of stop")
    const exits = await Promise.all(children.map((child) => within(child.exited, 15_000, "").then(() => true, () => false)))
    const handled = results.reduce((sum, r) => sum + (r["handled"] as number), 0)
    const lastWall = Math.max(...results.map((r) => r["lastWall"] as number))
    const nodeCpu = results.reduce((sum, r) => sum + (r["cpuUs"] as number), 0)
    const masters = cluster.nodes("master").map(nodeKey)
    const delta = (node: string) => (redis1.get(node) ?? Number.NaN) - (redis0.get(node) ?? Number.NaN)
    const streamsOn = (node: string) => Array.from(backlog.masterOf.values()).filter((m) => m === node).length
    const redisAll = Array.from(redis1.keys()).reduce((sum, node) => sum + delta(node), 0)
    return {
      topology: backlog.topology,
      processes,
      events,
      eps: (events * 1000) / (lastWall - goWall),
      extra: handled - events,
      nodeUs: nodeCpu / events,
      masters: masters.map((node) => ({ node, streams: streamsOn(node), us: delta(node) / events })),
      replicaUs: Array.from(redis1.keys()).filter((node) => !masters.includes(node)).reduce((sum, node) => sum + delta(node), 0) / events,
      busy: (machine1.busy - machine0.busy) / (machine1.total - machine0.total),
      ours: (nodeCpu + redisAll) / 1000 / (machine1.total - machine0.total),
      stuck: exits.filter((exited) => !exited).length,
      notifiers
    }
  } finally {
    killChildren()
  }
}

/** Deletes every key of `backlog` (its streams and what derives from them share their slots). */
export const cleanup = async (cluster: Cluster, prefix: string): Promise<void> => {
  await Promise.all(cluster.nodes("master").map(async (node) => {
    let cursor = "0"
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
      for (const key of keys) await node.unlink(key)
      cursor = next
    } while (cursor !== "0")
  }))
}

const med = (values: ReadonlyArray<number>): number => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a")

/**
 * The table of the runs (medians over rounds; `vs P=1` is the median of per-round ratios) and the
 * ceilings the per-event costs imply (see the bench README for the model).
 */
export const report = (runs: ReadonlyArray<Run & { readonly round: number }>, cores: number): Array<string> => {
  if (runs.length === 0) return []
  const events = runs[0]!.events
  const rounds = new Set(runs.map((r) => r.round)).size
  const out = [
    "",
    `cluster scale-out: ${int(events)} events pre-filled, P consumer processes in one group (c=64 each), ${rounds} round(s), medians; CPU in µs per event`,
    `${"topology".padEnd(14)} ${"P".padStart(2)} ${"events/s".padStart(9)} ${"vs P=1".padStart(7)} ${"Node".padStart(6)} ${"Redis per master (streams)".padEnd(28)} ${"replicas".padStart(8)} ${"total".padStart(6)} ${"busy".padStart(5)} ${"ours".padStart(5)} ${"master".padStart(6)} ${"ceiling".padStart(8)} ${"notifiers".padStart(9)}`
  ]
  const topologies = Array.from(new Set(runs.map((r) => r.topology)))
  const ceilings = new Map<string, { node: number; masterMax: number; perMaster: number; masters: number }>()
  for (const topology of topologies) {
    const of = runs.filter((r) => r.topology === topology)
    for (const p of Array.from(new Set(of.map((r) => r.processes))).sort((a, b) => a - b)) {
      const these = of.filter((r) => r.processes === p)
      const ratio = med(these.map((r) => {
        const one = of.find((o) => o.processes === 1 && o.round === r.round)
        return one === undefined ? Number.NaN : r.eps / one.eps
      }))
      const masterUs = these[0]!.masters.map((m, i) => ({ ...m, us: med(these.map((r) => r.masters[i]?.us ?? Number.NaN)) }))
      const nodeUs = med(these.map((r) => r.nodeUs))
      const replicaUs = med(these.map((r) => r.replicaUs))
      const total = nodeUs + masterUs.reduce((sum, m) => sum + m.us, 0) + replicaUs
      const ceiling = (cores * 1e6) / total
      const extra = med(these.map((r) => r.extra))
      const stuck = these.reduce((sum, r) => sum + r.stuck, 0)
      const eps = med(these.map((r) => r.eps))
      const notes = [
        ...(extra > 0 ? [`${int(extra)} handled twice`] : []),
        ...(stuck > 0 ? [`${stuck} process(es) did not exit within 15 s of stop`] : [])
      ]
      out.push([
        topology.padEnd(14),
        String(p).padStart(2),
        int(eps).padStart(9),
        `${ratio.toFixed(2)}×`.padStart(7),
        nodeUs.toFixed(1).padStart(6),
        masterUs.map((m) => `${m.us.toFixed(1)} (${m.streams})`).join(" | ").padEnd(28),
        replicaUs.toFixed(1).padStart(8),
        total.toFixed(1).padStart(6),
        `${(100 * med(these.map((r) => r.busy))).toFixed(0)}%`.padStart(5),
        `${(100 * med(these.map((r) => r.ours))).toFixed(0)}%`.padStart(5),
        `${((100 * eps * Math.max(...masterUs.map((m) => m.us))) / 1e6).toFixed(0)}%`.padStart(6),
        int(ceiling).padStart(8),
        String(med(these.map((r) => r.notifiers))).padStart(9),
        notes.length > 0 ? `  (${notes.join("; ")})` : ""
      ].join(" ").trimEnd())
      if (p === 1) {
        const used = masterUs.filter((m) => m.streams > 0)
        ceilings.set(topology, {
          node: nodeUs,
          masterMax: Math.max(...used.map((m) => m.us)),
          perMaster: used.reduce((sum, m) => sum + m.us, 0) / Math.max(1, used.length),
          masters: used.length
        })
      }
    }
  }
  out.push(
    `busy: share of the ${cores} cores' time in use during the run (every process on the machine); ours: the share the consumers and the cluster's nodes used; master: how busy the busiest master's one Redis thread was (µs per event × events/s); ceiling: ${cores} cores ÷ total µs per event, the rate these cores give the bus alone`
  )
  for (const [topology, c] of ceilings) {
    out.push(
      `model ${topology}: a consumer core handles ≤ ${int(1e6 / c.node)} events/s (1 s ÷ Node µs); the busiest of its ${c.masters} master(s) saturates its one Redis thread at ${int(1e6 / c.masterMax)} events/s (1 s ÷ its µs per event)`
    )
  }
  return out
}
