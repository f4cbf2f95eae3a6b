import { drizzle } from 'drizzle-orm/bun-sqlite'
import type { StorageOptions } from '../engine.ts'
import { collectionRows, CollectionIds, type CollectionRows, type ResolvedCollection } from '../collection-ids.ts'
import { decodeIntegerBatchId, encodeIntegerBatchId, isWellFormedIntegerBatchId } from '../batch-id.ts'
import { allocateBatchNumber, batchIsLive, recordExpiry, TOMBSTONE, writeTimestampAfter, writtenPayloadBytes } from '../rules.ts'
import { nowMillis, type Millis } from '../timestamps.ts'
import type {
  Bso,
  BsoQuery,
  BsoWrite,
  PoolStatus,
  StorageBackend,
  StorageTx,
  StorageUser,
  TransactionRequest,
  UserTimestamps,
} from '../types.ts'
import { userTimestampsInTransaction } from '../user-timestamps.ts'
import { SqliteConnection, translateLockError, type GroupMember } from './connection.ts'
import { toBso } from '../pooled-storage.ts'
import { guardTransaction } from '../retry.ts'
import { prepareStatements, type Statements, type UpsertTarget } from './statements.ts'
import { UserCollectionsCache, type UserCollections } from './user-collections-cache.ts'

/** Filters that pass every row stand in for absent bounds, so one prepared listing fits all. */
const NO_LOWER_BOUND = -1
const NO_UPPER_BOUND = Number.MAX_SAFE_INTEGER

/**
 * Thrown inside a deferred read whose cache hit, served before its transaction began, is no
 * longer what the transaction sees (another process committed in between): the read runs again.
 */
const SNAPSHOT_MOVED = new Error('the snapshot moved under a deferred read')

/** Drizzle types bun:sqlite's `run()` as void; it returns the statement's change count. */
const changes = (result: unknown): number => (result as { changes: number }).changes

type ReadRequest = TransactionRequest & { mode: 'read' }
type WriteRequest = TransactionRequest & { mode: 'write' | 'wipe' }

interface OpenedTx {
  tx: SqliteTx
  collection?: ResolvedCollection
}

/** Sync storage on embedded SQLite (bun:sqlite through Drizzle). */
export class SqliteStorage implements StorageBackend {
  readonly engine = 'sqlite'
  private collectionIds = new CollectionIds()
  private readonly collectionRows: CollectionRows
  private readonly statements: Statements
  private readonly userCollections: UserCollectionsCache

  constructor(
    private readonly connection: SqliteConnection,
    private readonly options: StorageOptions = {},
  ) {
    this.statements = prepareStatements(drizzle({ client: connection.client }), connection.client)
    this.userCollections = UserCollectionsCache.of(connection)
    this.collectionRows = collectionRows(
      (name) => this.statements.collectionByName.get({ name })?.id,
      (name) => void this.statements.insertCollection.run({ name }),
    )
  }

  /**
   * A cache hit on an idle connection answers at once: it is what the read `withTransaction`
   * would run in this very call (no BEGIN, only the version check). Anything else is that read.
   */
  userTimestamps(user: StorageUser): UserTimestamps | Promise<UserTimestamps> {
    const cached = this.connection.idle ? this.cachedUserCollections(user.uid) : undefined
    return cached === undefined ? userTimestampsInTransaction(this, user) : { storage: cached.storageModified, collections: cached.named }
  }

  private cachedUserCollections(uid: number): UserCollections | undefined {
    try {
      return this.userCollections.get(uid)
    } catch (error) {
      throw translateLockError(error, 'conflict')
    }
  }

  withTransaction<T>(request: TransactionRequest, work: (tx: StorageTx) => Promise<T>): Promise<T> {
    if (request.mode === 'read') return guardTransaction('read', () => this.connection.read(() => this.read(request, work, true)))
    return guardTransaction(request.mode, () => this.connection.write(this.writeMember(request, work)))
  }

  /**
   * A read is `deferred`: its transaction begins at its first statement, so one answered from
   * the user-collections cache (info/collections of a user whose data did not change) takes no
   * BEGIN and COMMIT, only the cache's version check.
   */
  private async read<T>(request: ReadRequest, work: (tx: StorageTx) => Promise<T>, deferred: boolean): Promise<T> {
    const { client, transaction } = this.connection
    try {
      if (!deferred) transaction.begin()
    } catch (error) {
      throw translateLockError(error, 'conflict')
    }
    try {
      const opening = this.openRead(request, deferred ? transaction.begin : undefined)
      // A read of no collection (info/*) opens at once; awaiting it anyway would cost a hop.
      const result = await work(opening instanceof Promise ? await opening : opening)
      if (client.inTransaction) transaction.commit()
      return result
    } catch (error) {
      if (client.inTransaction) transaction.rollback()
      if (error === SNAPSHOT_MOVED) return this.read(request, work, false)
      throw translateLockError(error, 'conflict')
    }
  }

