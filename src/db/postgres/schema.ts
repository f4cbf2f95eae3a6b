import { bigint, foreignKey, index, integer, pgTable, primaryKey, text, timestamp, uuid, varchar } from 'drizzle-orm/pg-core'

/**
 * Storage tables laid out like syncstorage-rs's PostgreSQL backend: TIMESTAMPTZ timestamps,
 * an absolute `expiry`, UUID batch ids, and foreign keys that cascade from `user_collections`
 * (which is why a "pre-touch" row dated 0001-01-01 may stand in for a collection that has no
 * timestamp yet). Constraint names are the ones PostgreSQL gives the reference's DDL.
 *
 * Timestamps are read and written as strings; the storage code converts them to milliseconds
 * in SQL so no precision is lost on the way.
 */

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'string' })

export const collections = pgTable('collections', {
  collectionId: integer('collection_id').primaryKey().generatedByDefaultAsIdentity(),
  name: varchar('name', { length: 32 }).notNull().unique('collections_name_key'),
})

export const userCollections = pgTable(
  'user_collections',
  {
    userId: bigint('user_id', { mode: 'number' }).notNull(),
    collectionId: integer('collection_id').notNull(),
    modified: timestamptz('modified').notNull(),
    count: bigint('count', { mode: 'number' }),
    totalBytes: bigint('total_bytes', { mode: 'number' }),
  },
  (t) => [primaryKey({ name: 'user_collections_pkey', columns: [t.userId, t.collectionId] })],
)

export const bsos = pgTable(
  'bsos',
  {
    userId: bigint('user_id', { mode: 'number' }).notNull(),
    collectionId: integer('collection_id').notNull(),
    bsoId: text('bso_id').notNull(),
    sortindex: integer('sortindex'),
    payload: text('payload').notNull(),
    modified: timestamptz('modified').notNull(),
    expiry: timestamptz('expiry').notNull(),
  },
  (t) => [
    primaryKey({ name: 'bsos_pkey', columns: [t.userId, t.collectionId, t.bsoId] }),
    foreignKey({
      name: 'bsos_user_id_collection_id_fkey',
      columns: [t.userId, t.collectionId],
      foreignColumns: [userCollections.userId, userCollections.collectionId],
    }).onDelete('cascade'),
    index('bsos_modified_idx').on(t.userId, t.collectionId, t.modified.desc().nullsFirst()),
    index('bsos_expiry_idx').on(t.userId, t.collectionId, t.expiry),
  ],
)

export const batches = pgTable(
  'batches',
  {
    userId: bigint('user_id', { mode: 'number' }).notNull(),
    collectionId: integer('collection_id').notNull(),
    batchId: uuid('batch_id').notNull(),
    expiry: timestamptz('expiry').notNull(),
  },
  (t) => [
    primaryKey({ name: 'batches_pkey', columns: [t.userId, t.collectionId, t.batchId] }),
    foreignKey({
      name: 'batches_user_id_collection_id_fkey',
      columns: [t.userId, t.collectionId],
      foreignColumns: [userCollections.userId, userCollections.collectionId],
    }).onDelete('cascade'),
    index('batch_expiry_idx').on(t.userId, t.collectionId, t.expiry),
  ],
)

export const batchBsos = pgTable(
  'batch_bsos',
  {
    userId: bigint('user_id', { mode: 'number' }).notNull(),
    collectionId: integer('collection_id').notNull(),
    batchId: uuid('batch_id').notNull(),
    batchBsoId: text('batch_bso_id').notNull(),
    sortindex: integer('sortindex'),
    payload: text('payload'),
    /** Seconds, as sent. */
    ttl: bigint('ttl', { mode: 'number' }),
  },
  (t) => [
    primaryKey({ name: 'batch_bsos_pkey', columns: [t.userId, t.collectionId, t.batchId, t.batchBsoId] }),
    foreignKey({
      name: 'batch_bsos_user_id_collection_id_batch_id_fkey',
      columns: [t.userId, t.collectionId, t.batchId],
      foreignColumns: [batches.userId, batches.collectionId, batches.batchId],
    }).onDelete('cascade'),
  ],
)
