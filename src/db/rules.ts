import { SyncError } from '../errors.ts'
import { BATCH_LIFETIME_MS, DEFAULT_TTL_MS, MAX_WRITE_WAIT_MS, nowMillis, type Millis } from './timestamps.ts'
import type { BsoWrite, SortOrder } from './types.ts'

/**
 * The storage rules of storage-api.md that every engine applies the same way, written once.
 * Engines keep only their SQL; what a rule decides (a value, an order, an id) comes from here.
 */

/** The collection id of the deletion tombstone: moves the storage timestamp, never listed. */
export const TOMBSTONE = 0

/**
 * T for a write, given the collection's stored last-modified and a clock (storage-api.md §5):
 * the clock when it is past the stored value; otherwise, when the stored value is within
 * MAX_WRITE_WAIT_MS (another write in this 10 ms tick, or a slightly faster clock elsewhere),
 * wait for the next tick rather than answer 503; further ahead is a conflict.
 */
export async function writeTimestampAfter(stored: Millis, clock: () => Millis): Promise<Millis> {
  let timestamp = clock()
  if (stored < timestamp) return timestamp
  if (stored - timestamp > MAX_WRITE_WAIT_MS) throw new SyncError('conflict', 'collection modified in the future')
  await Bun.sleep(stored - timestamp + 10 - (Date.now() % 10))
  timestamp = Math.max(clock(), nowMillis())
  if (stored >= timestamp) throw new SyncError('conflict', 'collection still locked')
  return timestamp
}

/** The absolute expiry of a record written at T: T + ttl, or "never" without a ttl. */
export const recordExpiry = (timestamp: Millis, ttlSeconds: number | undefined): Millis =>
  timestamp + (ttlSeconds === undefined ? DEFAULT_TTL_MS : ttlSeconds * 1000)

/** When a batch created at T stops accepting appends and commits (storage-api.md §13.3). */
export const batchExpiry = (createdAt: Millis): Millis => createdAt + BATCH_LIFETIME_MS

/** True while a batch created at `createdAt` may still be used at `now`. */
export const batchIsLive = (createdAt: Millis, now: Millis): boolean => batchExpiry(createdAt) > now

/** Tries for an integer batch number before a write gives up with a conflict. */
const BATCH_ATTEMPTS = 5

/**
 * Integer batch numbers (the SQLite and MySQL layouts): creation T plus uid mod 10, as the
 * reference does; a number the user already holds (same tick) moves on to the next one.
 * `insert` creates the batch row and answers whether it was new.
 */
export async function allocateBatchNumber(
  timestamp: Millis,
  uid: number,
  insert: (batch: number) => Promise<boolean> | boolean,
): Promise<number> {
  for (let attempt = 0; attempt < BATCH_ATTEMPTS; attempt++) {
    const batch = timestamp + (uid % 10) + attempt
    if (await insert(batch)) return batch
  }
  throw new SyncError('conflict', 'could not allocate a batch id')
}

/** The order of a listing: its key, then the id in the same direction (byte order), so pages are stable. */
export interface ListingOrder {
  key: 'modified' | 'sortindex'
  descending: boolean
}

/**
 * storage-api.md §8: newest first (also for `none`, which must be deterministic for paging),
 * oldest first, or by sortindex, highest first, records without one last.
 */
export const LISTING_ORDERS: Readonly<Record<SortOrder, ListingOrder>> = {
  newest: { key: 'modified', descending: true },
  none: { key: 'modified', descending: true },
  oldest: { key: 'modified', descending: false },
  index: { key: 'sortindex', descending: true },
}

/** Payload accounting: the UTF-8 bytes of the payload as the client sent it (usage, quota, staging). */
export const payloadBytes = (payload: string): number => Buffer.byteLength(payload, 'utf8')

/** A write's payload size, or null when it leaves the payload as stored. */
export const writtenPayloadBytes = (write: BsoWrite): number | null =>
  write.payload === undefined ? null : payloadBytes(write.payload)
