import { eq, sql, type AnyColumn, type SQL } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import { storageSql, prepareEach, type StorageLayout } from '../storage-sql.ts'
import { MODIFIED_BOUNDS } from '../pooled-storage.ts'
import { LISTING_ORDERS, TOMBSTONE } from '../rules.ts'
import type { Millis } from '../timestamps.ts'
import type { BsoQuery } from '../types.ts'
import { PgStatement } from './connection.ts'
import { batchBsos, batches, bsos, collections, userCollections } from './schema.ts'

/** `modified` of a "pre-touch" row: the collection row exists only so children can reference it. */
const PRE_TOUCH = `'0001-01-01T00:00:00Z'::timestamptz`

/** The latest instant a comparison parameter needs (later than anything ever stored). */
const LATEST_MS = 253_402_300_799_990 // 9999-12-31T23:59:59.99Z

/** A millisecond timestamp as a TIMESTAMPTZ literal; exact, unlike float seconds. */
export const iso = (ms: Millis): string => new Date(Math.min(Math.max(ms, 0), LATEST_MS)).toISOString()

/** TIMESTAMPTZ to integer milliseconds, in SQL; exact for the 10 ms values stored here. */
const millisOf = (value: SQL | AnyColumn) => sql`(extract(epoch from ${value}) * 1000)::int8`

/**
 * The database clock in integer milliseconds, rounded down. millisOf rounds (the cast to int8),
 * which for a clock reading can be half a millisecond ahead, and so, after truncation to the
 * 10 ms tick, a tick ahead of the host's clock: a T later than the response that carries it.
 */
const clockMillis = sql`floor(extract(epoch from clock_timestamp()) * 1000)::int8`

/**
 * PostgreSQL TEXT cannot hold U+0000, which a payload may contain: stored payloads carry it as
 * U+0001 '0', and U+0001 itself as U+0001 '1'. Real payloads (JSON text, which escapes control
 * characters) never contain either, so they are stored unchanged.
 */
export function encodePayload(payload: string): string {
  if (payload.indexOf('\u0000') < 0 && payload.indexOf('\u0001') < 0) return payload
  return payload.replace(/[\u0000\u0001]/g, (char) => (char === '\u0000' ? '\u00010' : '\u00011'))
}

export function decodePayload(stored: string): string {
  if (stored.indexOf('\u0001') < 0) return stored
  return stored.replace(/\u0001([01])/g, (_, digit: string) => (digit === '0' ? '\u0000' : '\u0001'))
}

/**
 * The UTF-8 bytes of the payload as the client sent it: each escape is U+0001 plus a digit for
 * one one-byte character, so dropping the U+0001s leaves the original length (usage, quota).
 */
const payloadBytes = (column: AnyColumn) => sql`octet_length(replace(${column}, chr(1), ''))`

const p = sql.placeholder
const at = (name: string) => sql`${p(name)}::timestamptz`
const db = drizzle.mock()

const layout: StorageLayout = {
  bso: {
    table: bsos,
    user: bsos.userId,
    collection: bsos.collectionId,
    id: bsos.bsoId,
    sortindex: bsos.sortindex,
    payload: bsos.payload,
    modified: bsos.modified,
    expiry: bsos.expiry,
  },
  userCollections: {
    table: userCollections,
    user: userCollections.userId,
    collection: userCollections.collectionId,
    modified: userCollections.modified,
    totalBytes: userCollections.totalBytes,
    count: userCollections.count,
  },
  collections: { table: collections, id: collections.collectionId, name: collections.name },
  at,
  millis: millisOf,
  payloadBytes,
  payloadOut: (payload) => sql`${payload}`,
  idIs: (column, placeholder) => sql`${column} = ${p(placeholder)}`,
  stamped: sql`${userCollections.modified} <> ${sql.raw(PRE_TOUCH)}`,
}

