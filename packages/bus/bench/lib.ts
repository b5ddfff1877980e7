/**
 * Shared pieces of the benchmark: flags, statistics, the wire envelope the baselines write, raw
 * Redis helpers, child-process plumbing and memory snapshots. No Effect here: the baselines must
 * not pay for what they measure against.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { setPriority } from "node:os"
import { setTimeout as sleep } from "node:timers/promises"
import { EventId } from "@hyvve/schema"
import { type Cluster, Redis } from "ioredis"

export const redisUrl: string = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379"

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export const wallNow = (): number => performance.timeOrigin + performance.now()

// ---------------------------------------------------------------------------------------------
// the event both sides write
// ---------------------------------------------------------------------------------------------

/** The bench event's wire name; its payload is a realistic approval decision plus seq/sentAt. */
export const eventType = "bench.tick"
export const tenantId = "tenant_8f3k2m1q9z"
export const userId = "user_4hd82kd0s1"
export const source = "bench"

/** The payload as the publisher gives it (both sides). */
export const payload = (seq: number) => ({
  seq,
  sentAt: wallNow(),
  approvalId: `appr_${(100000 + (seq % 900000)).toString(36)}x7k2p9`,
  decidedById: "user_4hd82kd0s1",
  decision: "approved" as const,
  notes: "Looks good: numbers match the signed quote, approving."
})

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
const nextId = EventId.uuidV7.next

/**
 * Encodes one event inline, the way a hand-written publisher would: a realistic envelope object
 * (every field the bus writes, uuidv7 id, ISO timestamp), `JSON.stringify` once, and the three
 * stream fields the bus writes (`event`, `type`, `tenant`). The result is a valid bus entry.
 */
export const rawEntry = (seq: number): [string, string, string, string, string, string] => {
  const id = nextId()
  const envelope = {
    id,
    type: eventType,
    source,
    timestamp: new Date().toISOString(),
    correlationId: id,
    tenantId,
    userId,
    version: "1.0",
    data: payload(seq),
    traceparent
  }
  return ["event", JSON.stringify(envelope), "type", eventType, "tenant", tenantId]
}

/** The time-based trim the bus applies on every append (30 days), so Redis does the same work. */
/** The `event` field (envelope JSON) of an entry as raw XREADGROUP returns it: `[k, v, k, v, ...]`. */
export const eventField = (fields: ReadonlyArray<string>): string => {
  for (let f = 0; f < fields.length; f += 2) if (fields[f] === "event") return fields[f + 1]!
  throw new Error("entry without an event field")
}

export const retentionMs = 30 * 24 * 3600 * 1000
export const minIdFor = (now: number): string => `${Math.max(0, Math.floor(now) - retentionMs)}-0`

// ---------------------------------------------------------------------------------------------
// flags
// ---------------------------------------------------------------------------------------------

export interface Flags {
  readonly quick: boolean
  readonly rounds: number
  readonly eventsLong: number
  /** Run only these sections (all when undefined). */
  readonly only: ReadonlySet<string> | undefined
  /** When set, bus children run with `--cpu-prof` writing here. */
  readonly cpuProfDir: string | undefined
}

export const sections = ["publish", "single", "drain", "failure", "e2e", "e2e-latency", "ids", "long", "fanout", "history", "cluster"] as const

export const parseFlags = (argv: ReadonlyArray<string>): Flags => {
  let quick = false
  let rounds: number | undefined
  let eventsLong: number | undefined
  let only: Set<string> | undefined
  let cpuProfDir: string | undefined
  for (const arg of argv) {
    const [name, value] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, ""]
    switch (name) {
      case "--quick":
        quick = true
        break
      case "--rounds":
        rounds = positiveInt(name, value)
        break
      case "--events-long":
        eventsLong = positiveInt(name, value)
        break
      case "--only":
        only = new Set(value.split(",").filter((s) => s !== ""))
        for (const s of only) {
          if (!(sections as ReadonlyArray<string>).includes(s)) throw new Error(`--only: unknown section ${s} (${sections.join(",")})`)
        }
        break
      case "--cpu-prof-dir":
        cpuProfDir = value
        break
      case "--help":
        console.log(`usage: node packages/bus/bench/run.ts [--quick] [--rounds=N] [--events-long=N] [--only=${sections.join(",")}] [--cpu-prof-dir=DIR]`)
        process.exit(0)
        break
      default:
        throw new Error(`unknown flag ${arg} (try --help)`)
    }
  }
  return {
    quick,
    rounds: rounds ?? 5,
    eventsLong: eventsLong ?? (quick ? 100_000 : 1_000_000),
    only,
    cpuProfDir
  }
}

