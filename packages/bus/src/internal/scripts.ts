/**
 * The Lua scripts of the Redis backend, read from `lua/` next to this file (in `src/` and, copied
 * by the build, in `dist/`) on first use: importing the package reads no file. Each descriptor
 * carries its SHA1 so calls go out as `EVALSHA` (the body travels only after a `NOSCRIPT`, e.g.
 * once per server restart) and its key count. The file name of a script ends with that count
 * (`n`: variadic).
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"

/** One Lua script: its source, the SHA1 Redis caches it under, and how many KEYS it takes. */
export interface Script {
  readonly name: string
  readonly lua: string
  readonly sha: string
  /** The number of KEYS, or "variadic" when the caller passes it per call. */
  readonly keys: number | "variadic"
}

const load = (name: string, keys: number | "variadic"): Script => {
  let loaded: { readonly lua: string; readonly sha: string } | undefined
  const source = () => {
    if (loaded === undefined) {
      const lua = readFileSync(new URL(`./lua/${name}-${keys === "variadic" ? "n" : keys}.lua`, import.meta.url), "utf8")
      loaded = { lua, sha: createHash("sha1").update(lua).digest("hex") }
    }
    return loaded
  }
  return {
    name,
    keys,
    get lua() {
      return source().lua
    },
    get sha() {
      return source().sha
    }
  }
}

/** All-or-nothing batch of XADD / XACK / XDEL / ZADD / ZREM / HSET / HDEL / SET (`RedisStream.transaction`). */
export const transaction: Script = load("transaction", "variadic")

/** Due schedule members, claimed to a consumer with their delivery counts (`takeDue`). */
export const takeDue: Script = load("takeDue", 3)

/** Consumers without pending entries idle for a while, removed from a group (`removeIdleConsumers`). */
export const removeIdleConsumers: Script = load("removeIdleConsumers", 1)

/** XCLAIM plus the delivery count of each claimed entry (`claim`). */
export const claim: Script = load("claim", 1)

/** XAUTOCLAIM plus the delivery count of each claimed entry (`autoClaim`). */
export const autoClaim: Script = load("autoClaim", 1)

/** One EXISTS answer per key (`markersExist`). */
export const exists: Script = load("exists", "variadic")

/** A consumer's pending entries, read without bumping their delivery counts (`readOwnPending`). */
export const readPending: Script = load("readPending", 1)

/** A replay batch copied inside the server, marker spliced in, progress recorded (`copyForReplay`). */
export const copyForReplay: Script = load("copyForReplay", "variadic")

/** Entries appended from texts of one line per entry, plus a hash field, atomically (`appendLines`). */
export const appendLines: Script = load("appendLines", 2)
