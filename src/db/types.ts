/**
 * The storage interface every backend implements (SQLite, PostgreSQL, MySQL, Spanner).
 * It speaks in protocol terms (users, collections, BSOs, batches, millisecond timestamps);
 * the HTTP layer never sees SQL and backends never see HTTP.
 */

import type { ExpiredRows } from './purge.ts'

/** Milliseconds since the epoch, always a multiple of 10 (storage-api.md §5). */
export type Millis = number

/** Who the data belongs to. SQL backends key by `uid`; Spanner keys by (fxaUid, fxaKid). */
export interface StorageUser {
  readonly uid: number
  readonly fxaUid: string
  readonly fxaKid: string
}

export interface Bso {
  id: string
  modified: Millis
  payload: string
  sortindex: number | null
}

/** One record of a write. An absent field keeps the stored value (storage-api.md §9). */
export interface BsoWrite {
  id: string
  payload?: string
  sortindex?: number
  /** Seconds from the write timestamp until the record expires. */
  ttl?: number
}

export type SortOrder = 'newest' | 'oldest' | 'index' | 'none'

export interface BsoQuery {
  ids?: readonly string[]
  /** Strict lower bound on `modified`. */
  newer?: Millis
  /** Strict upper bound on `modified`. */
  older?: Millis
  /** Inclusive bound from a `T:N` offset token: `modified <= atMost` (newest / none). */
  atMost?: Millis
  /** Inclusive bound from a `T:N` offset token: `modified >= atLeast` (oldest). */
  atLeast?: Millis
  sort: SortOrder
  /** Rows to return at most; undefined means all. */
  limit?: number
  /** Rows to skip after filtering and sorting. */
  skip: number
}

export type TransactionRequest =
  /** A read; `collection` names the collection the path refers to, if any. */
  | { user: StorageUser; mode: 'read'; collection?: string }
  /** A write to one collection: takes its write lock and assigns the write timestamp. */
  | { user: StorageUser; mode: 'write'; collection: string }
  /** DELETE of all storage: no collection lock (storage-api.md §5). */
  | { user: StorageUser; mode: 'wipe' }

/** Work done inside one transaction, all for one user (and, for writes, one collection). */
export interface StorageTx {
  /** The write timestamp T of a write transaction, or the read time of a read. */
  readonly timestamp: Millis

  /** MAX(modified) over the user's collections, tombstone included; 0 when none. */
  storageTimestamp(): Promise<Millis>
  /** Last-modified of the transaction's collection; 0 when it has none. */
  collectionTimestamp(): Promise<Millis>
  /** `modified` of one BSO of the transaction's collection (expired ones too); 0 when absent. */
  bsoTimestamp(id: string): Promise<Millis>

  /**
   * Last-modified per collection. The map is never mutated once returned, and a backend may hand
   * back the same map while nothing changed (so callers may memoise what they derive from it).
   */
  collectionTimestamps(): Promise<ReadonlyMap<string, Millis>>
  /** Live BSO counts per collection (collections with none are absent). */
  collectionCounts(): Promise<Map<string, number>>
  /** Live payload bytes per collection (collections with none are absent). */
  collectionUsage(): Promise<Map<string, number>>
  /** Live payload bytes over all collections. */
  storageUsage(): Promise<number>

  getBsos(query: BsoQuery): Promise<Bso[]>
  getBsoIds(query: BsoQuery): Promise<string[]>
  getBso(id: string): Promise<Bso | null>

  /** Upserts records with T and moves the collection's last-modified to T. */
  putBsos(writes: readonly BsoWrite[]): Promise<void>
  /** Deletes one live BSO and moves the collection to T; false when there was none. */
  deleteBso(id: string): Promise<boolean>
  /** Deletes these BSOs (expired too) and moves the collection to T, creating it if needed. */
  deleteBsos(ids: readonly string[]): Promise<void>
  /** Deletes the collection and its BSOs (and batches); writes the tombstone if anything went. */
  deleteCollection(): Promise<void>
  /** Deletes everything the user has, the tombstone included. */
  deleteStorage(): Promise<void>

  createBatch(): Promise<string>
  /** True when the batch exists for this user and collection and has not expired. */
  batchIsOpen(batchId: string): Promise<boolean>
  appendToBatch(batchId: string, writes: readonly BsoWrite[]): Promise<void>
  /** Payload bytes staged in the batch, excluding the given ids. */
  stagedBytes(batchId: string, excludingIds: readonly string[]): Promise<number>
  /** Applies the staged records with T (modified = T for each), moves the collection, deletes the batch. */
  commitBatch(batchId: string): Promise<void>

