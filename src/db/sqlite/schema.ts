import { sql } from 'drizzle-orm'
import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core'

/**
 * Storage tables laid out like syncstorage-rs's SQLite backend (which mirrors its MySQL one):
 * integer millisecond timestamps and an absolute expiry column confusingly named `ttl`.
 */

export const collections = sqliteTable('collections', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
})

export const userCollections = sqliteTable(
  'user_collections',
  {
    userid: integer('userid').notNull(),
    collection: integer('collection').notNull(),
    lastModified: integer('last_modified').notNull(),
    totalBytes: integer('total_bytes'),
    count: integer('count'),
  },
  (t) => [primaryKey({ columns: [t.userid, t.collection] })],
)

export const bso = sqliteTable(
  'bso',
  {
    userid: integer('userid').notNull(),
    collection: integer('collection').notNull(),
    id: text('id').notNull(),
    sortindex: integer('sortindex'),
    payload: text('payload').notNull(),
    payloadSize: integer('payload_size').default(0),
    modified: integer('modified').notNull(),
    /** Absolute expiry in milliseconds, despite the name. */
    ttl: integer('ttl').notNull().default(sql`3153600000000`),
  },
  (t) => [
    primaryKey({ columns: [t.userid, t.collection, t.id] }),
    index('bso_expiry_idx').on(t.ttl),
    index('bso_usr_col_mod_idx').on(t.userid, t.collection, t.modified),
  ],
)

export const batchUploads = sqliteTable(
  'batch_uploads',
  {
    batch: integer('batch').notNull(),
    userid: integer('userid').notNull(),
    collection: integer('collection').notNull(),
  },
  (t) => [primaryKey({ columns: [t.batch, t.userid] })],
)

export const batchUploadItems = sqliteTable(
  'batch_upload_items',
  {
    batch: integer('batch').notNull(),
    userid: integer('userid').notNull(),
    id: text('id').notNull(),
    sortindex: integer('sortindex'),
    payload: text('payload'),
    payloadSize: integer('payload_size'),
    ttlOffset: integer('ttl_offset'),
  },
  (t) => [primaryKey({ columns: [t.batch, t.userid, t.id] })],
)
