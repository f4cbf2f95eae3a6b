import { and, eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/mysql2'
import { SyncError } from '../../errors.ts'
import { decodeIntegerBatchId, encodeIntegerBatchId, isWellFormedIntegerBatchId } from '../batch-id.ts'
import { writeTimestampAfter } from '../pooled.ts'
import { BATCH_LIFETIME_MS, DEFAULT_TTL_MS, nowMillis, type Millis } from '../timestamps.ts'
import { MODIFIED_BOUNDS, mergeWrites, PooledStorage, PooledTx } from '../pooled-storage.ts'
import type { CollectionRows, ResolvedCollection } from '../collection-ids.ts'
import type { BsoQuery, BsoWrite, StorageBackend, StorageTx, TransactionRequest } from '../types.ts'
import { isConnectionLost, MysqlPool, MysqlStatement, translateMysqlError, type MysqlSession } from './connection.ts'
import { batchUploadItems, batchUploads, bso, collections, userCollections } from './schema.ts'

const TOMBSTONE = 0

const p = sql.placeholder
const db = drizzle.mock()

/**
 * Payloads are stored as their UTF-8 bytes in latin1 columns (see schema.ts): written through
 * a binary cast, read back as utf8mb4.
 */
const PAYLOAD = 'CONVERT(CAST(payload AS BINARY) USING utf8mb4)'

/**
 * The latin1_bin keys of this schema compare with PAD SPACE: `x` and `x ` are one key. Every
 * comparison with an id therefore also compares bytes (the plain comparison keeps the index),
 * and ids ending in a space are refused on write, since the key could not keep them apart.
 */
const sameId = sql`id = ${p('id')} AND CAST(id AS BINARY) = ${p('id')}`
const ID_IN_LIST = 'id IN (?) AND CAST(id AS BINARY) IN (?)'

function refuseTrailingSpaces(writes: readonly BsoWrite[]): void {
  const spaced = writes.find((write) => write.id.endsWith(' '))
  if (spaced !== undefined) {
    throw new SyncError('invalidBso', `MySQL storage cannot keep the id ${JSON.stringify(spaced.id)} apart from the same id without trailing spaces`)
  }
}

/** Every fixed-shape statement, rendered once by Drizzle. */
const statements = {
  collectionByName: new MysqlStatement(
    db
      .select({ id: collections.id })
      .from(collections)
      .where(and(eq(collections.name, p('name')), sql`CAST(${collections.name} AS BINARY) = ${p('name')}`)),
  ),
  insertCollection: new MysqlStatement(sql`INSERT IGNORE INTO ${collections} (name) VALUES (${p('name')})`),
  /**
   * The write lock. A missing row is created as a placeholder (last_modified 0) so there is
   * always a row to lock and concurrent first writers queue on its key instead of
   * deadlocking on gap locks; the stored value comes back as the insert id (0 = placeholder).
   */
  lockForWrite: new MysqlStatement(sql`
    INSERT INTO ${userCollections} (userid, collection, last_modified) VALUES (${p('uid')}, ${p('collection')}, 0)
    ON DUPLICATE KEY UPDATE last_modified = LAST_INSERT_ID(last_modified)`),
  lockForRead: new MysqlStatement(sql`
    SELECT last_modified FROM ${userCollections}
     WHERE userid = ${p('uid')} AND collection = ${p('collection')}
     LOCK IN SHARE MODE`),
  dropPlaceholder: new MysqlStatement(sql`
    DELETE FROM ${userCollections}
     WHERE userid = ${p('uid')} AND collection = ${p('collection')} AND last_modified = 0`),
  touch: new MysqlStatement(sql`
    INSERT INTO ${userCollections} (userid, collection, last_modified) VALUES (${p('uid')}, ${p('collection')}, ${p('modified')})
    ON DUPLICATE KEY UPDATE last_modified = VALUES(last_modified)`),
  storageModified: new MysqlStatement(sql`
    SELECT COALESCE(MAX(last_modified), 0) FROM ${userCollections} WHERE userid = ${p('uid')}`),
  bsoModified: new MysqlStatement(sql`
    SELECT modified FROM ${bso} WHERE userid = ${p('uid')} AND collection = ${p('collection')} AND ${sameId}`),
  collectionTimestamps: new MysqlStatement(sql`
    SELECT c.name, u.last_modified
      FROM ${userCollections} u JOIN ${collections} c ON c.id = u.collection
     WHERE u.userid = ${p('uid')} AND u.collection <> ${TOMBSTONE} AND u.last_modified > 0`),
  collectionCounts: new MysqlStatement(sql`
    SELECT c.name, COUNT(*)
      FROM ${bso} b JOIN ${collections} c ON c.id = b.collection
     WHERE b.userid = ${p('uid')} AND b.ttl > ${p('now')}
     GROUP BY c.name`),
  collectionUsage: new MysqlStatement(sql`
    SELECT c.name, SUM(LENGTH(b.payload))
      FROM ${bso} b JOIN ${collections} c ON c.id = b.collection
     WHERE b.userid = ${p('uid')} AND b.ttl > ${p('now')}
     GROUP BY c.name`),
  storageUsage: new MysqlStatement(sql`
    SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM ${bso} WHERE userid = ${p('uid')} AND ttl > ${p('now')}`),
  getBso: new MysqlStatement(sql`
    SELECT id, modified, ${sql.raw(PAYLOAD)}, sortindex FROM ${bso}
     WHERE userid = ${p('uid')} AND collection = ${p('collection')} AND ${sameId} AND ttl > ${p('now')}`),
  deleteBso: new MysqlStatement(sql`
    DELETE FROM ${bso}
     WHERE userid = ${p('uid')} AND collection = ${p('collection')} AND ${sameId} AND ttl > ${p('now')}`),
  deleteCollectionBsos: new MysqlStatement(sql`
    DELETE FROM ${bso} WHERE userid = ${p('uid')} AND collection = ${p('collection')}`),
  deleteCollectionRow: new MysqlStatement(sql`
    DELETE FROM ${userCollections} WHERE userid = ${p('uid')} AND collection = ${p('collection')}`),
  deleteCollectionBatches: new MysqlStatement(sql`
    DELETE u, i FROM ${batchUploads} u
      LEFT JOIN ${batchUploadItems} i ON i.batch = u.batch AND i.userid = u.userid
     WHERE u.userid = ${p('uid')} AND u.collection = ${p('collection')}`),
  deleteUserBsos: new MysqlStatement(sql`DELETE FROM ${bso} WHERE userid = ${p('uid')}`),
  deleteUserCollections: new MysqlStatement(sql`DELETE FROM ${userCollections} WHERE userid = ${p('uid')}`),
  deleteUserBatchItems: new MysqlStatement(sql`DELETE FROM ${batchUploadItems} WHERE userid = ${p('uid')}`),
  deleteUserBatches: new MysqlStatement(sql`DELETE FROM ${batchUploads} WHERE userid = ${p('uid')}`),
  createBatch: new MysqlStatement(sql`
    INSERT IGNORE INTO ${batchUploads} (batch, userid, collection) VALUES (${p('batch')}, ${p('uid')}, ${p('collection')})`),
  batchExists: new MysqlStatement(sql`
    SELECT 1 FROM ${batchUploads}
     WHERE batch = ${p('batch')} AND userid = ${p('uid')} AND collection = ${p('collection')}`),
  /**
   * Applies a batch (storage-api.md §13.5): new rows get defaults, existing ones only the
   * staged non-null fields, every staged row modified = T; ttl counts from T.
   */
  commitBatch: new MysqlStatement(sql`
    INSERT INTO ${bso} (userid, collection, id, sortindex, payload, payload_size, modified, ttl)
    SELECT ${p('uid')}, ${p('collection')}, id, sortindex, COALESCE(payload, ''), COALESCE(payload_size, 0), ${p('now')},
           COALESCE(ttl_offset * 1000 + ${p('now')}, ${p('defaultExpiry')})
      FROM ${batchUploadItems}
     WHERE batch = ${p('batch')} AND userid = ${p('uid')}
    ON DUPLICATE KEY UPDATE
      modified = ${p('now')},
      sortindex = COALESCE(${batchUploadItems}.sortindex, ${bso}.sortindex),
      ttl = COALESCE(${batchUploadItems}.ttl_offset * 1000 + ${p('now')}, ${bso}.ttl),
      payload = COALESCE(${batchUploadItems}.payload, ${bso}.payload),
      payload_size = COALESCE(${batchUploadItems}.payload_size, ${bso}.payload_size)`),
  deleteBatchItems: new MysqlStatement(sql`
    DELETE FROM ${batchUploadItems} WHERE batch = ${p('batch')} AND userid = ${p('uid')}`),
  deleteBatch: new MysqlStatement(sql`
    DELETE FROM ${batchUploads} WHERE batch = ${p('batch')} AND userid = ${p('uid')}`),
  refreshTotals: new MysqlStatement(sql`
    UPDATE ${userCollections} SET
      total_bytes = (SELECT COALESCE(SUM(LENGTH(b.payload)), 0) FROM ${bso} b
                      WHERE b.userid = ${p('uid')} AND b.collection = ${p('collection')} AND b.ttl > ${p('now')}),
      count = (SELECT COUNT(*) FROM ${bso} b
                WHERE b.userid = ${p('uid')} AND b.collection = ${p('collection')} AND b.ttl > ${p('now')})
     WHERE userid = ${p('uid')} AND collection = ${p('collection')}`),
  quotaUsage: new MysqlStatement(sql`
    SELECT COALESCE(SUM(total_bytes), 0) FROM ${userCollections} WHERE userid = ${p('uid')}`),
}

/** Raw payload characters per multi-row statement: escaped, this stays well under max_allowed_packet. */
const CHUNK_CHARS = 4_000_000

function chunked<T extends BsoWrite>(writes: readonly T[]): T[][] {
  const chunks: T[][] = []
  let current: T[] = []
  let size = 0
  for (const write of writes) {
    const length = (write.payload?.length ?? 0) + write.id.length + 64
    if (current.length > 0 && size + length > CHUNK_CHARS) {
      chunks.push(current)
      current = []
      size = 0
    }
    current.push(write)
    size += length
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/**
 * Multi-row BSO upsert text (storage-api.md §9), one per combination of supplied fields:
 * absent sortindexes travel as NULL and keep the stored value; whether payload and ttl were
 * supplied picks the text, since the inserted row already carries their defaults. `modified`
 * moves only when payload or sortindex is supplied. (ON DUPLICATE KEY assignments run left to
 * right; `modified` reads the old row's value.)
 */
function upsertText(rows: number, payloadGiven: boolean, ttlGiven: boolean): string {
  const updates = ['sortindex = COALESCE(VALUES(sortindex), sortindex)']
  if (payloadGiven) updates.push('payload = VALUES(payload)', 'modified = VALUES(modified)')
  else updates.push('modified = IF(VALUES(sortindex) IS NULL, modified, VALUES(modified))')
  if (ttlGiven) updates.push('ttl = VALUES(ttl)')
  const values = Array<string>(rows).fill('(?, ?, ?, ?, CAST(? AS BINARY), ?, ?)').join(', ')
  return `INSERT INTO bso (userid, collection, id, sortindex, payload, modified, ttl) VALUES ${values} ON DUPLICATE KEY UPDATE ${updates.join(', ')}`
}

/** Staging: a field absent from a later append keeps the staged value. */
function stageText(rows: number): string {
  const values = Array<string>(rows).fill('(?, ?, ?, ?, CAST(? AS BINARY), ?, ?)').join(', ')
  return (
    `INSERT INTO batch_upload_items (batch, userid, id, sortindex, payload, payload_size, ttl_offset) VALUES ${values} ` +
    'ON DUPLICATE KEY UPDATE sortindex = COALESCE(VALUES(sortindex), sortindex), payload = COALESCE(VALUES(payload), payload), ' +
    'payload_size = COALESCE(VALUES(payload_size), payload_size), ttl_offset = COALESCE(VALUES(ttl_offset), ttl_offset)'
  )
}

/** Collection rows through `tx`, each statement committed on its own (see MysqlStorage.open). */
function collectionRows(tx: MysqlTx): CollectionRows {
  const find = async (name: string) => {
    const [row] = await tx.run(statements.collectionByName, { name })
    return row === undefined ? undefined : Number(row[0])
  }
  return {
    find,
    async create(name) {
      await tx.exec(statements.insertCollection, { name })
      const id = await find(name)
      if (id === undefined) throw new Error(`collection ${name} could not be created`)
      return id
    },
  }
}

/** MySQL needs a LIMIT to take an OFFSET. */
const NO_LIMIT = '18446744073709551615'

function listing(uid: number, collection: number, now: Millis, query: BsoQuery, full: boolean): { text: string; params: unknown[] } {
  const where = ['userid = ?', 'collection = ?', 'ttl > ?']
  const params: unknown[] = [uid, collection, now]
  if (query.ids !== undefined) {
    where.push(ID_IN_LIST)
    params.push(query.ids, query.ids)
  }
  for (const [field, operator] of MODIFIED_BOUNDS) {
    const bound = query[field]
    if (bound === undefined) continue
    where.push(`modified ${operator} ?`)
    params.push(bound)
  }
  // latin1_bin ids sort in byte order; NULL sortindexes sort lowest, so last when descending.
  const order = {
    oldest: 'modified ASC, id ASC',
    index: 'sortindex DESC, id DESC',
    newest: 'modified DESC, id DESC',
    none: 'modified DESC, id DESC',
  }[query.sort]
  const columns = full ? `id, modified, ${PAYLOAD}, sortindex` : 'id'
  params.push(query.skip)
  const limit = query.limit === undefined ? NO_LIMIT : String(query.limit)
  return { text: `SELECT ${columns} FROM bso WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ${limit} OFFSET ?`, params }
}

/** Sync storage on MySQL / MariaDB (mysql2, statements rendered by Drizzle). */
export class MysqlStorage extends PooledStorage<MysqlSession, MysqlTx> implements StorageBackend {
  readonly engine = 'mysql'

  constructor(pool: MysqlPool) {
    super(pool, { newTx: (session, uid) => new MysqlTx(session, uid), isConnectionLost, translate: translateMysqlError })
  }

  /**
   * The collection id comes first, outside the transaction: REPEATABLE READ fixes a
   * transaction's snapshot at its first plain read, which must come after the collection
   * lock, or the transaction would read data older than the lock it holds. A new collection's
   * row is therefore committed on its own (INSERT IGNORE, harmless to a concurrent creator).
   */
  protected async open(tx: MysqlTx, request: TransactionRequest, name: string | undefined): Promise<ResolvedCollection | undefined> {
    const rows = collectionRows(tx)
    const collection =
      name === undefined
        ? undefined
        : request.mode === 'write'
          ? await this.collectionIds.resolve(name, rows)
          : await this.collectionIds.find(name, rows).then((id) => (id === undefined ? undefined : { name, id, created: false }))
    await tx.begin()
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
  ) {
    super(uid, statements)
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
    const defaultExpiry = this.timestamp + DEFAULT_TTL_MS
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
            write.ttl === undefined ? defaultExpiry : this.timestamp + write.ttl * 1000,
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

  /**
   * Batch numbers are creation milliseconds plus uid mod 10, like syncstorage-rs's MySQL
   * backend; a collision (same user, same tick) moves to the next number.
   */
  async createBatch(): Promise<string> {
    const collection = this.writeCollection
    for (let attempt = 0; attempt < 5; attempt++) {
      const batch = this.timestamp + (this.uid % 10) + attempt
      const inserted = await this.exec(statements.createBatch, { batch, uid: this.uid, collection })
      if (inserted.affectedRows === 1) return encodeIntegerBatchId(batch)
    }
    throw new SyncError('conflict', 'could not allocate a batch id')
  }

  async batchIsOpen(batchId: string): Promise<boolean> {
    const collection = this.writeCollection
    const batch = decodeIntegerBatchId(batchId)
    if (batch + BATCH_LIFETIME_MS <= this.timestamp) return false
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
          write.payload === undefined ? null : Buffer.byteLength(write.payload),
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
      defaultExpiry: this.timestamp + DEFAULT_TTL_MS,
    }
    await this.exec(statements.commitBatch, values)
    await this.touch(collection)
    await this.exec(statements.deleteBatchItems, values)
    await this.exec(statements.deleteBatch, values)
  }
}
