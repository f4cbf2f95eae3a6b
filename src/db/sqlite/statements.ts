import type { Database, SQLQueryBindings } from 'bun:sqlite'
import { and, asc, desc, eq, gt, gte, lt, lte, sql, type SQL } from 'drizzle-orm'
import type { BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import { SQLiteSyncDialect, type SQLiteSelect } from 'drizzle-orm/sqlite-core'
import { lazily } from '../../lazily.ts'
import { RenderedStatement } from '../pooled-connection.ts'
import { integerLayout, storageSql, type StorageLayout, type StorageSql } from '../storage-sql.ts'
import { LISTING_ORDERS } from '../rules.ts'
import type { SortOrder } from '../types.ts'
import { batchUploadItems, batchUploads, bso, collections, userCollections } from './schema.ts'

/**
 * Every statement of the SQLite backend, prepared at most once per connection. Drizzle spends
 * far more time building a query than SQLite spends running it (~0.35 ms against ~0.03 ms
 * here), so nothing on a request path builds one twice: variable parts are placeholders, id
 * lists are JSON arrays read with json_each, and listings are prepared once per (sort, shape).
 */
const p = (name: string) => sql.placeholder(name)
/** Numbered parameter `?n`, for statements bound positionally through bun:sqlite directly. */
const numbered = (position: number) => sql.raw(`?${position}`)

function positional(client: Database, query: { sql: string; params: unknown[] }) {
  if (query.params.length > 0) throw new Error('a positional statement must take only numbered parameters')
  return client.prepare(query.sql)
}

/** `ids` is a JSON array of ids, or null for "no id filter". */
const inIdList = (column: typeof bso.id | typeof batchUploadItems.id, name: string) =>
  sql`${column} in (select value from json_each(${p(name)}))`

export const BSO_COLUMNS = { id: bso.id, modified: bso.modified, payload: bso.payload, sortindex: bso.sortindex }

const userIs = eq(bso.userid, p('userid'))
const collectionIs = eq(bso.collection, p('collection'))
const live = gt(bso.ttl, p('now'))
const ofCollection = and(userIs, collectionIs)
const liveOfCollection = and(userIs, collectionIs, live)
const userCollectionIs = and(eq(userCollections.userid, p('userid')), eq(userCollections.collection, p('collection')))
const batchIs = and(eq(batchUploadItems.batch, p('batch')), eq(batchUploadItems.userid, p('userid')))

/** Every statement, each prepared on first use. */
export function prepareStatements(db: BunSQLiteDatabase, client: Database) {
  return lazily({
    upsertBso: () => prepareUpsert(db, client),
    userCollectionRows: () => prepareUserCollectionRows(db, client),
    collectionModified: () => prepareCollectionModified(db, client),
    ...collectionStatements(db),
    ...sharedStatements(client),
    ...writeStatements(db),
    ...batchStatements(db),
    listing: () => listingStatements(db, client),
  })
}

export type Statements = ReturnType<typeof prepareStatements>

function collectionStatements(db: BunSQLiteDatabase) {
  return {
    collectionByName: () => db.select({ id: collections.id }).from(collections).where(eq(collections.name, p('name'))).prepare(),
    insertCollection: () => db.insert(collections).values({ name: p('name') }).onConflictDoNothing().prepare(),
    touchCollection: () => db
      .insert(userCollections)
      .values({ userid: p('userid'), collection: p('collection'), lastModified: p('modified') })
      .onConflictDoUpdate({
        target: [userCollections.userid, userCollections.collection],
        set: { lastModified: sql`excluded.last_modified` },
      })
      .prepare(),
  }
}

/** A statement of storage-sql.ts, bound positionally and read as arrays. */
export interface SharedStatement {
  rows(values: Record<string, unknown>): unknown[][]
  run(values: Record<string, unknown>): void
}

const layout: StorageLayout = {
  ...integerLayout({ bso, userCollections, collections }),
  payloadBytes: (payload) => sql`length(cast(${payload} as blob))`,
  payloadOut: (payload) => sql`${payload}`,
  idIs: (column, placeholder) => sql`${column} = ${p(placeholder)}`,
  stamped: sql`1 = 1`,
}

function sharedStatements(client: Database) {
  const dialect = new SQLiteSyncDialect()
  const prepare = (query: SQL): SharedStatement => {
    const rendered = new RenderedStatement(dialect, query)
    const statement = client.prepare(rendered.text)
    return {
      rows: (values) => statement.values(...(rendered.bind(values) as SQLQueryBindings[])) as unknown[][],
      run: (values) => void statement.run(...(rendered.bind(values) as SQLQueryBindings[])),
    }
  }
  const queries = storageSql(layout)
  return Object.fromEntries(Object.entries<SQL>(queries).map(([name, query]) => [name, () => prepare(query)])) as {
    [Name in keyof StorageSql]: () => SharedStatement
  }
}

function writeStatements(db: BunSQLiteDatabase) {
  return {
    deleteLiveBso: () => db.delete(bso).where(and(liveOfCollection, eq(bso.id, p('id')))).prepare(),
    deleteBsoList: () => db.delete(bso).where(and(ofCollection, inIdList(bso.id, 'ids'))).prepare(),
    deleteCollectionBsos: () => db.delete(bso).where(ofCollection).prepare(),
    deleteCollectionRow: () => db.delete(userCollections).where(userCollectionIs).prepare(),
    deleteUserBsos: () => db.delete(bso).where(userIs).prepare(),
    deleteUserCollections: () => db.delete(userCollections).where(eq(userCollections.userid, p('userid'))).prepare(),
  }
}

function batchStatements(db: BunSQLiteDatabase) {
  const batchesOfUser = eq(batchUploads.userid, p('userid'))
  const batchesOfCollection = and(batchesOfUser, eq(batchUploads.collection, p('collection')))
  const itemsOf = (batches: SQL | undefined) =>
    and(
      eq(batchUploadItems.userid, p('userid')),
      sql`${batchUploadItems.batch} in (select ${batchUploads.batch} from ${batchUploads} where ${batches})`,
    )
  return {
    createBatch: () => db
      .insert(batchUploads)
      .values({ batch: p('batch'), userid: p('userid'), collection: p('collection') })
      .onConflictDoNothing()
      .prepare(),
    openBatch: () => db
      .select({ batch: batchUploads.batch })
      .from(batchUploads)
      .where(and(eq(batchUploads.batch, p('batch')), batchesOfCollection))
      .prepare(),
    stageBso: () => db
      .insert(batchUploadItems)
      .values({
        batch: p('batch'),
        userid: p('userid'),
        id: p('id'),
        sortindex: p('sortindex'),
        payload: p('payload'),
        payloadSize: p('payloadSize'),
        ttlOffset: p('ttl'),
      })
      .onConflictDoUpdate({
        target: [batchUploadItems.batch, batchUploadItems.userid, batchUploadItems.id],
        set: {
          sortindex: sql`coalesce(${p('sortindex')}, ${batchUploadItems.sortindex})`,
          payload: sql`coalesce(${p('payload')}, ${batchUploadItems.payload})`,
          payloadSize: sql`coalesce(${p('payloadSize')}, ${batchUploadItems.payloadSize})`,
          ttlOffset: sql`coalesce(${p('ttl')}, ${batchUploadItems.ttlOffset})`,
        },
      })
      .prepare(),
    stagedBytes: () => db
      .select({ bytes: sql<number>`coalesce(sum(${batchUploadItems.payloadSize}), 0)` })
      .from(batchUploadItems)
      .where(and(batchIs, sql`not ${inIdList(batchUploadItems.id, 'excluding')}`))
      .prepare(),
    stagedItems: () => db
      .select({
        id: batchUploadItems.id,
        sortindex: batchUploadItems.sortindex,
        payload: batchUploadItems.payload,
        ttl: batchUploadItems.ttlOffset,
      })
      .from(batchUploadItems)
      .where(batchIs)
      .prepare(),
    deleteBatchItems: () => db.delete(batchUploadItems).where(batchIs).prepare(),
    deleteBatch: () => db.delete(batchUploads).where(and(eq(batchUploads.batch, p('batch')), batchesOfUser)).prepare(),
    deleteCollectionBatchItems: () => db.delete(batchUploadItems).where(itemsOf(batchesOfCollection)).prepare(),
    deleteCollectionBatches: () => db.delete(batchUploads).where(batchesOfCollection).prepare(),
    deleteUserBatchItems: () => db.delete(batchUploadItems).where(eq(batchUploadItems.userid, p('userid'))).prepare(),
    deleteUserBatches: () => db.delete(batchUploads).where(batchesOfUser).prepare(),
  }
}

/** What a listing filters on; absent bounds are values that filter nothing (see storage.ts). */
export interface ListingArgs {
  userid: number
  collection: number
  now: number
  /** A JSON array of ids, or null for "no id filter". */
  ids: string | null
  newer: number
  older: number
  atLeast: number
  atMost: number
  /** -1 for no limit. */
  limit: number
  skip: number
}

/** [id, modified, payload, sortindex]: a listed record as bun:sqlite returns it. */
export type ListedRow = [string, number, string, number | null]

/**
 * Collection listings, one statement per sort order and per shape (ids or whole records), so
 * one prepared statement serves every query. Bound positionally and read as arrays: a
 * 1,000-record page spends a tenth of its time in Drizzle's per-row mapping otherwise.
 */
function listingStatements(db: BunSQLiteDatabase, client: Database) {
  const n = numbered
  // SQLite sorts NULL lowest, so descending by sortindex puts records without one last.
  const ordering = (sort: SortOrder): SQL[] => {
    const { key, descending } = LISTING_ORDERS[sort]
    const direction = descending ? desc : asc
    return [direction(bso[key]), direction(bso.id)]
  }
  const filter = and(
    eq(bso.userid, n(1)),
    eq(bso.collection, n(2)),
    gt(bso.ttl, n(3)),
    sql`(${n(4)} is null or ${bso.id} in (select value from json_each(${n(4)})))`,
    gt(bso.modified, n(5)),
    lt(bso.modified, n(6)),
    gte(bso.modified, n(7)),
    lte(bso.modified, n(8)),
  )
  const prepare = <Row>(select: SQLiteSelect, sort: SortOrder) => {
    const ordered = select.where(filter).orderBy(...ordering(sort)).toSQL()
    // Drizzle's limit() and offset() take only named placeholders.
    const statement = positional(client, { ...ordered, sql: `${ordered.sql} limit ?9 offset ?10` })
    return (a: ListingArgs) =>
      statement.values(a.userid, a.collection, a.now, a.ids, a.newer, a.older, a.atLeast, a.atMost, a.limit, a.skip) as Row[]
  }
  const forEachSort = <T>(make: (sort: SortOrder) => T) =>
    ({ newest: make('newest'), none: make('none'), oldest: make('oldest'), index: make('index') }) satisfies Record<SortOrder, T>
  return {
    records: forEachSort((sort) => prepare<ListedRow>(db.select(BSO_COLUMNS).from(bso).$dynamic(), sort)),
    ids: forEachSort((sort) => prepare<[string]>(db.select({ id: bso.id }).from(bso).$dynamic(), sort)),
  }
}

/** What every record upserted by one transaction into one collection shares. */
export interface UpsertTarget {
  userid: number
  collection: number
  modified: number
  /** T + the default ttl: the expiry of a new record given no ttl. */
  defaultExpiry: number
  /** 1 makes `modified` move even for a ttl-only record (batch commit, §13.5). */
  touch: 0 | 1
}

/**
 * The upsert of one record, the hot statement of every POST. Its SQL comes from Drizzle, but
 * with numbered parameters bound positionally: each value is bound once, where named
 * placeholders would bind 15 values per row through a per-call mapping (measured: a third of
 * the backend's time for a 100-record POST). The values shared by a whole POST come as one
 * target made once, so a record costs no object of its own beyond the parsed one.
 *
 * Two statements, as SQLite rewrites the entry of every index on a column its UPDATE sets, even
 * to the same value: a record sent without a ttl (almost all of them) keeps its row's ttl, so its
 * update leaves ttl out and bso_expiry_idx alone (100 upserts into existing rows: ~17 % less time
 * than `ttl = coalesce(NULL, bso.ttl)`). An inserted row takes the default expiry either way.
 */
function prepareUpsert(db: BunSQLiteDatabase, client: Database) {
  const n = numbered
  const [userid, collection, id, sortindex, payload] = [n(1), n(2), n(3), n(4), n(5)] as const
  const [modified, expiry, defaultExpiry, touch] = [n(6), n(7), n(8), n(9)] as const
  const prepare = (setsTtl: boolean) => {
    const query = db
      .insert(bso)
      .values({
        userid,
        collection,
        id,
        sortindex,
        payload: sql`coalesce(${payload}, '')`,
        // The column default, written out: Drizzle would otherwise bind it as a named parameter.
        payloadSize: sql.raw('0'),
        modified,
        ttl: sql`coalesce(${expiry}, ${defaultExpiry})`,
      })
      .onConflictDoUpdate({
        target: [bso.userid, bso.collection, bso.id],
        set: {
          sortindex: sql`coalesce(${sortindex}, ${bso.sortindex})`,
          payload: sql`coalesce(${payload}, ${bso.payload})`,
          ...(setsTtl ? { ttl: sql`coalesce(${expiry}, ${bso.ttl})` } : {}),
          // A ttl-only update keeps `modified` (storage-api.md §9); a batch commit always moves it.
          modified: sql`case when ${touch} = 1 or ${payload} is not null or ${sortindex} is not null then ${modified} else ${bso.modified} end`,
        },
      })
      .toSQL()
    return positional(client, query)
  }
  const withTtl = prepare(true)
  const keepingTtl = prepare(false)
  return {
    run: (target: UpsertTarget, id: string, sortindex: number | null, payload: string | null, expiry: number | null) =>
      (expiry === null ? keepingTtl : withTtl).run(target.userid, target.collection, id, sortindex, payload, target.modified, expiry, target.defaultExpiry, target.touch),
  }
}

/**
 * One collection's last_modified, read twice by every write (its T, then the precondition):
 * bound positionally and read as an array, without Drizzle's named mapping per call.
 */
function prepareCollectionModified(db: BunSQLiteDatabase, client: Database) {
  const statement = positional(
    client,
    db
      .select({ lastModified: userCollections.lastModified })
      .from(userCollections)
      .where(and(eq(userCollections.userid, numbered(1)), eq(userCollections.collection, numbered(2))))
      .toSQL(),
  )
  return { get: (userid: number, collection: number) => statement.values(userid, collection)[0]?.[0] as number | undefined }
}

/** [collection id, name (null for the tombstone), last_modified]. */
export type UserCollectionRow = [number, string | null, number]

/**
 * Every collection row of a user with its name, the tombstone included: the storage timestamp
 * and info/collections both come from this one read, the hottest of a sync. Rows come back as
 * arrays straight from bun:sqlite, without Drizzle's per-row mapping.
 */
function prepareUserCollectionRows(db: BunSQLiteDatabase, client: Database) {
  const statement = positional(
    client,
    db
      .select({ collection: userCollections.collection, name: collections.name, modified: userCollections.lastModified })
      .from(userCollections)
      .leftJoin(collections, eq(collections.id, userCollections.collection))
      .where(eq(userCollections.userid, numbered(1)))
      .toSQL(),
  )
  return { all: (userid: number) => statement.values(userid) as UserCollectionRow[] }
}
