import { CollectionIds, type ResolvedCollection } from './collection-ids.ts'
import type { StorageOptions } from './engine.ts'
import type { StorageSql } from './storage-sql.ts'
import { TOMBSTONE } from './rules.ts'
import { nowMillis, type Millis } from './timestamps.ts'
import type { Bso, BsoQuery, BsoWrite, PoolStatus, StorageTx, StorageUser, TransactionRequest, UserTimestamps } from './types.ts'
import { readUserTimestamps } from './user-timestamps.ts'
import { StaleConnection } from './pooled-connection.ts'
import { guardTransaction } from './retry.ts'

/** The modified-time bounds of a listing (storage-api.md §8), in the order they are bound. */
export const MODIFIED_BOUNDS = [
  ['newer', '>'],
  ['older', '<'],
  ['atMost', '<='],
  ['atLeast', '>='],
] as const satisfies readonly (readonly [keyof BsoQuery, string])[]

/** Merges repeated ids of one request field by field, later values winning (as sequential upserts would). */
export function mergeWrites(writes: readonly BsoWrite[]): BsoWrite[] {
  const byId = new Map<string, BsoWrite>()
  for (const write of writes) {
    const earlier = byId.get(write.id)
    if (earlier === undefined) {
      byId.set(write.id, write)
      continue
    }
    const merged: BsoWrite = { ...earlier }
    if (write.payload !== undefined) merged.payload = write.payload
    if (write.sortindex !== undefined) merged.sortindex = write.sortindex
    if (write.ttl !== undefined) merged.ttl = write.ttl
    byId.set(write.id, merged)
  }
  return [...byId.values()]
}

/** A row of (id, modified, payload, sortindex) as a BSO; `decode` undoes the engine's payload encoding. */
export function toBso(row: unknown[], decode: (stored: string) => string = (stored) => stored): Bso {
  return {
    id: row[0] as string,
    modified: Number(row[1]),
    payload: decode(row[2] as string),
    sortindex: (row[3] as number | null) ?? null,
  }
}

/** The fixed-shape statements every engine answers the same way (storage-sql.ts). */
export type CommonStatements<Statement> = Record<keyof StorageSql, Statement>

/** How an engine binds and reads back values: by default timestamps as milliseconds, payloads as stored. */
export interface ValueCodec {
  /** A timestamp as the engine binds it. */
  at(ms: Millis): unknown
  /** A timestamp as the engine reads it back. */
  millis(value: unknown): Millis
  /** A stored payload as the client sent it. */
  decodePayload(stored: string): string
}

const PLAIN_VALUES: ValueCodec = {
  at: (ms) => ms,
  millis: (value) => Number(value ?? 0),
  decodePayload: (stored) => stored,
}

/** Timestamp rows (collection id, name, modified) as info/collections' map, the tombstone left out. */
export function timestampMapOf(rows: readonly unknown[][], millis: (value: unknown) => Millis = PLAIN_VALUES.millis): Map<string, Millis> {
  const timestamps = new Map<string, Millis>()
  for (const row of rows) if (Number(row[0]) !== TOMBSTONE) timestamps.set(row[1] as string, millis(row[2]))
  return timestamps
}

/**
 * What the StorageTx of a server database (PostgreSQL, MySQL) shares: the transaction's
 * collection and timestamp, and the reads that are one statement on either engine. Engines
 * differ in how a timestamp is bound (`at`), read back (`millis`) and how a payload is decoded.
 */
export abstract class PooledTx<Statement> {
  protected collectionId: number | undefined
  /** The collection's last-modified as this transaction leaves it. */
  protected collectionModified: Millis = 0
  timestamp: Millis = nowMillis()
  protected inTransaction = false
  /** Set once the caller's work starts: from then on a lost connection may have lost writes. */
  working = false

  constructor(
    readonly uid: number,
    private readonly common: CommonStatements<Statement>,
    private readonly values: ValueCodec = PLAIN_VALUES,
  ) {}

  abstract run(statement: Statement, values: Record<string, unknown>): Promise<unknown[][]>
  abstract commit(): Promise<void>
  abstract rollback(): Promise<void>
  /** The listing rows of (id, modified, payload, sortindex), or of ids alone. */
  protected abstract list(query: BsoQuery, full: boolean): Promise<unknown[][]>

