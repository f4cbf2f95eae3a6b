import { LruCache } from '../../lru-cache.ts'
import type { Millis } from '../timestamps.ts'
import type { SqliteConnection } from './connection.ts'

/** What info/collections and the storage timestamp are made of: one user's collection rows. */
export interface UserCollections {
  storageModified: Millis
  /** Last-modified per named collection, the tombstone left out. Never mutated once built. */
  named: ReadonlyMap<string, Millis>
}

/** About 1 KB per user: enough for every recently syncing profile of a self-hosted server. */
const CAPACITY = 10_000

/**
 * Each user's collection rows as last read. Every client polls info/collections at the start of
 * every sync and mostly finds nothing new, so a hit saves the query (the per-row work of a
 * sync's hottest read) for a version check.
 *
 * An entry is valid until this process writes for its user (`forget`, called after every write
 * transaction) or any other connection commits to the file: `PRAGMA data_version` then moves,
 * while it never moves for this connection's own commits. The version is checked by the read
 * that uses the entry, inside its transaction or, before one begins, as a read of its own, so a
 * hit is as fresh as a query at that point.
 */
export class UserCollectionsCache {
  // One per connection, not per backend: data_version does not move for commits made through
  // the connection itself, so everything that writes through it must share the cache.
  static readonly #byConnection = new WeakMap<SqliteConnection, UserCollectionsCache>()

  static of(connection: SqliteConnection): UserCollectionsCache {
    let cache = UserCollectionsCache.#byConnection.get(connection)
    if (cache === undefined) {
      cache = new UserCollectionsCache(connection)
      UserCollectionsCache.#byConnection.set(connection, cache)
    }
    return cache
  }

  readonly #entries = new LruCache<number, UserCollections>(CAPACITY)
  readonly #dataVersion: { values(): unknown[][] }
  #seenVersion: unknown

  private constructor(connection: SqliteConnection) {
    this.#dataVersion = connection.client.prepare('PRAGMA data_version')
  }

  /** Inside a read transaction, or outside any (the version check is then a read of its own). */
  get(uid: number): UserCollections | undefined {
    const version = this.#dataVersion.values()[0]?.[0]
    if (version !== this.#seenVersion) {
      this.#entries.clear()
      this.#seenVersion = version
    }
    return this.#entries.get(uid)
  }

  /** `rows` must be read after the `get` that missed, in the same read or transaction. */
  set(uid: number, rows: UserCollections): void {
    this.#entries.set(uid, rows)
  }

  forget(uid: number): void {
    this.#entries.delete(uid)
  }
}