  private openRead(request: ReadRequest, beginRead?: () => void): SqliteTx | Promise<SqliteTx> {
    const read = (id: number | undefined) => new SqliteTx(this.statements, request.user, id, nowMillis(), this.userCollections, beginRead)
    return request.collection === undefined ? read(undefined) : this.collectionIds.find(request.collection, this.collectionRows).then(read)
  }

  /**
   * A write, as a member of a group commit (connection.ts): the caches learn from it only once
   * its group's outcome is known.
   */
  private writeMember<T>(request: WriteRequest, work: (tx: StorageTx) => Promise<T>): GroupMember<T> {
    let collection: ResolvedCollection | undefined
    return {
      run: async () => {
        const opened = await this.openWrite(request)
        collection = opened.collection
        const result = await work(opened.tx)
        if (this.options.quotaTotals && request.mode === 'write') opened.tx.refreshTotals()
        return result
      },
      ended: (outcome) => {
        if (outcome === 'committed') this.collectionIds.committed(collection)
        // A member may have cached the id of a collection an earlier member of its group created:
        // with the group undone, that id may go to another name, so every cached id is dropped.
        else if (outcome === 'lost') this.collectionIds = new CollectionIds()
        this.userCollections.forget(request.user.uid)
      },
    }
  }

  private async openWrite(request: WriteRequest): Promise<OpenedTx> {
    const { user } = request
    if (request.mode === 'wipe') return { tx: new SqliteTx(this.statements, user, undefined, nowMillis()) }
    const collection = await this.collectionIds.resolve(request.collection, this.collectionRows)
    const timestamp = await this.writeTimestamp(user.uid, collection.id)
    return { tx: new SqliteTx(this.statements, user, collection.id, timestamp), collection }
  }

  /** T for a write: the clock, past the collection's last-modified (rules.ts). */
  private writeTimestamp(uid: number, collectionId: number): Promise<Millis> {
    return writeTimestampAfter(this.statements.collectionModified.get(uid, collectionId) ?? 0, nowMillis)
  }

  isWellFormedBatchId(batchId: string): boolean {
    return isWellFormedIntegerBatchId(batchId)
  }

  async check(): Promise<boolean> {
    return this.connection.exclusive(async () => this.connection.client.query('SELECT 1 AS ok').get() !== null)
  }

  poolStatus(): PoolStatus {
    // The "pool" of SQLite is the transaction queue: exhausted when it is full.
    // Idle is the one connection when nothing is in flight; exhausted when the queue is full.
    const active = Math.min(this.connection.inFlight, SqliteConnection.QUEUE_LIMIT)
    return { active, idle: active === 0 ? 1 : 0, max: SqliteConnection.QUEUE_LIMIT }
  }

  async close(): Promise<void> {
    await this.connection.exclusive(async () => this.connection.close())
  }
}

class SqliteTx implements StorageTx {
  private readonly uid: number
  private snapshot: UserCollections | undefined

  constructor(
    private readonly allStatements: Statements,
    user: StorageUser,
    private readonly collectionId: number | undefined,
    readonly timestamp: Millis,
    /** Read transactions only: writes change the rows they would cache. */
    private readonly cache?: UserCollectionsCache,
    /** A deferred read's BEGIN, run before its first statement (then cleared). */
    private pendingBegin?: () => void,
  ) {
    this.uid = user.uid
  }

  /** Every statement goes through here, so a deferred read is in its transaction before the first. */
  private get statements(): Statements {
    const begin = this.pendingBegin
    if (begin !== undefined) {
      this.pendingBegin = undefined
      begin()
      // A cache hit served before the transaction must be what the transaction sees (the same
      // entry, still valid at its data_version), or the request would mix two snapshots.
      if (this.snapshot !== undefined && this.cache?.get(this.uid) !== this.snapshot) throw SNAPSHOT_MOVED
    }
    return this.allStatements
  }

  /** The write lock was taken on a known collection; reads may name an unknown one. */
  private get writeCollection(): number {
    if (this.collectionId === undefined) throw new Error('write without a collection')
    return this.collectionId
  }

