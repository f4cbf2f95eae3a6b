import { truncateToTick, type Millis } from '../wire-timestamp.ts'

export { truncateToTick, type Millis }

export const nowMillis = (): Millis => truncateToTick(Date.now())

/** Expiry of a record written without `ttl`: 2,100,000,000 s, "never" in practice. */
export const DEFAULT_TTL_MS = 2_100_000_000_000

/** How long a batch stays open after it was created (storage-api.md §13.3). */
export const BATCH_LIFETIME_MS = 7_200_000

/**
 * A write that finds its collection stamped at or after the clock waits up to this long for the
 * clock to pass it; further ahead means another clock is skewed, and the write is a conflict.
 */
export const MAX_WRITE_WAIT_MS = 1_000
