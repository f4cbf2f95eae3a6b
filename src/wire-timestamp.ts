/**
 * Sync timestamps as they travel (storage-api.md §5): milliseconds inside, seconds with two
 * decimals on the wire. A leaf module: the HTTP kit, storage and the engines all share it.
 */

/** Milliseconds since the epoch, truncated to the 10 ms precision of sync timestamps. */
export type Millis = number

export const truncateToTick = (ms: number): Millis => ms - (ms % 10)

/** Seconds with exactly two decimals, the form of every sync timestamp on the wire (§5). */
export function formatTimestamp(ms: Millis): string {
  const hundredths = Math.floor(ms / 10)
  const whole = Math.floor(hundredths / 100)
  const fraction = hundredths % 100
  return `${whole}.${fraction < 10 ? '0' : ''}${fraction}`
}

// What Rust's f64 parser takes (the reference parses client timestamps with it): no "inf"/"nan"
// here, as those are rejected anyway.
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const MAX_SECONDS = 18_446_744_073_709_551 // u64::MAX / 1000

/**
 * A client timestamp in seconds (query `newer`/`older`, `X-If-*` headers) as milliseconds, or
 * undefined when it is not one: unparsable, negative or beyond u64 milliseconds.
 * The product is computed in doubles like the reference, so `newer=<a BSO's modified>` is exact.
 */
export function parseTimestamp(text: string): Millis | undefined {
  if (!FLOAT.test(text)) return undefined
  const seconds = Number(text)
  if (!(seconds >= 0) || seconds > MAX_SECONDS) return undefined
  // Larger values compare the same as any far-future bound; keep them exact integers.
  return Math.min(truncateToTick(Math.trunc(seconds * 1000)), MAX_BOUND)
}

const MAX_BOUND = truncateToTick(Number.MAX_SAFE_INTEGER)