  /**
   * Quota usage: the bytes the user's collections held when their last write committed. The
   * backend keeps these totals itself (refreshed before every write transaction commits) when
   * opened with `quotaTotals`; otherwise they are not maintained, as in the reference.
   */
  quotaUsage(): Promise<number>
}

export interface PoolStatus {
  active: number
  idle: number
  max: number
}

/**
 * What every engine promises (test/backends/contract/ checks each of these on every engine,
 * through this interface alone):
 *
 * - **One transaction per call.** `withTransaction` runs `work` in one transaction: committed
 *   when `work` resolves, rolled back when it throws; the error then reaches the caller (driver
 *   errors translated into SyncErrors where they have a protocol meaning).
 * - **Read your writes.** Inside a transaction every read sees the transaction's own writes.
 * - **T is fixed when the transaction opens.** `tx.timestamp` never changes during the
 *   transaction; every record a write touches gets `modified = T` and the collection's
 *   last-modified becomes T. A write transaction holds the (user, collection) write lock, so T
 *   is strictly later than the collection's last-modified before it, and two writes to one
 *   collection are serialised (the later one gets the later T).
 * - **A rollback leaves nothing behind**: no record, timestamp, batch or collection row, and no
 *   entry in any cache of the backend (collection ids are cached only once committed).
 * - **`work` runs at most once for a write or a wipe.** A read's `work` may run a second time,
 *   from the start on a fresh connection, when the first connection turned out dead; so `work`
 *   must not have effects outside the transaction it is given.
 * - **Conflicts are SyncErrors.** A collection stamped too far ahead of the clock
 *   (rules.ts, writeTimestampAfter), a lock the database gave up waiting for, and a transaction
 *   the database aborted (deadlock, serialization failure, Spanner's ABORTED) all reject with
 *   a `conflict` SyncError; an unreachable database or an exhausted pool with `unavailable`.
 *   Both are answered 503 with Retry-After, as the reference does: an aborted transaction
 *   changed nothing and the client retries it as a whole. A backend never retries a write
 *   itself once `work` has started.
 * - **Ids are exact.** Two record ids or collection names that differ in any byte are never
 *   one record or one collection; an engine whose keys cannot keep two ids apart (MySQL's
 *   PAD SPACE: `x` and `x `) refuses the write with an `invalidBso` SyncError instead.
 * - **Bytes are the client's.** Usage, quota and staged sizes count the UTF-8 bytes of the
 *   payload as sent, whatever the engine stores to hold it.
 */
/** Limits an engine imposes; the configured ones are lowered to these (storage/limits.ts). */
export interface BackendLimits {
  /** Payload bytes one batch commit may write (Spanner: 100 MB per commit). */
  maxTotalBytes?: number
  /** Records one batch commit may write (Spanner: mutations per commit). */
  maxTotalRecords?: number
}

/** A user's storage timestamp and each collection's, read in one snapshot (info/collections). */
export interface UserTimestamps {
  /** As StorageTx.storageTimestamp. */
  storage: Millis
  /** As StorageTx.collectionTimestamps (the same map while nothing changed). */
  collections: ReadonlyMap<string, Millis>
}

export interface StorageBackend {
  readonly engine: 'sqlite' | 'postgres' | 'mysql' | 'spanner'
  /** What this engine cannot go beyond, whatever the configuration says; absent when nothing. */
  readonly limits?: BackendLimits
  /** Deletes of expired rows, for purge; absent on Spanner, whose schema deletes them itself. */
  readonly expiredRows?: ExpiredRows
  /**
   * Runs `work` in one transaction (see the contract above). A write transaction holds the
   * (user, collection) write lock and refuses with a `conflict` SyncError when the
   * collection's last-modified cannot be passed.
   */
  withTransaction<T>(request: TransactionRequest, work: (tx: StorageTx) => Promise<T>): Promise<T>
  /**
   * What a read transaction's storageTimestamp and collectionTimestamps answer, for
   * info/collections, the request every sync begins with. Answered directly, not as a promise,
   * when the engine has it at hand (SQLite's cache on an idle connection): the request then
   * takes no promise hops, which saved 7 % of its server CPU.
   */
  userTimestamps(user: StorageUser): UserTimestamps | Promise<UserTimestamps>
  /** Batch ids this backend issues; anything else is a 400 before any database work. */
  isWellFormedBatchId(batchId: string): boolean
  /** Heartbeat check. */
  check(): Promise<boolean>
  poolStatus(): PoolStatus
  close(): Promise<void>
}