  private at(ms: Millis): unknown {
    return this.values.at(ms)
  }

  private millis(value: unknown): Millis {
    return this.values.millis(value)
  }

  private toBso(row: unknown[]): Bso {
    return toBso(row, this.values.decodePayload)
  }

  /** A data-changing statement whose result is not needed. */
  protected execute(statement: Statement, values: Record<string, unknown>): Promise<unknown> {
    return this.run(statement, values)
  }

  protected get writeCollection(): number {
    if (this.collectionId === undefined) throw new Error('write without a collection')
    return this.collectionId
  }

  protected requireCollection(): void {
    if (this.collectionId === undefined) throw new Error('write without a collection')
  }

  protected key(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { uid: this.uid, collection: this.collectionId, ...extra }
  }

  protected async scalar(statement: Statement, values: Record<string, unknown>): Promise<unknown> {
    const [row] = await this.run(statement, values)
    return row?.[0]
  }

  private async count(statement: Statement, values: Record<string, unknown>): Promise<number> {
    return Number((await this.scalar(statement, values)) ?? 0)
  }

  /** Set for a read-only transaction: nothing it does can change what it read. */
  readOnly = false
  /** The user's timestamp rows a read-only transaction read for storageTimestamp, kept for collectionTimestamps. */
  private timestampRows: Promise<unknown[][]> | undefined

  async storageTimestamp(): Promise<Millis> {
    if (!this.readOnly) return this.millis(await this.scalar(this.common.storageModified, { uid: this.uid }))
    // info/collections asks for both: one statement answers both (one round trip, one snapshot).
    this.timestampRows = this.userTimestampRows()
    let latest = 0
    for (const row of await this.timestampRows) latest = Math.max(latest, this.millis(row[2]))
    return latest
  }

  /** The user's (collection id, name, modified) rows, with no tombstone filtered out. */
  protected userTimestampRows(): Promise<unknown[][]> {
    return this.run(this.common.userTimestamps, { uid: this.uid })
  }

  async collectionTimestamp(): Promise<Millis> {
    return this.collectionModified
  }

  async bsoTimestamp(id: string): Promise<Millis> {
    if (this.collectionId === undefined) return 0
    return this.millis(await this.scalar(this.common.bsoModified, this.key({ id })))
  }

  async collectionTimestamps(): Promise<ReadonlyMap<string, Millis>> {
    return timestampMapOf(await this.timestampRowsRead(), this.values.millis)
  }

  /** The rows storageTimestamp read in this read-only transaction, or a read of them now. */
  protected timestampRowsRead(): Promise<unknown[][]> {
    return this.timestampRows ?? this.userTimestampRows()
  }

  async collectionCounts(): Promise<Map<string, number>> {
    return this.perCollection(this.common.collectionCounts)
  }

  async collectionUsage(): Promise<Map<string, number>> {
    return this.perCollection(this.common.collectionUsage)
  }

  private async perCollection(statement: Statement): Promise<Map<string, number>> {
    const rows = await this.run(statement, { uid: this.uid, now: this.at(this.timestamp) })
    return new Map(rows.map((row) => [row[0] as string, Number(row[1])]))
  }

  async storageUsage(): Promise<number> {
    return this.count(this.common.storageUsage, { uid: this.uid, now: this.at(this.timestamp) })
  }

  async getBsos(query: BsoQuery): Promise<Bso[]> {
    return (await this.list(query, true)).map((row) => this.toBso(row))
  }

  async getBsoIds(query: BsoQuery): Promise<string[]> {
    return (await this.list(query, false)).map((row) => row[0] as string)
  }

  async getBso(id: string): Promise<Bso | null> {
    if (this.collectionId === undefined) return null
    const [row] = await this.run(this.common.getBso, this.key({ id, now: this.at(this.timestamp) }))
    return row === undefined ? null : this.toBso(row)
  }

  /** Quota bookkeeping: the transaction collection's live bytes and count, as it leaves them. */
  async refreshTotals(): Promise<void> {
    this.requireCollection()
    await this.execute(this.common.refreshTotals, this.key({ now: this.at(this.timestamp) }))
  }