  private get user() {
    return { userid: this.uid }
  }

  /** The parameters of a statement of storage-sql.ts about one collection. */
  private key(collection: number, extra: Record<string, unknown>): Record<string, unknown> {
    return { uid: this.uid, collection, ...extra }
  }

  private collectionKey(collection: number) {
    return { userid: this.uid, collection }
  }

  async storageTimestamp(): Promise<Millis> {
    return this.userCollections().storageModified
  }

  async collectionTimestamp(): Promise<Millis> {
    if (this.collectionId === undefined) return 0
    return this.statements.collectionModified.get(this.uid, this.collectionId) ?? 0
  }

  async bsoTimestamp(id: string): Promise<Millis> {
    if (this.collectionId === undefined) return 0
    return scalar(this.statements.bsoModified.rows(this.key(this.collectionId, { id })))
  }

  async collectionTimestamps(): Promise<ReadonlyMap<string, Millis>> {
    return this.userCollections().named
  }

  /**
   * The user's collection rows. info/collections needs both the storage timestamp and the
   * per-collection ones, and a read transaction sees one snapshot, so it reads them once (or
   * not at all, on a cache hit). A write transaction changes them, so it reads them afresh.
   */
  private userCollections(): UserCollections {
    if (this.cache === undefined) return this.readUserCollections()
    if (this.snapshot === undefined) {
      // Before a deferred read's transaction, the version check is a read of its own. A miss then
      // reads the rows in the transaction, at a snapshot at least as new as that check, and an
      // entry newer than the version it is filed under is only cleared sooner.
      const cached = this.cache.get(this.uid)
      const rows = cached ?? this.readUserCollections()
      if (cached === undefined) this.cache.set(this.uid, rows)
      this.snapshot = rows
    }
    return this.snapshot
  }

  private readUserCollections(): UserCollections {
    let storageModified = 0
    const named = new Map<string, Millis>()
    for (const [collection, name, modified] of this.statements.userCollectionRows.all(this.uid)) {
      storageModified = Math.max(storageModified, modified)
      // The tombstone moves the storage timestamp but is never listed.
      if (collection !== TOMBSTONE && name !== null) named.set(name, modified)
    }
    return { storageModified, named }
  }

  async collectionCounts(): Promise<Map<string, number>> {
    return toMap(this.statements.collectionCounts.rows({ uid: this.uid, now: this.timestamp }))
  }

  async collectionUsage(): Promise<Map<string, number>> {
    return toMap(this.statements.collectionUsage.rows({ uid: this.uid, now: this.timestamp }))
  }

  async storageUsage(): Promise<number> {
    return scalar(this.statements.storageUsage.rows({ uid: this.uid, now: this.timestamp }))
  }

  private listingParameters(query: BsoQuery, collectionId: number) {
    return {
      ...this.collectionKey(collectionId),
      now: this.timestamp,
      ids: query.ids === undefined ? null : JSON.stringify(query.ids),
      newer: query.newer ?? NO_LOWER_BOUND,
      older: query.older ?? NO_UPPER_BOUND,
      atLeast: query.atLeast ?? NO_LOWER_BOUND,
      atMost: query.atMost ?? NO_UPPER_BOUND,
      limit: query.limit ?? -1,
      skip: query.skip,
    }
  }

  async getBsos(query: BsoQuery): Promise<Bso[]> {
    if (this.collectionId === undefined || query.ids?.length === 0) return []
    return this.statements.listing.records[query.sort](this.listingParameters(query, this.collectionId)).map(
      ([id, modified, payload, sortindex]) => ({ id, modified, payload, sortindex }),
    )
  }

  async getBsoIds(query: BsoQuery): Promise<string[]> {
    if (this.collectionId === undefined || query.ids?.length === 0) return []
    return this.statements.listing.ids[query.sort](this.listingParameters(query, this.collectionId)).map(([id]) => id)
  }

  async getBso(id: string): Promise<Bso | null> {
    if (this.collectionId === undefined) return null
    const [row] = this.statements.getBso.rows(this.key(this.collectionId, { now: this.timestamp, id }))
    return row === undefined ? null : toBso(row)
  }

  /** Made once per batch of upserts: every record of it shares these values. */
  private upsertTarget(touch: boolean): UpsertTarget {
    return {
      ...this.collectionKey(this.writeCollection),
      modified: this.timestamp,
      defaultExpiry: recordExpiry(this.timestamp, undefined),
      touch: touch ? 1 : 0,
    }
  }