/** Every statement, rendered once by Drizzle and run as a prepared statement on any connection. */
export const statements = {
  ...prepareEach(storageSql(layout), (query) => new PgStatement(query)),
  collectionByName: new PgStatement(
    db.select({ id: collections.collectionId }).from(collections).where(eq(collections.name, p('name'))),
  ),
  insertCollection: new PgStatement(
    db.insert(collections).values({ name: p('name') }).onConflictDoNothing().returning({ id: collections.collectionId }),
  ),
  /**
   * info/collections in one row per user: the storage timestamp (tombstone included) and each
   * collection's timestamp as the text of a JSON object, which is one column to parse instead
   * of a row per collection, and the key under which the map read from it is reused
   * (timestamp-maps.ts), then the user id. Text, not json: postgres.js would parse json on every
   * read. The users are an int8[] literal (`{1,2}`), so several users' reads share the statement
   * (TimestampReads). They reach the planner through a subquery, as a value it cannot see: then
   * every plan it could make is the same, and after its five trial runs PostgreSQL keeps the
   * generic plan instead of planning each execution again (its custom plans, picked because they
   * knew the array, cost twice the execution: 0.1 ms of planning per statement).
   */
  usersTimestampsJson: new PgStatement(sql`
    SELECT max(${millisOf(userCollections.modified)}),
           (json_object_agg(${collections.name}, ${millisOf(userCollections.modified)} ORDER BY ${userCollections.collectionId})
              FILTER (WHERE ${userCollections.collectionId} <> ${TOMBSTONE}))::text,
           ${userCollections.userId}
      FROM ${userCollections} LEFT JOIN ${collections} ON ${collections.collectionId} = ${userCollections.collectionId}
     WHERE ${userCollections.userId} = ANY((SELECT ${p('uids')}::int8[])::int8[]) AND ${layout.stamped}
     GROUP BY ${userCollections.userId}`),
  /** The write lock, the stored timestamp and the database clock, in one round trip. */
  lockForWrite: new PgStatement(sql`
    SELECT ${millisOf(sql`modified`)}, ${clockMillis}
      FROM ${userCollections}
     WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')}
       FOR UPDATE`),
  lockForRead: new PgStatement(sql`
    SELECT ${millisOf(sql`modified`)}
      FROM ${userCollections}
     WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')}
       FOR SHARE`),
  preTouch: new PgStatement(sql`
    INSERT INTO ${userCollections} (user_id, collection_id, modified)
    VALUES (${p('uid')}, ${p('collection')}, ${sql.raw(PRE_TOUCH)})
    ON CONFLICT DO NOTHING`),
  touch: new PgStatement(sql`
    INSERT INTO ${userCollections} (user_id, collection_id, modified)
    VALUES (${p('uid')}, ${p('collection')}, ${at('modified')})
    ON CONFLICT (user_id, collection_id) DO UPDATE SET modified = EXCLUDED.modified`),
  deleteBso: new PgStatement(sql`
    WITH deleted AS (
      DELETE FROM ${bsos}
       WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')} AND bso_id = ${p('id')}
         AND expiry > ${at('now')}
      RETURNING 1
    )
    INSERT INTO ${userCollections} (user_id, collection_id, modified)
    SELECT ${p('uid')}, ${p('collection')}, ${at('now')} WHERE EXISTS (SELECT 1 FROM deleted)
    ON CONFLICT (user_id, collection_id) DO UPDATE SET modified = EXCLUDED.modified
    RETURNING 1`),
  deleteBsos: new PgStatement(sql`
    DELETE FROM ${bsos}
     WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')} AND bso_id = ANY(${p('ids')}::text[])`),
  /**
   * Deletes the collection row; BSOs and batches go with it (ON DELETE CASCADE). A real row
   * (not a pre-touch placeholder) means something was there: the tombstone moves to T.
   */
  deleteCollection: new PgStatement(sql`
    WITH deleted AS (
      DELETE FROM ${userCollections}
       WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')}
      RETURNING modified
    )
    INSERT INTO ${userCollections} (user_id, collection_id, modified)
    SELECT ${p('uid')}, ${TOMBSTONE}, ${at('now')} FROM deleted WHERE modified <> ${sql.raw(PRE_TOUCH)}
    ON CONFLICT (user_id, collection_id) DO UPDATE SET modified = EXCLUDED.modified`),
  /** Everything of the user cascades from the collection rows. */
  deleteStorage: new PgStatement(sql`DELETE FROM ${userCollections} WHERE user_id = ${p('uid')}`),
  createBatch: new PgStatement(sql`
    INSERT INTO ${batches} (user_id, collection_id, batch_id, expiry)
    VALUES (${p('uid')}, ${p('collection')}, ${p('batch')}::uuid, ${at('expiry')})`),
  batchIsOpen: new PgStatement(sql`
    SELECT 1 FROM ${batches}
     WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')} AND batch_id = ${p('batch')}::uuid
       AND expiry > ${at('now')}`),
  /** Stages records; a field absent from a later append keeps the staged value. */
  appendToBatch: new PgStatement(sql`
    INSERT INTO ${batchBsos} (user_id, collection_id, batch_id, batch_bso_id, sortindex, payload, ttl)
    SELECT ${p('uid')}, ${p('collection')}, ${p('batch')}::uuid, t.id, t.sortindex, t.payload, t.ttl
      FROM unnest(${p('ids')}::text[], ${p('sortindexes')}::int4[], ${p('payloads')}::text[], ${p('ttls')}::int8[])
           AS t (id, sortindex, payload, ttl)
    ON CONFLICT (user_id, collection_id, batch_id, batch_bso_id) DO UPDATE SET
      sortindex = coalesce(EXCLUDED.sortindex, ${batchBsos}.sortindex),
      payload = coalesce(EXCLUDED.payload, ${batchBsos}.payload),
      ttl = coalesce(EXCLUDED.ttl, ${batchBsos}.ttl)`),
  stagedBytes: new PgStatement(sql`
    SELECT coalesce(sum(${payloadBytes(batchBsos.payload)}), 0)
      FROM ${batchBsos}
     WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')} AND batch_id = ${p('batch')}::uuid
       AND NOT (batch_bso_id = ANY(${p('excluding')}::text[]))`),
  /**
   * Applies a batch: new rows get defaults, existing ones only the staged non-null fields, and
   * every staged row gets modified = T (storage-api.md §13.5). EXCLUDED only carries the
   * defaulted values, so whether payload and ttl were staged is read back from the batch row.
   */
  commitBatch: new PgStatement(sql`
    INSERT INTO ${bsos} (user_id, collection_id, bso_id, sortindex, payload, modified, expiry)
    SELECT user_id, collection_id, batch_bso_id, sortindex, coalesce(payload, ''), ${at('now')},
           CASE WHEN ttl IS NULL THEN ${at('defaultExpiry')} ELSE ${at('now')} + ttl * interval '1 second' END
      FROM ${batchBsos}
     WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')} AND batch_id = ${p('batch')}::uuid
    ON CONFLICT (user_id, collection_id, bso_id) DO UPDATE SET
      modified = EXCLUDED.modified,
      sortindex = coalesce(EXCLUDED.sortindex, ${bsos}.sortindex),
      (payload, expiry) = (
        SELECT coalesce(staged.payload, ${bsos}.payload),
               CASE WHEN staged.ttl IS NULL THEN ${bsos}.expiry ELSE EXCLUDED.expiry END
          FROM ${batchBsos} staged
         WHERE staged.user_id = EXCLUDED.user_id AND staged.collection_id = EXCLUDED.collection_id
           AND staged.batch_id = ${p('batch')}::uuid AND staged.batch_bso_id = EXCLUDED.bso_id
      )`),
  /** The batch and (by cascade) its staged records. */
  deleteBatch: new PgStatement(sql`
    DELETE FROM ${batches}
     WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')} AND batch_id = ${p('batch')}::uuid`),
}

