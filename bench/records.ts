/**
 * Record bodies as Firefox uploads them: encrypted payloads (`{"ciphertext","IV","hmac"}`
 * JSON in a string), sizes skewed small like syncstorage's load test (min 300, mean ~450,
 * max 7000 bytes). Generated from a seeded PRNG so runs are comparable.
 */

/** mulberry32: tiny, fast and good enough to pick sizes and ids. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const randomInt = (random: () => number, min: number, max: number): number =>
  min + Math.floor(random() * (max - min + 1))

/** Picks an index by integer weights, e.g. [71, 15, 7, 4, 3] → 0 with 71 % probability. */
export function weightedIndex(random: () => number, weights: readonly number[]): number {
  const total = weights.reduce((sum, weight) => sum + weight, 0)
  let roll = random() * total
  for (const [index, weight] of weights.entries()) {
    roll -= weight
    if (roll < 0) return index
  }
  return weights.length - 1
}

/** The load test's payload length: 300 × Pareto(α = 3), capped at 7000 (mean 450). */
export function paretoPayloadLength(random: () => number): number {
  const pareto = 1 / Math.pow(1 - random(), 1 / 3)
  return Math.min(Math.floor(300 * pareto), 7000)
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
// One long random base64 text that payloads are cut from, so building a body costs a slice.
const CIPHER_POOL = (() => {
  const random = seededRandom(0x5eed)
  let text = ''
  for (let i = 0; i < 16_384; i++) text += B64[Math.floor(random() * 64)]
  return text
})()

const ENVELOPE = (ciphertext: string, offset: number) =>
  `{"ciphertext":"${ciphertext}","IV":"${CIPHER_POOL.slice(offset, offset + 22)}==","hmac":"${'0123456789abcdef'.repeat(4)}"}`
const ENVELOPE_OVERHEAD = ENVELOPE('', 0).length

/** An encrypted-looking payload of exactly `bytes` ASCII characters (at least the envelope). */
export function payloadOfLength(bytes: number, offset = 0): string {
  const cipherLength = Math.max(0, bytes - ENVELOPE_OVERHEAD)
  const start = offset % (CIPHER_POOL.length - cipherLength - 22)
  return ENVELOPE(CIPHER_POOL.slice(start, start + cipherLength), start + cipherLength)
}

/** Record ids as Firefox makes them: 12 base64url characters. */
export function recordId(n: number): string {
  return `bench${n.toString(36).padStart(7, '0')}`
}

export interface BenchRecord {
  id: string
  payload: string
  sortindex?: number
}

/** `count` records with ids `first…first+count-1` and fixed-size payloads. */
export function fixedRecords(first: number, count: number, payloadBytes: number): BenchRecord[] {
  return Array.from({ length: count }, (_, i) => ({ id: recordId(first + i), payload: payloadOfLength(payloadBytes, (first + i) * 7) }))
}
