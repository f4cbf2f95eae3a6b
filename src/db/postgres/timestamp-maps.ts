import { LruCache } from '../../lru-cache.ts'
import type { Millis } from '../timestamps.ts'

/** About 1 KB per user, as the SQLite engine's cache of user collections. */
const MAPS_KEPT = 10_000

/**
 * Each user's last timestamp map with the JSON text it was read from (statements.userTimestampsJson):
 * while a read finds the same text, the same map is handed back, so the info/collections body
 * derived from it is reused (StorageTx.collectionTimestamps allows it): most syncs start with an
 * info/collections that finds nothing new. The map always comes from the text just read, so it
 * is never older than the read.
 */
export class TimestampMaps {
  private readonly maps = new LruCache<number, { json: string; map: ReadonlyMap<string, Millis> }>(MAPS_KEPT)

  /** The map `json` (an object of collection name to milliseconds, or null for none) holds. */
  of(uid: number, json: string | null): ReadonlyMap<string, Millis> {
    const text = json ?? '{}'
    const kept = this.maps.get(uid)
    if (kept !== undefined && kept.json === text) return kept.map
    const map = new Map(Object.entries(JSON.parse(text) as Record<string, Millis>))
    this.maps.set(uid, { json: text, map })
    return map
  }
}