/**
 * Multi-row BSO upsert (storage-api.md §9): one statement for all records that supply the
 * same fields. Absent sortindexes travel as NULL and keep the stored value; whether payload
 * and ttl were supplied picks the statement, since the inserted row already carries their
 * defaults. `modified` moves only when payload or sortindex is supplied.
 */
function upsertStatement(payloadGiven: boolean, ttlGiven: boolean): PgStatement {
  const updates = [sql`sortindex = coalesce(EXCLUDED.sortindex, ${bsos}.sortindex)`]
  if (payloadGiven) {
    updates.push(sql`payload = EXCLUDED.payload`, sql`modified = EXCLUDED.modified`)
  } else {
    updates.push(sql`modified = CASE WHEN EXCLUDED.sortindex IS NULL THEN ${bsos}.modified ELSE EXCLUDED.modified END`)
  }
  if (ttlGiven) updates.push(sql`expiry = EXCLUDED.expiry`)
  return new PgStatement(sql`
    INSERT INTO ${bsos} (user_id, collection_id, bso_id, sortindex, payload, modified, expiry)
    SELECT ${p('uid')}, ${p('collection')}, t.id, t.sortindex, coalesce(t.payload, ''), ${at('now')},
           coalesce(t.expiry, ${at('defaultExpiry')})
      FROM unnest(${p('ids')}::text[], ${p('sortindexes')}::int4[], ${p('payloads')}::text[], ${p('expiries')}::timestamptz[])
           AS t (id, sortindex, payload, expiry)
    ON CONFLICT (user_id, collection_id, bso_id) DO UPDATE SET ${sql.join(updates, sql`, `)}`)
}

