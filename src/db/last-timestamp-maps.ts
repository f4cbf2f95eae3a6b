import { LruCache } from '../lru-cache.ts'
import type { Millis } from './timestamps.ts'

/** A user's collection timestamps by collection name, as info/collections answers them. */
export type TimestampMap = ReadonlyMap<string, Millis>

/** About 1 KB per user, as the SQLite engine's cache of user collections. */
const USERS_KEPT = 10_000

/** How one engine reads a user's timestamps, and how it tells that nothing changed since. */
export interface TimestampReadForm<Read> {
  unchanged(kept: Read, read: Read): boolean
  toMap(read: Read): TimestampMap
}

/**
 * Each user's last timestamp map, with the read it came from. While a new read is unchanged,
 * the kept map is handed back, so the info/collections body derived from it is reused
 * (StorageTx.collectionTimestamps allows it): most syncs start with an info/collections that
 * finds nothing new. The map is handed back only when it equals the read just made, so it is
 * never older than that read.
 */
export class LastTimestampMaps<Read> {
  private readonly kept = new LruCache<number, { read: Read; map: TimestampMap }>(USERS_KEPT)

  constructor(private readonly form: TimestampReadForm<Read>) {}

  of(uid: number, read: Read): TimestampMap {
    const kept = this.kept.get(uid)
    if (kept !== undefined && this.form.unchanged(kept.read, read)) return kept.map
    const map = this.form.toMap(read)
    this.kept.set(uid, { read, map })
    return map
  }
}
