import { sql, type AnyColumn, type SQL, type Table } from 'drizzle-orm'

/**
 * The fixed-shape storage statements every SQL engine answers alike, built once over each
 * engine's table layout (as tokenserver-common.ts does for the tokenserver): the engines differ
 * only in column names and in the few expressions a layout supplies. Hot statements whose shape
 * was measured per dialect (upserts, listings, SQLite's collection rows) stay with each engine.
 */
export interface StorageLayout {
  bso: {
    table: Table
    user: AnyColumn
    collection: AnyColumn
    id: AnyColumn
    sortindex: AnyColumn
    payload: AnyColumn
    modified: AnyColumn
    expiry: AnyColumn
  }
  userCollections: {
    table: Table
    user: AnyColumn
    collection: AnyColumn
    modified: AnyColumn
    totalBytes: AnyColumn
    count: AnyColumn
  }
  collections: { table: Table; id: AnyColumn; name: AnyColumn }
  /** A timestamp placeholder as the engine compares it. */
  at(name: string): SQL
  /** A stored timestamp read back as integer milliseconds. */
  millis(value: SQL | AnyColumn): SQL
  /** The UTF-8 bytes of the payload the client sent (payload accounting). */
  payloadBytes(payload: AnyColumn): SQL
  /** A stored payload as the engine reads it out. */
  payloadOut(payload: AnyColumn): SQL
  /** `column` holds exactly the id `placeholder` (byte for byte, whatever the collation). */
  idIs(column: AnyColumn, placeholder: string): SQL
  /** user_collections rows that carry a real timestamp, not a lock placeholder. */
  stamped: SQL
}

const p = sql.placeholder

/** The tables of the integer-millisecond layout (syncstorage-rs's MySQL schema, also our SQLite one). */
export interface IntegerLayoutTables {
  bso: Table & Record<'userid' | 'collection' | 'id' | 'sortindex' | 'payload' | 'modified' | 'ttl', AnyColumn>
  userCollections: Table & Record<'userid' | 'collection' | 'lastModified' | 'totalBytes' | 'count', AnyColumn>
  collections: Table & Record<'id' | 'name', AnyColumn>
}

/** The tables and columns of the integer layout; timestamps are plain milliseconds there. */
export function integerLayout({ bso, userCollections, collections }: IntegerLayoutTables) {
  return {
    bso: {
      table: bso,
      user: bso.userid,
      collection: bso.collection,
      id: bso.id,
      sortindex: bso.sortindex,
      payload: bso.payload,
      modified: bso.modified,
      // Absolute expiry in milliseconds, despite the name.
      expiry: bso.ttl,
    },
    userCollections: {
      table: userCollections,
      user: userCollections.userid,
      collection: userCollections.collection,
      modified: userCollections.lastModified,
      totalBytes: userCollections.totalBytes,
      count: userCollections.count,
    },
    collections: { table: collections, id: collections.id, name: collections.name },
    at: (name: string) => p(name).getSQL(),
    millis: (value: SQL | AnyColumn) => sql`${value}`,
  } satisfies Partial<StorageLayout>
}

/** Statements as Drizzle SQL; each engine wraps them in its own prepared-statement type. */
export function storageSql(layout: StorageLayout) {
  const { bso, userCollections: uc, collections: c, at, millis } = layout
  const liveOfUser = sql`${bso.user} = ${p('uid')} AND ${bso.expiry} > ${at('now')}`
  const liveOfCollection = sql`${liveOfUser} AND ${bso.collection} = ${p('collection')}`
  const ofCollection = sql`${uc.user} = ${p('uid')} AND ${uc.collection} = ${p('collection')}`
  const perCollection = (aggregate: SQL) => sql`
    SELECT ${c.name}, ${aggregate}
      FROM ${bso.table} JOIN ${c.table} ON ${c.id} = ${bso.collection}
     WHERE ${liveOfUser}
     GROUP BY ${c.name}`
  const bytes = sql`coalesce(sum(${layout.payloadBytes(bso.payload)}), 0)`
  return {
    storageModified: sql`
      SELECT ${millis(sql`max(${uc.modified})`)} FROM ${uc.table} WHERE ${uc.user} = ${p('uid')} AND ${layout.stamped}`,
    bsoModified: sql`
      SELECT ${millis(bso.modified)} FROM ${bso.table}
       WHERE ${bso.user} = ${p('uid')} AND ${bso.collection} = ${p('collection')} AND ${layout.idIs(bso.id, 'id')}`,
    /**
     * Every stamped row of the user, the tombstone's included (its name is NULL): what both
     * storageTimestamp and collectionTimestamps read, so info/collections takes one round trip.
     */
    userTimestamps: sql`
      SELECT ${uc.collection}, ${c.name}, ${millis(uc.modified)}
        FROM ${uc.table} LEFT JOIN ${c.table} ON ${c.id} = ${uc.collection}
       WHERE ${uc.user} = ${p('uid')} AND ${layout.stamped}`,
    collectionCounts: perCollection(sql`count(*)`),
    collectionUsage: perCollection(sql`sum(${layout.payloadBytes(bso.payload)})`),
    storageUsage: sql`SELECT ${bytes} FROM ${bso.table} WHERE ${liveOfUser}`,
    getBso: sql`
      SELECT ${bso.id}, ${millis(bso.modified)}, ${layout.payloadOut(bso.payload)}, ${bso.sortindex} FROM ${bso.table}
       WHERE ${liveOfCollection} AND ${layout.idIs(bso.id, 'id')}`,
    /** Quota bookkeeping: the transaction collection's live bytes and count. */
    refreshTotals: sql`
      UPDATE ${uc.table} SET
        ${sql.identifier(uc.totalBytes.name)} = (SELECT ${bytes} FROM ${bso.table} WHERE ${liveOfCollection}),
        ${sql.identifier(uc.count.name)} = (SELECT count(*) FROM ${bso.table} WHERE ${liveOfCollection})
       WHERE ${ofCollection}`,
    quotaUsage: sql`SELECT coalesce(sum(${uc.totalBytes}), 0) FROM ${uc.table} WHERE ${uc.user} = ${p('uid')}`,
  }
}

export type StorageSql = ReturnType<typeof storageSql>

/** Each statement of `queries`, wrapped in the engine's own prepared-statement type. */
export function prepareEach<Name extends string, Statement>(
  queries: Record<Name, SQL>,
  prepare: (query: SQL) => Statement,
): Record<Name, Statement> {
  return Object.fromEntries(Object.entries<SQL>(queries).map(([name, query]) => [name, prepare(query)])) as Record<Name, Statement>
}