export const upserts = [false, true].map((payloadGiven) => [false, true].map((ttlGiven) => upsertStatement(payloadGiven, ttlGiven)))

/** Listing queries differ by which filters are present; each shape is rendered once. */
const listingTexts = new Map<string, string>()

export function listingText(query: BsoQuery, full: boolean): string {
  const shape = [
    full ? 'f' : 'i',
    query.ids === undefined ? '' : 'I',
    query.newer === undefined ? '' : 'n',
    query.older === undefined ? '' : 'o',
    query.atMost === undefined ? '' : 'm',
    query.atLeast === undefined ? '' : 'l',
    query.limit === undefined ? '' : 'L',
    query.sort,
  ].join('')
  let text = listingTexts.get(shape)
  if (text !== undefined) return text
  let n = 3
  const where = ['user_id = $1', 'collection_id = $2', 'expiry > $3::timestamptz']
  if (query.ids !== undefined) where.push(`bso_id = ANY($${++n}::text[])`)
  for (const [field, operator] of MODIFIED_BOUNDS) {
    if (query[field] !== undefined) where.push(`modified ${operator} $${++n}::timestamptz`)
  }
  // Records without a sortindex come last; ties break on the id in byte order, whatever the collation.
  const { key, descending } = LISTING_ORDERS[query.sort]
  const direction = descending ? 'DESC' : 'ASC'
  const order = `${key} ${direction}${key === 'sortindex' ? ' NULLS LAST' : ''}, bso_id COLLATE "C" ${direction}`
  const columns = full ? 'bso_id, (extract(epoch from modified) * 1000)::int8, payload, sortindex' : 'bso_id'
  const limit = query.limit === undefined ? '' : ` LIMIT $${++n}`
  text = `SELECT ${columns} FROM bsos WHERE ${where.join(' AND ')} ORDER BY ${order}${limit} OFFSET $${++n}`
  listingTexts.set(shape, text)
  return text
}

export function listingParams(uid: number, collection: number, now: Millis, query: BsoQuery): unknown[] {
  const params: unknown[] = [uid, collection, iso(now)]
  if (query.ids !== undefined) params.push(query.ids)
  for (const [field] of MODIFIED_BOUNDS) {
    const bound = query[field]
    if (bound !== undefined) params.push(iso(bound))
  }
  if (query.limit !== undefined) params.push(query.limit)
  params.push(query.skip)
  return params
}

/** int8 and numeric arrive as strings; a pre-touch timestamp reads as "no timestamp". */
export const toMillis = (value: unknown): Millis => Math.max(0, Number(value ?? 0))