  async quotaUsage(): Promise<number> {
    return this.count(this.common.quotaUsage, { uid: this.uid })
  }
}

/** A pool of one engine's sessions. */
export interface SessionPool<Session> {
  withSession<T>(work: (session: Session, mayRetry: boolean) => Promise<T>): Promise<T>
  /** Like `withSession`, for work that needs no transaction: its statements may each run on any free connection. */
  withAnyConnection<T>(work: (session: Session, mayRetry: boolean) => Promise<T>): Promise<T>
  status(): PoolStatus
  close(): Promise<void>
}

/** An engine's transactions and the way it classifies driver errors. */
export interface StorageEngine<Session, Tx> {
  newTx(session: Session, uid: number): Tx
  isConnectionLost(error: unknown): boolean
  translate(error: unknown): unknown
}

/**
 * What the StorageBackend of a server database shares: transactions on a pooled session that
 * start over on another connection when nothing can have been lost, and the health check.
 */
export abstract class PooledStorage<Session, Tx extends PooledTx<unknown> & StorageTx> {
  protected readonly collectionIds = new CollectionIds()

  constructor(
    protected readonly pool: SessionPool<Session>,
    private readonly driver: StorageEngine<Session, Tx>,
    private readonly options: StorageOptions = {},
  ) {}
  /**
   * Begins the transaction and takes the lock of `collection` (the one the request names; none
   * for a wipe); returns the collection a write resolved. Not called for a read of no collection.
   */
  protected abstract open(tx: Tx, request: TransactionRequest, collection: string | undefined): Promise<ResolvedCollection | undefined>
  /** One trivial query; true when it answered one row. */
  protected abstract ping(session: Session): Promise<boolean>

  withTransaction<T>(request: TransactionRequest, work: (tx: StorageTx) => Promise<T>): Promise<T> {
    // A read of no collection (info/*) is one or two statements that take no lock: in READ
    // COMMITTED (PostgreSQL) or outside a snapshot (MySQL) a transaction would only add round
    // trips, and a connection of its own the cost of a checkout.
    const noTransaction = request.mode === 'read' && request.collection === undefined
    const transaction = async (session: Session, mayRetry: boolean) => {
      const tx = this.driver.newTx(session, request.user.uid)
      tx.readOnly = request.mode === 'read'
      try {
        const resolved = noTransaction ? undefined : await this.open(tx, request, request.mode === 'wipe' ? undefined : request.collection)
        tx.working = true
        const result = await work(tx)
        if (this.options.quotaTotals && request.mode === 'write') await tx.refreshTotals()
        await tx.commit()
        this.collectionIds.committed(resolved)
        return result
      } catch (error) {
        await tx.rollback()
        // Nothing was written on a connection that died while the transaction was opening,
        // nor by a read: either starts over on another connection.
        throw this.failure(error, mayRetry && (!tx.working || request.mode === 'read'))
      }
    }
    return guardTransaction(request.mode, () => (noTransaction ? this.pool.withAnyConnection(transaction) : this.pool.withSession(transaction)))
  }

  /**
   * What withTransaction does for a read of no collection, less the steps that do nothing for
   * it (no BEGIN, lock, COMMIT or write to guard): each cost info/collections a promise.
   */
  userTimestamps(user: StorageUser): Promise<UserTimestamps> {
    return this.pool.withAnyConnection(async (session, mayRetry) => {
      const tx = this.driver.newTx(session, user.uid)
      tx.readOnly = true
      try {
        return await readUserTimestamps(tx)
      } catch (error) {
        throw this.failure(error, mayRetry)
      }
    })
  }

  /** The error a failed attempt throws: StaleConnection asks for another try where one may start over. */
  private failure(error: unknown, mayStartOver: boolean): unknown {
    if (mayStartOver && this.driver.isConnectionLost(error)) return new StaleConnection(error)
    return this.driver.translate(error)
  }

  async check(): Promise<boolean> {
    return this.pool.withSession(async (session, mayRetry) => {
      try {
        return await this.ping(session)
      } catch (error) {
        throw this.failure(error, mayRetry)
      }
    })
  }

  poolStatus(): PoolStatus {
    return this.pool.status()
  }

  close(): Promise<void> {
    return this.pool.close()
  }
}
