import { bigint, index, int, mediumtext, mysqlTable, primaryKey, varchar } from 'drizzle-orm/mysql-core'

/**
 * Storage tables laid out like syncstorage-rs's MySQL backend (final state of its migrations):
 * integer millisecond timestamps, an absolute expiry column confusingly named `ttl`, integer
 * batch numbers. The migration adds what Drizzle cannot express: InnoDB, latin1 tables with a
 * binary collation (ids and names are case-sensitive), and the seed rows.
 *
 * Payloads are stored as the UTF-8 bytes of the text (latin1 holds any byte sequence), so
 * `LENGTH(payload)` counts UTF-8 bytes as the protocol wants; the storage code writes them
 * through `CAST(? AS BINARY)` and reads them back with `CONVERT(… USING utf8mb4)`.
 */

export const collections = mysqlTable('collections', {
  id: int('id').autoincrement().primaryKey(),
  name: varchar('name', { length: 32 }).notNull().unique('name'),
})

export const userCollections = mysqlTable(
  'user_collections',
  {
    userid: bigint('userid', { mode: 'number' }).notNull(),
    collection: int('collection').notNull(),
    lastModified: bigint('last_modified', { mode: 'number' }).notNull(),
    totalBytes: bigint('total_bytes', { mode: 'number' }),
    count: int('count'),
  },
  (t) => [primaryKey({ columns: [t.userid, t.collection] })],
)

export const bso = mysqlTable(
  'bso',
  {
    userid: bigint('userid', { mode: 'number' }).notNull(),
    collection: int('collection').notNull(),
    id: varchar('id', { length: 64 }).notNull(),
    sortindex: int('sortindex'),
    payload: mediumtext('payload').notNull(),
    payloadSize: int('payload_size').default(0),
    modified: bigint('modified', { mode: 'number' }).notNull(),
    /** Absolute expiry in milliseconds, despite the name. */
    ttl: bigint('ttl', { mode: 'number' }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.userid, t.collection, t.id] }),
    index('bso_expiry_idx').on(t.ttl),
    index('bso_usr_col_mod_idx').on(t.userid, t.collection, t.modified),
  ],
)

export const batchUploads = mysqlTable(
  'batch_uploads',
  {
    batch: bigint('batch', { mode: 'number' }).notNull(),
    userid: bigint('userid', { mode: 'number' }).notNull(),
    collection: int('collection').notNull(),
  },
  (t) => [primaryKey({ columns: [t.batch, t.userid] })],
)

export const batchUploadItems = mysqlTable(
  'batch_upload_items',
  {
    batch: bigint('batch', { mode: 'number' }).notNull(),
    userid: bigint('userid', { mode: 'number' }).notNull(),
    id: varchar('id', { length: 64 }).notNull(),
    sortindex: int('sortindex'),
    payload: mediumtext('payload'),
    payloadSize: int('payload_size'),
    ttlOffset: int('ttl_offset'),
  },
  (t) => [primaryKey({ columns: [t.batch, t.userid, t.id] })],
)