  private upsert(target: UpsertTarget, write: BsoWrite): void {
    const expiry = write.ttl === undefined ? null : recordExpiry(this.timestamp, write.ttl)
    this.statements.upsertBso.run(target, write.id, write.sortindex ?? null, write.payload ?? null, expiry)
  }

  private touch(collection: number): void {
    this.statements.touchCollection.run({ ...this.collectionKey(collection), modified: this.timestamp })
  }

  async putBsos(writes: readonly BsoWrite[]): Promise<void> {
    const target = this.upsertTarget(false)
    for (const write of writes) this.upsert(target, write)
    this.touch(this.writeCollection)
  }

  async deleteBso(id: string): Promise<boolean> {
    const key = this.collectionKey(this.writeCollection)
    if (changes(this.statements.deleteLiveBso.run({ ...key, now: this.timestamp, id })) === 0) return false
    this.touch(key.collection)
    return true
  }

  async deleteBsos(ids: readonly string[]): Promise<void> {
    const key = this.collectionKey(this.writeCollection)
    this.statements.deleteBsoList.run({ ...key, ids: JSON.stringify(ids) })
    this.touch(key.collection)
  }

  async deleteCollection(): Promise<void> {
    const key = this.collectionKey(this.writeCollection)
    const deleted = changes(this.statements.deleteCollectionBsos.run(key)) + changes(this.statements.deleteCollectionRow.run(key))
    this.statements.deleteCollectionBatchItems.run(key)
    this.statements.deleteCollectionBatches.run(key)
    if (deleted > 0) this.touch(TOMBSTONE)
  }

  async deleteStorage(): Promise<void> {
    this.statements.deleteUserBsos.run(this.user)
    this.statements.deleteUserCollections.run(this.user)
    this.statements.deleteUserBatchItems.run(this.user)
    this.statements.deleteUserBatches.run(this.user)
  }

  async createBatch(): Promise<string> {
    const key = this.collectionKey(this.writeCollection)
    const batch = await allocateBatchNumber(this.timestamp, this.uid, (batch) => changes(this.statements.createBatch.run({ ...key, batch })) === 1)
    return encodeIntegerBatchId(batch)
  }

  private batchKey(batchId: string) {
    return { userid: this.uid, batch: decodeIntegerBatchId(batchId) }
  }

  async batchIsOpen(batchId: string): Promise<boolean> {
    const key = this.batchKey(batchId)
    if (!batchIsLive(key.batch, this.timestamp)) return false
    return this.statements.openBatch.get({ ...key, collection: this.writeCollection }) !== undefined
  }

  async appendToBatch(batchId: string, writes: readonly BsoWrite[]): Promise<void> {
    const key = this.batchKey(batchId)
    for (const write of writes) {
      this.statements.stageBso.run({
        ...key,
        id: write.id,
        sortindex: write.sortindex ?? null,
        payload: write.payload ?? null,
        payloadSize: writtenPayloadBytes(write),
        ttl: write.ttl ?? null,
      })
    }
  }

  async stagedBytes(batchId: string, excludingIds: readonly string[]): Promise<number> {
    return this.statements.stagedBytes.get({ ...this.batchKey(batchId), excluding: JSON.stringify(excludingIds) })?.bytes ?? 0
  }

  async commitBatch(batchId: string): Promise<void> {
    const key = this.batchKey(batchId)
    const target = this.upsertTarget(true)
    for (const item of this.statements.stagedItems.all(key)) {
      this.upsert(target, { id: item.id, payload: item.payload ?? undefined, sortindex: item.sortindex ?? undefined, ttl: item.ttl ?? undefined })
    }
    this.touch(this.writeCollection)
    this.statements.deleteBatchItems.run(key)
    this.statements.deleteBatch.run(key)
  }

  /** Quota bookkeeping: the transaction collection's live bytes and count, as it leaves them. */
  refreshTotals(): void {
    this.statements.refreshTotals.run(this.key(this.writeCollection, { now: this.timestamp }))
  }

  async quotaUsage(): Promise<number> {
    return scalar(this.statements.quotaUsage.rows({ uid: this.uid }))
  }
}

const toMap = (rows: unknown[][]): Map<string, number> => new Map(rows.map(([name, value]) => [name as string, Number(value)]))

const scalar = (rows: unknown[][]): number => Number(rows[0]?.[0] ?? 0)
