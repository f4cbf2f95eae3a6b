import { SyncError } from '../../errors.ts'
import { decodeIntegerBatchId, encodeIntegerBatchId, isWellFormedIntegerBatchId } from '../batch-id.ts'
import { collectionRows, type CollectionRows, type ResolvedCollection } from '../collection-ids.ts'
import type { StorageOptions } from '../engine.ts'
import { mergeWrites, PooledStorage, PooledTx } from '../pooled-storage.ts'
import { allocateBatchNumber, batchIsLive, recordExpiry, TOMBSTONE, writeTimestampAfter, writtenPayloadBytes } from '../rules.ts'
import { nowMillis, type Millis } from '../timestamps.ts'
import type { BsoQuery, BsoWrite, StorageBackend, StorageTx, TransactionRequest } from '../types.ts'
import { isConnectionLost, MysqlPool, translateMysqlError, type MysqlSession, type MysqlStatement } from './connection.ts'
import { chunked, COLLECTION_NAMES, ID_IN_LIST, listing, stageText, statements, upsertText, USERS_TIMESTAMPS } from './statements.ts'
import type { LastTimestampMaps } from '../last-timestamp-maps.ts'
import { TimestampReads } from '../timestamp-reads.ts'
import { CollectionNames, rowTimestampMaps } from './timestamp-rows.ts'

/**
 * The keys of this schema compare with PAD SPACE (statements.ts): an id ending in a space would
 * overwrite the same id without it, so such writes are refused rather than merged.
 */
function refuseTrailingSpaces(writes: readonly BsoWrite[]): void {
  const spaced = writes.find((write) => write.id.endsWith(' '))
  if (spaced !== undefined) {
    throw new SyncError('invalidBso', `MySQL storage cannot keep the id ${JSON.stringify(spaced.id)} apart from the same id without trailing spaces`)
  }
}

/** Collection rows through `tx`, each statement committed on its own (see MysqlStorage.open). */
const collectionRowsOf = (tx: MysqlTx): CollectionRows =>
  collectionRows(
    async (name) => {
      const [row] = await tx.run(statements.collectionByName, { name })
      return row === undefined ? undefined : Number(row[0])
    },
    async (name) => {
      // The name key compares with PAD SPACE too: `foo ` would be taken for `foo`. The storage
      // API's collection names never hold a space; this guards every other caller.
      if (name.endsWith(' ')) throw new SyncError('badRequest', 'MySQL storage cannot keep collection names ending in a space apart')
      await tx.exec(statements.insertCollection, { name })
      return undefined
    },
  )

/** Sync storage on MySQL / MariaDB (mysql2, statements rendered by Drizzle). */
export class MysqlStorage extends PooledStorage<MysqlSession, MysqlTx> implements StorageBackend {
  readonly engine = 'mysql'

  constructor(pool: MysqlPool, options: StorageOptions = {}) {
    const names = new CollectionNames((ids) => pool.rows(COLLECTION_NAMES, [ids]))
    const timestampReads = new TimestampReads(async (uids) => names.named(await pool.rows(USERS_TIMESTAMPS, [uids])))
    const timestampMaps = rowTimestampMaps()
    const newTx = (session: MysqlSession, uid: number) => new MysqlTx(session, uid, timestampReads, timestampMaps)
    super(pool, { newTx, isConnectionLost, translate: translateMysqlError }, options)
  }

  /**
   * The collection id comes first, outside the transaction: REPEATABLE READ fixes a
   * transaction's snapshot at its first plain read, which must come after the collection
   * lock, or the transaction would read data older than the lock it holds. A new collection's
   * row is therefore committed on its own (INSERT IGNORE, harmless to a concurrent creator).
   */
  protected async open(tx: MysqlTx, request: TransactionRequest, name: string | undefined): Promise<ResolvedCollection | undefined> {
    const rows = collectionRowsOf(tx)
    const collection =
      name === undefined
        ? undefined
        : request.mode === 'write'
          ? await this.collectionIds.resolve(name, rows)
          : await this.collectionIds.find(name, rows).then((id) => (id === undefined ? undefined : { name, id, created: false }))
    // A read of a collection that does not exist reads nothing a snapshot could keep consistent.
    if (request.mode !== 'read' || collection !== undefined) await tx.begin()
    if (collection === undefined) return undefined
    const { id } = collection
    if (request.mode === 'read') {
      const [row] = await tx.run(statements.lockForRead, { uid: tx.uid, collection: id })
      tx.setCollection(id, Number(row?.[0] ?? 0), nowMillis(), false)
      return undefined
    }
    const locked = await tx.exec(statements.lockForWrite, { uid: tx.uid, collection: id })
    const stored = locked.insertId
    // T is this host's clock once the lock is held (the reference takes it at checkout).
    const timestamp = await writeTimestampAfter(stored, nowMillis)
    tx.setCollection(id, stored, timestamp, stored === 0)
    return collection
  }

