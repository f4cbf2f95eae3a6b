import { toArrayBuffer, type Pointer } from 'bun:ffi'
import { readFileSync, realpathSync } from 'node:fs'
import type { Database } from 'bun:sqlite'
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
 *
 * That read costs a read lock on the WAL (two fcntl syscalls), about a fifth of a cached
 * info/collections. Outside a transaction it is skipped while the wal-index header is what it
 * was just before the last version check: every commit, by any process, rewrites that header
 * before it returns, so an unchanged header means nothing was committed since that check.
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
  readonly #client: Database
  readonly #path: string
  readonly #dataVersion: { values(): unknown[][] }
  #seenVersion: unknown
  /** SQLite's live header words; null without one, undefined until looked for. */
  #walIndex: Uint32Array | null | undefined
  /** The header as read just before the version check that last ran outside a transaction. */
  readonly #checkedWalIndex = new Uint32Array(WAL_INDEX_HEADER_WORDS)

  private constructor(connection: SqliteConnection) {
    this.#client = connection.client
    this.#path = connection.path
    this.#dataVersion = connection.client.prepare('PRAGMA data_version')
  }

  /** Inside a read transaction, or outside any (the version check is then a read of its own). */
  get(uid: number): UserCollections | undefined {
    // In a transaction the check must run: a deferred BEGIN takes its snapshot at the first read,
    // and this check is what pins it to the entries' version.
    if (this.#client.inTransaction || !this.#walIndexUnchanged()) this.#checkVersion()
    return this.#entries.get(uid)
  }

  #checkVersion(): void {
    const outside = !this.#client.inTransaction
    // Read before the version, so that a commit between the two shows as a changed header next time.
    if (outside && this.#walIndex) this.#checkedWalIndex.set(this.#walIndex)
    const version = this.#dataVersion.values()[0]?.[0]
    if (version !== this.#seenVersion) {
      this.#entries.clear()
      this.#seenVersion = version
    }
    // Looked for once the version check has read the file, so SQLite has mapped it by then.
    if (outside && this.#walIndex === undefined) this.#walIndex = mappedWalIndexHeader(this.#path)
  }

  #walIndexUnchanged(): boolean {
    const live = this.#walIndex
    if (!live) return false
    const checked = this.#checkedWalIndex
    for (let word = 0; word < WAL_INDEX_HEADER_WORDS; word++) if (live[word] !== checked[word]) return false
    return true
  }

  /** `rows` must be read after the `get` that missed, in the same read or transaction. */
  set(uid: number, rows: UserCollections): void {
    this.#entries.set(uid, rows)
  }

  forget(uid: number): void {
    this.#entries.delete(uid)
  }
}

/** The wal-index header, twice (sqlite/src/wal.c: WalIndexHdr): 48 bytes per copy. */
const WAL_INDEX_HEADER_WORDS = 24
const WAL_INDEX_VERSION = 3_007_000
const MAPPING = /^([0-9a-f]+)-[0-9a-f]+ \S{3}s 0+ \S+ \d+\s+(.*)$/

/**
 * The wal-index header words of the database at `path`, in SQLite's own shared mapping of its
 * -shm file (found in /proc/self/maps). Not a mapping of our own: opening and closing the file
 * here would drop the POSIX locks SQLite holds on it, which belong to the process, not the fd.
 * Null when there is none to read (not in WAL mode, no /proc, an in-memory database).
 */
export function mappedWalIndexHeader(path: string): Uint32Array | null {
  try {
    const shm = `${realpathSync(path)}-shm`
    for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const mapping = MAPPING.exec(line)
      if (mapping?.[2] !== shm) continue
      const address = Number.parseInt(mapping[1] as string, 16) as Pointer
      const header = new Uint32Array(toArrayBuffer(address, 0, WAL_INDEX_HEADER_WORDS * 4))
      return header[0] === WAL_INDEX_VERSION ? header : null
    }
  } catch {
    // No such file or no /proc: the version check then runs on every read, as it always did.
  }
  return null
}