const positiveInt = (name: string, value: string): number => {
  const n = Number(value.replaceAll("_", ""))
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a positive integer, got "${value}"`)
  return n
}

// ---------------------------------------------------------------------------------------------
// statistics
// ---------------------------------------------------------------------------------------------

export interface Latency {
  readonly n: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

/** Percentiles (nearest rank) of latencies in milliseconds. */
export const latency = (values: Float64Array | ReadonlyArray<number>): Latency => {
  const sorted = Float64Array.from(values).sort()
  const at = (p: number) => sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]! }
}

export const median = (values: ReadonlyArray<number>): number => {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (finite.length === 0) return Number.NaN
  const mid = finite.length >> 1
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2
}

/** A confidence interval for a median: the order statistics `[low, high]` and their coverage. */
export interface MedianInterval {
  readonly low: number
  readonly high: number
  /** The probability that the interval holds the true median (exact, whatever the distribution). */
  readonly coverage: number
}

/**
 * A distribution-free confidence interval for the median of `values`: the narrowest pair of order
 * statistics `[x(k), x(n+1-k)]` whose coverage, `1 - 2 * P(Binomial(n, 1/2) < k)`, is at least
 * `level`. Undefined when even min–max covers less (fewer than 5 values at 90 %: min–max covers
 * 75 % of the time with 3).
 */
export const medianInterval = (values: ReadonlyArray<number>, level = 0.9): MedianInterval | undefined => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  const n = sorted.length
  // P(Binomial(n, 1/2) <= i), accumulated term by term.
  let term = 2 ** -n
  let below = 0
  let best: MedianInterval | undefined
  for (let k = 1; 2 * k <= n + 1; k++) {
    below += term // now P(X <= k - 1)
    term = (term * (n - k + 1)) / k
    const coverage = 1 - 2 * below
    if (coverage < level) break
    best = { low: sorted[k - 1]!, high: sorted[n - k]!, coverage }
  }
  return best
}

// ---------------------------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------------------------

export interface Memory {
  readonly rssMb: number
  readonly heapUsedMb: number
  readonly heapTotalMb: number
  /** Memory outside the JS heap: C++ objects and Buffers (`external`, which includes `arrayBuffers`). */
  readonly externalMb: number
}

/** RSS and heap used, after a full GC when the process runs with `--expose-gc`. */
export const memory = (): Memory => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    gc()
    gc()
  }
  const m = process.memoryUsage()
  const mb = (bytes: number) => bytes / 1048576
  return { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external) }
}

/**
 * Memory snapshots at given event counts (ascending): call `reached(n)` as the count grows.
 * `start` is taken at creation.
 */
export const checkpoints = (at: ReadonlyArray<number>) => {
  const start = memory()
  const snapshots: Array<Memory> = []
  return {
    reached: (n: number): void => {
      while (snapshots.length < at.length && n >= at[snapshots.length]!) snapshots.push(memory())
    },
    report: () => ({ start, at: snapshots, end: memory() })
  }
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

/** A plain ioredis connection with classic (RESP2) reply shapes. */
export const connect = async (name: string): Promise<Redis> => {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    protocol: 2,
    connectionName: name,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000
  })
  redis.on("error", () => {})
  await redis.connect()
  return redis
}

/** Deletes every key under `prefix` (SCAN + UNLINK, bounded). Returns how many were removed. */
export const deleteKeys = async (redis: Redis, prefix: string): Promise<number> => {
  let cursor = "0"
  let removed = 0
  for (let i = 0; i < 100_000; i++) {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
    if (keys.length > 0) removed += await redis.unlink(...keys)
    cursor = next
    if (cursor === "0") break
  }
  return removed
}

/** Appends `count` bench entries to `key` with pipelines of `batch`. */
export const prefill = async (redis: Redis | Cluster, key: string, count: number, batch = 500): Promise<void> => {
  for (let sent = 0; sent < count;) {
    const n = Math.min(batch, count - sent)
    const pipeline = redis.pipeline()
    for (let i = 0; i < n; i++) pipeline.xadd(key, "*", ...rawEntry(sent + i))
    const replies = await pipeline.exec()
    if (replies === null || replies.some(([error]) => error !== null)) throw new Error(`prefill of ${key} failed`)
    sent += n
  }
}

/** The `pending` count of a group (XPENDING summary); undefined when the group or key is gone. */
export const pendingCount = async (redis: Redis, key: string, group: string): Promise<number | undefined> => {
  try {
    const reply = (await redis.call("XPENDING", key, group)) as [number, ...Array<unknown>]
    return Number(reply[0])
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// pacing
// ---------------------------------------------------------------------------------------------

/** Milliseconds until event `i` is due at `rate` events/s from `start` (performance.now clock). */
export const dueIn = (start: number, i: number, rate: number): number => start + (i * 1000) / rate - performance.now()

export { sleep }

// ---------------------------------------------------------------------------------------------
// child processes
// ---------------------------------------------------------------------------------------------

/** Lines a child writes to stdout start with this marker; everything else is passed through. */
const marker = "@@bench "

/** In a child: the JSON config given as the last argument. */
export const childConfig = <A>(): A => JSON.parse(process.argv[process.argv.length - 1]!) as A

/** In a child: sends one message to the parent. */
export const send = (message: Record<string, unknown>): void => {
  process.stdout.write(`${marker}${JSON.stringify(message)}\n`)
}

/**
 * In a child: exits when the parent goes away (stdin closes) or after `timeoutMs`, so no child
 * outlives a crashed or interrupted bench.
 */
export const guardChild = (timeoutMs: number, progress?: () => string): void => {
  process.stdin.on("end", () => process.exit(4))
  process.stdin.on("close", () => process.exit(4))
  process.stdin.resume()
  setTimeout(() => {
    const script = process.argv[process.argv.length - 2]!.split("/").pop()
    process.stderr.write(`${script} timed out after ${timeoutMs} ms${progress === undefined ? "" : ` (${progress()})`}\n`)
    process.exit(3)
  }, timeoutMs).unref()
}

/** In a child: resolves when the parent writes the line `word` on stdin (after `guardChild`). */
export const waitForLine = (word: string): Promise<void> =>
  new Promise((resolve) => {
    let text = ""
    const onData = (chunk: Buffer) => {
      text += chunk.toString("utf8")
      if (text.split("\n").slice(0, -1).includes(word)) {
        process.stdin.off("data", onData)
        resolve()
      }
    }
    process.stdin.on("data", onData)
  })

/** In a child: resolves when the parent says "go" on stdin (after `guardChild`). */
export const waitForGo = (): Promise<void> => waitForLine("go")

/** In a child: stops guarding so the process can exit by itself. */
export const releaseChild = (): void => {
  process.stdin.removeAllListeners("end")
  process.stdin.removeAllListeners("close")
  process.stdin.pause()
  process.stdin.destroy()
}

const live = new Set<ChildProcess>()

/** Kills every child still running (on exit or interrupt). */
export const killChildren = (): void => {
  for (const child of live) child.kill("SIGKILL")
  live.clear()
}

export interface Child {
  /** Resolves with the first message whose `kind` is `kind`. */
  readonly message: (kind: string) => Promise<Record<string, unknown>>
  /** Resolves when the child exits with code 0, rejects otherwise (with its stderr tail). */
  readonly exited: Promise<void>
  /** Tells a child waiting in `waitForGo` to start. */
  readonly go: () => void
  /** Writes the line `word` to the child's stdin (see `waitForLine`). */
  readonly tell: (word: string) => void
  readonly kill: () => void
}

/**
 * Starts `script` (a file of this directory) with `process.execPath`, the config as its last
 * argument. It is killed after `timeoutMs` whatever it does.
 */
export const startChild = (
  script: string,
  config: Record<string, unknown>,
  options: {
    readonly timeoutMs: number
    readonly nodeArgs?: ReadonlyArray<string> | undefined
    /** A nice value (0–19) for the child, as `nice -n` would give it. */
    readonly priority?: number | undefined
  }
): Child => {
  const path = new URL(script, import.meta.url).pathname
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), "--expose-gc", path, JSON.stringify({ ...config, timeoutMs: options.timeoutMs })],
    { stdio: ["pipe", "pipe", "pipe"] }
  )
  live.add(child)
  if (options.priority !== undefined && child.pid !== undefined) setPriority(child.pid, options.priority)
  const messages: Array<Record<string, unknown>> = []
  const waiting: Array<{ kind: string; resolve: (m: Record<string, unknown>) => void }> = []
  let stderr = ""
  let buffer = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk
    let nl = buffer.indexOf("\n")
    while (nl >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      if (line.startsWith(marker)) {
        const message = JSON.parse(line.slice(marker.length)) as Record<string, unknown>
        messages.push(message)
        for (let i = waiting.length - 1; i >= 0; i--) {
          if (waiting[i]!.kind === message["kind"]) waiting.splice(i, 1)[0]!.resolve(message)
        }
      } else if (line.trim() !== "") {
        stderr = `${stderr}${line}\n`.slice(-4000)
      }
      nl = buffer.indexOf("\n")
    }
  })
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  child.stdin!.on("error", () => {})
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs + 5000)
  const exited = new Promise<void>((resolve, reject) => {
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      live.delete(child)
      if (code === 0) resolve()
      else reject(new Error(`${script} exited with ${signal ?? code}\n${stderr.trim()}`))
    })
  })
  exited.catch(() => {})
  const message = (kind: string) => {
    const seen = messages.find((m) => m["kind"] === kind)
    if (seen !== undefined) return Promise.resolve(seen)
    return Promise.race([
      new Promise<Record<string, unknown>>((resolve) => waiting.push({ kind, resolve })),
      exited.then(() => Promise.reject(new Error(`${script} exited before sending "${kind}"\n${stderr.trim()}`)))
    ])
  }
  return {
    message,
    exited,
    go: () => {
      child.stdin!.write("go\n")
    },
    tell: (word) => {
      child.stdin!.write(`${word}\n`)
    },
    kill: () => {
      child.kill("SIGKILL")
    }
  }
}