  isWellFormedBatchId(batchId: string): boolean {
    return isWellFormedIntegerBatchId(batchId)
  }

  protected async ping(session: MysqlSession): Promise<boolean> {
    return (await session.rows('SELECT 1', [])).length === 1
  }
}

class MysqlTx extends PooledTx<MysqlStatement> implements StorageTx {
  /** This transaction created the collection row as a lock placeholder and has not written it yet. */
  private placeholder = false

  constructor(
    private readonly session: MysqlSession,
    uid: number,
    private readonly timestampReads: TimestampReads,
    private readonly timestampMaps: LastTimestampMaps<readonly unknown[][]>,
  ) {
    super(uid, statements)
  }

  /** Outside a transaction (info/*), together with the other users' reads of this turn. */
  protected override userTimestampRows(): Promise<unknown[][]> {
    return this.inTransaction ? super.userTimestampRows() : this.timestampReads.read(this.uid)
  }

  override async collectionTimestamps(): Promise<ReadonlyMap<string, Millis>> {
    return this.timestampMaps.of(this.uid, await this.timestampRowsRead())
  }

  async begin(): Promise<void> {
    await this.session.change('START TRANSACTION', [])
    this.inTransaction = true
  }

  setCollection(id: number, modified: Millis, timestamp: Millis, placeholder: boolean): void {
    this.collectionId = id
    this.collectionModified = modified
    this.timestamp = timestamp
    this.placeholder = placeholder
  }

  run(statement: MysqlStatement, values: Record<string, unknown>): Promise<unknown[][]> {
    return this.session.run(statement, values)
  }

  exec(statement: MysqlStatement, values: Record<string, unknown>) {
    return this.session.exec(statement, values)
  }

  protected override execute(statement: MysqlStatement, values: Record<string, unknown>): Promise<unknown> {
    return this.exec(statement, values)
  }

  async commit(): Promise<void> {
    if (!this.inTransaction) return
    // A lock placeholder that no write turned into a real row must not outlive us.
    if (this.placeholder) await this.exec(statements.dropPlaceholder, this.key())
    await this.session.change('COMMIT', [])
    this.inTransaction = false
  }

  async rollback(): Promise<void> {
    if (!this.inTransaction || !this.session.usable) return
    try {
      await this.session.change('ROLLBACK', [])
    } catch {
      // Gone, or in a state nobody should inherit: the next START TRANSACTION on it would
      // commit whatever is left. It is closed instead of going back to the pool.
      this.session.discard()
    }
  }

  protected async list(query: BsoQuery, full: boolean): Promise<unknown[][]> {
    if (this.collectionId === undefined || query.ids?.length === 0) return []
    const { text, params } = listing(this.uid, this.collectionId, this.timestamp, query, full)
    return this.session.rows(text, params)
  }

  private async touch(collection: number): Promise<void> {
    await this.exec(statements.touch, { uid: this.uid, collection, modified: this.timestamp })
    if (collection === this.collectionId) {
      this.collectionModified = this.timestamp
      this.placeholder = false
    }
  }

  async putBsos(writes: readonly BsoWrite[]): Promise<void> {
    refuseTrailingSpaces(writes)
    const collection = this.writeCollection
    const groups = new Map<string, BsoWrite[]>()
    for (const write of mergeWrites(writes)) {
      const shape = `${write.payload === undefined ? '' : 'p'}${write.ttl === undefined ? '' : 't'}`
      const group = groups.get(shape)
      if (group === undefined) groups.set(shape, [write])
      else group.push(write)
    }
    for (const [shape, group] of groups) {
      for (const chunk of chunked(group)) {
        const params: unknown[] = []
        for (const write of chunk) {
          params.push(
            this.uid,
            collection,
            write.id,
            write.sortindex ?? null,
            write.payload ?? '',
            this.timestamp,
            recordExpiry(this.timestamp, write.ttl),
          )
        }
        const text = upsertText(chunk.length, shape.includes('p'), shape.includes('t'))
        await this.session.change(text, params)
      }
    }
    await this.touch(collection)
  }

