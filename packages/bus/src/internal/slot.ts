/**
 * The Redis Cluster key slot of a key (CRC16-XMODEM of its hash tag, or of the whole key, modulo
 * 16384), as the cluster specification defines it: the in-memory backend uses it to reject the
 * cross-slot steps a cluster would reject, and `Topology` to spread partitions. Checked against
 * the `cluster-key-slot` package ioredis uses (test/Topology.test.ts).
 */

/** Number of slots of a Redis Cluster. */
export const slots = 16384

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

const encoder = new TextEncoder()

/** CRC16-XMODEM (polynomial 0x1021, initial 0) of the UTF-8 bytes of `text`. */
export const crc16 = (text: string): number => {
  let crc = 0
  for (const byte of encoder.encode(text)) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc
}

/** The slot `key` lives in on a Redis Cluster. */
export const of = (key: string): number => crc16(hashTagOf(key)) % slots
