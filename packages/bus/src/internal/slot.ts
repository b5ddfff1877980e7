/**
 * The Redis Cluster hash slot of a key: CRC16 (XMODEM) of the key's UTF-8 bytes, or of its
 * `{hash tag}` (the text between the first `{` and the next `}` when that is not empty), modulo
 * 16384, as `CLUSTER KEYSLOT` computes it. Keys with the same tag land on the same slot, which is
 * what lets one command or script name them together. Used by the cluster backend (reads and
 * notifiers per slot), the in-memory backend (to reject the cross-slot steps a cluster would
 * reject) and `Topology` (partitions). Checked against `cluster-key-slot` (test/Topology.test.ts)
 * and against a real cluster (test/RedisStream.cluster-only.test.ts).
 */

/** The number of hash slots of a Redis Cluster. */
export const slots = 16384

const table = (() => {
  const out = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    out[i] = crc
  }
  return out
})()

const encoder = new TextEncoder()

const crc16Of = (bytes: Uint8Array, start: number, end: number): number => {
  let crc = 0
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ bytes[i]!) & 0xff]!
  return crc
}

/** CRC16-XMODEM (polynomial 0x1021, initial 0) of the UTF-8 bytes of `text`. */
export const crc16 = (text: string): number => {
  const bytes = encoder.encode(text)
  return crc16Of(bytes, 0, bytes.length)
}

/**
 * The part of `key` that is hashed: the content of the first `{...}` when it is non-empty, else
 * the whole key (the specification's rule, so `{}x` and `x{` hash whole).
 */
export const hashTagOf = (key: string): string => {
  const open = key.indexOf("{")
  if (open === -1) return key
  const close = key.indexOf("}", open + 1)
  return close === -1 || close === open + 1 ? key : key.slice(open + 1, close)
}

/** The slot `key` hashes to. */
export const of = (key: string): number => {
  const bytes = encoder.encode(key)
  const open = bytes.indexOf(0x7b) // {
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1) // }
    if (close > open + 1) return crc16Of(bytes, open + 1, close) % slots
  }
  return crc16Of(bytes, 0, bytes.length) % slots
}

/** `keys` grouped by slot, groups in the order of their first key, keys in their given order. */
export const bySlot = (keys: ReadonlyArray<string>): ReadonlyArray<ReadonlyArray<string>> => {
  if (keys.length < 2) return [keys]
  const groups = new Map<number, Array<string>>()
  for (const key of keys) {
    const slot = of(key)
    const group = groups.get(slot)
    if (group === undefined) groups.set(slot, [key])
    else group.push(key)
  }
  return groups.size === 1 ? [keys] : Array.from(groups.values())
}