  async deleteBso(id: string): Promise<boolean> {
    const collection = this.writeCollection
    const deleted = await this.exec(statements.deleteBso, this.key({ id, now: this.timestamp }))
    if (deleted.affectedRows === 0) return false
    await this.touch(collection)
    return true
  }

  async deleteBsos(ids: readonly string[]): Promise<void> {
    const collection = this.writeCollection
    if (ids.length > 0) {
      await this.session.change(`DELETE FROM bso WHERE userid = ? AND collection = ? AND ${ID_IN_LIST}`, [this.uid, collection, ids, ids])
    }
    await this.touch(collection)
  }

  async deleteCollection(): Promise<void> {
    this.requireCollection()
    const bsos = await this.exec(statements.deleteCollectionBsos, this.key())
    await this.exec(statements.deleteCollectionRow, this.key())
    await this.exec(statements.deleteCollectionBatches, this.key())
    const hadRow = this.collectionModified > 0
    this.collectionModified = 0
    this.placeholder = false
    if (bsos.affectedRows > 0 || hadRow) await this.touch(TOMBSTONE)
  }

  async deleteStorage(): Promise<void> {
    for (const statement of [
      statements.deleteUserBsos,
      statements.deleteUserCollections,
      statements.deleteUserBatchItems,
      statements.deleteUserBatches,
    ]) {
      await this.exec(statement, { uid: this.uid })
    }
    this.collectionModified = 0
    this.placeholder = false
  }

  async createBatch(): Promise<string> {
    const collection = this.writeCollection
    const batch = await allocateBatchNumber(this.timestamp, this.uid, async (batch) => {
      const inserted = await this.exec(statements.createBatch, { batch, uid: this.uid, collection })
      return inserted.affectedRows === 1
    })
    return encodeIntegerBatchId(batch)
  }

  async batchIsOpen(batchId: string): Promise<boolean> {
    const collection = this.writeCollection
    const batch = decodeIntegerBatchId(batchId)
    if (!batchIsLive(batch, this.timestamp)) return false
    const rows = await this.run(statements.batchExists, { batch, uid: this.uid, collection })
    return rows.length > 0
  }

  async appendToBatch(batchId: string, writes: readonly BsoWrite[]): Promise<void> {
    refuseTrailingSpaces(writes)
    const batch = decodeIntegerBatchId(batchId)
    for (const chunk of chunked(mergeWrites(writes))) {
      const params: unknown[] = []
      for (const write of chunk) {
        params.push(
          batch,
          this.uid,
          write.id,
          write.sortindex ?? null,
          write.payload ?? null,
          writtenPayloadBytes(write),
          write.ttl ?? null,
        )
      }
      const text = stageText(chunk.length)
      await this.session.change(text, params)
    }
  }

  async stagedBytes(batchId: string, excludingIds: readonly string[]): Promise<number> {
    const batch = decodeIntegerBatchId(batchId)
    const excluding = excludingIds.length > 0 ? ' AND CAST(id AS BINARY) NOT IN (?)' : ''
    const params: unknown[] = [batch, this.uid]
    if (excludingIds.length > 0) params.push(excludingIds)
    const [row] = await this.session.rows(
      `SELECT COALESCE(SUM(payload_size), 0) FROM batch_upload_items WHERE batch = ? AND userid = ?${excluding}`,
      params,
    )
    return Number(row?.[0] ?? 0)
  }

  async commitBatch(batchId: string): Promise<void> {
    const collection = this.writeCollection
    const values = {
      batch: decodeIntegerBatchId(batchId),
      uid: this.uid,
      collection,
      now: this.timestamp,
      defaultExpiry: recordExpiry(this.timestamp, undefined),
    }
    await this.exec(statements.commitBatch, values)
    await this.touch(collection)
    await this.exec(statements.deleteBatchItems, values)
    await this.exec(statements.deleteBatch, values)
  }
}

