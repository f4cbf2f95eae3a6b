import { and, eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/mysql2'
import { integerLayout, storageSql, prepareEach, type StorageLayout } from '../storage-sql.ts'
import { MODIFIED_BOUNDS } from '../pooled-storage.ts'
import { LISTING_ORDERS } from '../rules.ts'
import type { Millis } from '../timestamps.ts'
import type { BsoQuery, BsoWrite } from '../types.ts'
import { MysqlStatement } from './connection.ts'
import { batchUploadItems, batchUploads, bso, collections, userCollections } from './schema.ts'

const p = sql.placeholder
const db = drizzle.mock()

/**
 * Payloads are stored as their UTF-8 bytes in latin1 columns (see schema.ts): written through
 * a binary cast, read back as utf8mb4.
 */
const PAYLOAD = 'CONVERT(CAST(payload AS BINARY) USING utf8mb4)'

const layout: StorageLayout = {
  ...integerLayout({ bso, userCollections, collections }),
  payloadBytes: (payload) => sql`LENGTH(${payload})`,
  payloadOut: (payload) => sql`CONVERT(CAST(${payload} AS BINARY) USING utf8mb4)`,
  idIs: (column, placeholder) => sql`${column} = ${p(placeholder)} AND CAST(${column} AS BINARY) = ${p(placeholder)}`,
  // A lock placeholder (see lockForWrite) has last_modified 0.
  stamped: sql`${userCollections.lastModified} > 0`,
}

/**
 * The latin1_bin keys of this schema compare with PAD SPACE: `x` and `x ` are one key. Every
 * comparison with an id therefore also compares bytes (the plain comparison keeps the index),
 * and ids ending in a space are refused on write, since the key could not keep them apart.
 */
export const sameId = sql`id = ${p('id')} AND CAST(id AS BINARY) = ${p('id')}`
export const ID_IN_LIST = 'id IN (?) AND CAST(id AS BINARY) IN (?)'

/**
 * The common userTimestamps of several users at once (`?` takes the list), each row ending with
 * its user id, and without the collection names: CollectionNames supplies them, so the rows
 * mysql2 parses are three integers (see timestamp-rows.ts).
 */
export const USERS_TIMESTAMPS = `
  SELECT collection, last_modified, userid FROM user_collections WHERE userid IN (?) AND last_modified > 0`

/** The names of the collection ids `?` lists. */
export const COLLECTION_NAMES = 'SELECT id, name FROM collections WHERE id IN (?)'

/** Every fixed-shape statement, rendered once by Drizzle. */
export const statements = {
  ...prepareEach(storageSql(layout), (query) => new MysqlStatement(query)),
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
}

/** Raw payload characters per multi-row statement: escaped, this stays well under max_allowed_packet. */
const CHUNK_CHARS = 4_000_000

export function chunked<T extends BsoWrite>(writes: readonly T[]): T[][] {
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
export function upsertText(rows: number, payloadGiven: boolean, ttlGiven: boolean): string {
  const updates = ['sortindex = COALESCE(VALUES(sortindex), sortindex)']
  if (payloadGiven) updates.push('payload = VALUES(payload)', 'modified = VALUES(modified)')
  else updates.push('modified = IF(VALUES(sortindex) IS NULL, modified, VALUES(modified))')
  if (ttlGiven) updates.push('ttl = VALUES(ttl)')
  const values = Array<string>(rows).fill('(?, ?, ?, ?, CAST(? AS BINARY), ?, ?)').join(', ')
  return `INSERT INTO bso (userid, collection, id, sortindex, payload, modified, ttl) VALUES ${values} ON DUPLICATE KEY UPDATE ${updates.join(', ')}`
}

/** Staging: a field absent from a later append keeps the staged value. */
export function stageText(rows: number): string {
  const values = Array<string>(rows).fill('(?, ?, ?, ?, CAST(? AS BINARY), ?, ?)').join(', ')
  return (
    `INSERT INTO batch_upload_items (batch, userid, id, sortindex, payload, payload_size, ttl_offset) VALUES ${values} ` +
    'ON DUPLICATE KEY UPDATE sortindex = COALESCE(VALUES(sortindex), sortindex), payload = COALESCE(VALUES(payload), payload), ' +
    'payload_size = COALESCE(VALUES(payload_size), payload_size), ttl_offset = COALESCE(VALUES(ttl_offset), ttl_offset)'
  )
}

/** MySQL needs a LIMIT to take an OFFSET. */
const NO_LIMIT = '18446744073709551615'

export function listing(uid: number, collection: number, now: Millis, query: BsoQuery, full: boolean): { text: string; params: unknown[] } {
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
  const { key, descending } = LISTING_ORDERS[query.sort]
  const direction = descending ? 'DESC' : 'ASC'
  const order = `${key} ${direction}, id ${direction}`
  const columns = full ? `id, modified, ${PAYLOAD}, sortindex` : 'id'
  params.push(query.skip)
  const limit = query.limit === undefined ? NO_LIMIT : String(query.limit)
  return { text: `SELECT ${columns} FROM bso WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ${limit} OFFSET ?`, params }
}

