import { and, asc, desc, eq, gt, gte, inArray, lt, lte, ne, notInArray, sql, type SQL } from 'drizzle-orm'
import { drizzle, type BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import type { SQLiteSelect } from 'drizzle-orm/sqlite-core'
import { SyncError } from '../../errors.ts'
import { decodeIntegerBatchId, encodeIntegerBatchId, isWellFormedIntegerBatchId } from '../batch-id.ts'
import {
  BATCH_LIFETIME_MS,
  DEFAULT_TTL_MS,
  MAX_WRITE_WAIT_MS,
  nowMillis,
  type Millis,
} from '../timestamps.ts'
import type {
  Bso,
  BsoQuery,
  BsoWrite,
  PoolStatus,
  StorageBackend,
  StorageTx,
  StorageUser,
  TransactionRequest,
} from '../types.ts'
import { SqliteConnection, translateLockError } from './connection.ts'
import { batchUploadItems, batchUploads, bso, collections, userCollections } from './schema.ts'

const TOMBSTONE = 0
const BSO_COLUMNS = { id: bso.id, modified: bso.modified, payload: bso.payload, sortindex: bso.sortindex }

/** Drizzle types bun:sqlite's `run()` as void; it returns the statement's change count. */
const changes = (result: unknown): number => (result as { changes: number }).changes
const byteLength = (column: SQL | typeof bso.payload) => sql<number>`length(cast(${column} as blob))`

/** Sync storage on embedded SQLite (bun:sqlite through Drizzle). */
export class SqliteStorage implements StorageBackend {
  readonly engine = 'sqlite'
  private readonly db: BunSQLiteDatabase
  private readonly collectionIds = new Map<string, number>()
  readonly statements: ReturnType<typeof prepareStatements>

  constructor(private readonly connection: SqliteConnection) {
    this.db = drizzle({ client: connection.client })
    this.statements = prepareStatements(this.db)
  }

  withTransaction<T>(request: TransactionRequest, work: (tx: StorageTx) => Promise<T>): Promise<T> {
    return this.connection.exclusive(async () => {
      const client = this.connection.client
      try {
        client.run(request.mode === 'read' ? 'BEGIN' : 'BEGIN IMMEDIATE')
      } catch (error) {
        throw translateLockError(error, 'conflict')
      }
      try {
        const tx = await this.open(request)
        const result = await work(tx)
        client.run('COMMIT')
        return result
      } catch (error) {
        if (client.inTransaction) client.run('ROLLBACK')
        throw translateLockError(error, 'conflict')
      }
    })
  }

  private async open(request: TransactionRequest): Promise<SqliteTx> {
    const { user } = request
    if (request.mode === 'wipe') return new SqliteTx(this.db, this.statements, user, undefined, nowMillis())
    if (request.mode === 'read') {
      const id = request.collection === undefined ? undefined : this.findCollectionId(request.collection)
      return new SqliteTx(this.db, this.statements, user, id, nowMillis())
    }
    const collectionId = this.collectionIdFor(request.collection)
    const timestamp = await this.writeTimestamp(user.uid, collectionId)
    return new SqliteTx(this.db, this.statements, user, collectionId, timestamp)
  }

  /**
   * T for a write: the clock, which must be past the collection's last-modified. A write in the
   * same 10 ms tick as the previous one waits for the next tick instead of failing (the spec
   * allows it); a collection stamped further ahead (a skewed clock elsewhere) is a conflict.
   */
  private async writeTimestamp(uid: number, collectionId: number): Promise<Millis> {
    const row = this.statements.collectionModified.get({ userid: uid, collection: collectionId })
    const stored = row?.lastModified ?? 0
    let timestamp = nowMillis()
    if (stored < timestamp) return timestamp
    if (stored - timestamp > MAX_WRITE_WAIT_MS) throw new SyncError('conflict', 'collection modified in the future')
    await Bun.sleep(stored - timestamp + 10 - (Date.now() % 10))
    timestamp = nowMillis()
    if (stored >= timestamp) throw new SyncError('conflict', 'collection still locked')
    return timestamp
  }

  private findCollectionId(name: string): number | undefined {
    const cached = this.collectionIds.get(name)
    if (cached !== undefined) return cached
    const row = this.statements.collectionByName.get({ name })
    if (row !== undefined) this.collectionIds.set(name, row.id)
    return row?.id
  }

  private collectionIdFor(name: string): number {
    const existing = this.findCollectionId(name)
    if (existing !== undefined) return existing
    this.statements.insertCollection.run({ name })
    return this.findCollectionId(name) as number
  }

  isWellFormedBatchId(batchId: string): boolean {
    return isWellFormedIntegerBatchId(batchId)
  }

  async check(): Promise<boolean> {
    return this.connection.exclusive(async () => this.connection.client.query('SELECT 1 AS ok').get() !== null)
  }

  poolStatus(): PoolStatus {
    // The "pool" of SQLite is the transaction queue: exhausted when it is full.
    const active = Math.min(this.connection.inFlight, SqliteConnection.QUEUE_LIMIT)
    return { active, idle: SqliteConnection.QUEUE_LIMIT - active, max: SqliteConnection.QUEUE_LIMIT }
  }

  async close(): Promise<void> {
    await this.connection.exclusive(async () => this.connection.close())
  }
}

function prepareStatements(db: BunSQLiteDatabase) {
  const p = <N extends string>(name: N) => sql.placeholder(name)
  const given = (name: string) => sql`${p(name)} is not null`
  return {
    collectionByName: db.select({ id: collections.id }).from(collections).where(eq(collections.name, p('name'))).prepare(),
    insertCollection: db.insert(collections).values({ name: p('name') }).onConflictDoNothing().prepare(),
    collectionModified: db
      .select({ lastModified: userCollections.lastModified })
      .from(userCollections)
      .where(and(eq(userCollections.userid, p('userid')), eq(userCollections.collection, p('collection'))))
      .prepare(),
    storageModified: db
      .select({ modified: sql<number>`coalesce(max(${userCollections.lastModified}), 0)` })
      .from(userCollections)
      .where(eq(userCollections.userid, p('userid')))
      .prepare(),
    touchCollection: db
      .insert(userCollections)
      .values({ userid: p('userid'), collection: p('collection'), lastModified: p('modified') })
      .onConflictDoUpdate({
        target: [userCollections.userid, userCollections.collection],
        set: { lastModified: sql`excluded.last_modified` },
      })
      .prepare(),
    upsertBso: db
      .insert(bso)
      .values({
        userid: p('userid'),
        collection: p('collection'),
        id: p('id'),
        sortindex: p('sortindex'),
        payload: sql`coalesce(${p('payload')}, '')`,
        modified: p('modified'),
        ttl: sql`coalesce(${p('expiry')}, ${p('defaultExpiry')})`,
      })
      .onConflictDoUpdate({
        target: [bso.userid, bso.collection, bso.id],
        set: {
          sortindex: sql`coalesce(${p('sortindex')}, ${bso.sortindex})`,
          payload: sql`coalesce(${p('payload')}, ${bso.payload})`,
          ttl: sql`coalesce(${p('expiry')}, ${bso.ttl})`,
          // A ttl-only update keeps `modified` (storage-api.md §9); a batch commit always moves it.
          modified: sql`case when ${p('touch')} = 1 or ${given('payload')} or ${given('sortindex')} then ${p('modified')} else ${bso.modified} end`,
        },
      })
      .prepare(),
    stageBso: db
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
  }
}

type Statements = ReturnType<typeof prepareStatements>

class SqliteTx implements StorageTx {
  private readonly uid: number

  constructor(
    private readonly db: BunSQLiteDatabase,
    private readonly statements: Statements,
    user: StorageUser,
    private readonly collectionId: number | undefined,
    readonly timestamp: Millis,
  ) {
    this.uid = user.uid
  }

  /** The write lock was taken on a known collection; reads may name an unknown one. */
  private get writeCollection(): number {
    if (this.collectionId === undefined) throw new Error('write without a collection')
    return this.collectionId
  }

  private liveBsosOf(collectionId: number) {
    return and(eq(bso.userid, this.uid), eq(bso.collection, collectionId), gt(bso.ttl, this.timestamp))
  }

  async storageTimestamp(): Promise<Millis> {
    return this.statements.storageModified.get({ userid: this.uid })?.modified ?? 0
  }

  async collectionTimestamp(): Promise<Millis> {
    if (this.collectionId === undefined) return 0
    return this.statements.collectionModified.get({ userid: this.uid, collection: this.collectionId })?.lastModified ?? 0
  }

  async bsoTimestamp(id: string): Promise<Millis> {
    if (this.collectionId === undefined) return 0
    const row = this.db
      .select({ modified: bso.modified })
      .from(bso)
      .where(and(eq(bso.userid, this.uid), eq(bso.collection, this.collectionId), eq(bso.id, id)))
      .get()
    return row?.modified ?? 0
  }

  async collectionTimestamps(): Promise<Map<string, Millis>> {
    const rows = this.db
      .select({ name: collections.name, modified: userCollections.lastModified })
      .from(userCollections)
      .innerJoin(collections, eq(collections.id, userCollections.collection))
      .where(and(eq(userCollections.userid, this.uid), ne(userCollections.collection, TOMBSTONE)))
      .all()
    return new Map(rows.map((row) => [row.name, row.modified]))
  }

  async collectionCounts(): Promise<Map<string, number>> {
    return this.perCollection(sql<number>`count(*)`)
  }

  async collectionUsage(): Promise<Map<string, number>> {
    return this.perCollection(sql<number>`sum(${byteLength(bso.payload)})`)
  }

  private perCollection(aggregate: SQL<number>): Map<string, number> {
    const rows = this.db
      .select({ name: collections.name, value: aggregate })
      .from(bso)
      .innerJoin(collections, eq(collections.id, bso.collection))
      .where(and(eq(bso.userid, this.uid), gt(bso.ttl, this.timestamp)))
      .groupBy(bso.collection)
      .all()
    return new Map(rows.map((row) => [row.name, row.value]))
  }

  async storageUsage(): Promise<number> {
    const row = this.db
      .select({ bytes: sql<number>`coalesce(sum(${byteLength(bso.payload)}), 0)` })
      .from(bso)
      .where(and(eq(bso.userid, this.uid), gt(bso.ttl, this.timestamp)))
      .get()
    return row?.bytes ?? 0
  }

  private filtered(query: BsoQuery, collectionId: number) {
    const conditions: (SQL | undefined)[] = [this.liveBsosOf(collectionId)]
    if (query.ids !== undefined) conditions.push(inArray(bso.id, [...query.ids]))
    if (query.newer !== undefined) conditions.push(gt(bso.modified, query.newer))
    if (query.older !== undefined) conditions.push(lt(bso.modified, query.older))
    if (query.atMost !== undefined) conditions.push(lte(bso.modified, query.atMost))
    if (query.atLeast !== undefined) conditions.push(gte(bso.modified, query.atLeast))
    return and(...conditions)
  }

  private ordering(query: BsoQuery) {
    switch (query.sort) {
      case 'oldest':
        return [asc(bso.modified), asc(bso.id)]
      // SQLite sorts NULL lowest, so records without a sortindex come last.
      case 'index':
        return [desc(bso.sortindex), desc(bso.id)]
      case 'newest':
      case 'none':
        return [desc(bso.modified), desc(bso.id)]
    }
  }

  async getBsos(query: BsoQuery): Promise<Bso[]> {
    if (this.collectionId === undefined || query.ids?.length === 0) return []
    const select = this.db.select(BSO_COLUMNS).from(bso).$dynamic()
    return this.listing(select, query, this.collectionId).all()
  }

  async getBsoIds(query: BsoQuery): Promise<string[]> {
    if (this.collectionId === undefined || query.ids?.length === 0) return []
    const select = this.db.select({ id: bso.id }).from(bso).$dynamic()
    return this.listing(select, query, this.collectionId)
      .all()
      .map((row) => row.id)
  }

  /** A collection listing: the query's filters, order, limit and skip. */
  private listing<Select extends SQLiteSelect>(select: Select, query: BsoQuery, collectionId: number): Select {
    return select
      .where(this.filtered(query, collectionId))
      .orderBy(...this.ordering(query))
      .limit(query.limit ?? -1)
      .offset(query.skip)
  }

  async getBso(id: string): Promise<Bso | null> {
    if (this.collectionId === undefined) return null
    const row = this.db
      .select(BSO_COLUMNS)
      .from(bso)
      .where(and(this.liveBsosOf(this.collectionId), eq(bso.id, id)))
      .get()
    return row ?? null
  }

  private upsert(write: BsoWrite, touch: boolean): void {
    this.statements.upsertBso.run({
      userid: this.uid,
      collection: this.writeCollection,
      id: write.id,
      sortindex: write.sortindex ?? null,
      payload: write.payload ?? null,
      modified: this.timestamp,
      expiry: write.ttl === undefined ? null : this.timestamp + write.ttl * 1000,
      defaultExpiry: this.timestamp + DEFAULT_TTL_MS,
      touch: touch ? 1 : 0,
    })
  }

  private touch(collectionId: number): void {
    this.statements.touchCollection.run({ userid: this.uid, collection: collectionId, modified: this.timestamp })
  }

  async putBsos(writes: readonly BsoWrite[]): Promise<void> {
    for (const write of writes) this.upsert(write, false)
    this.touch(this.writeCollection)
  }

  async deleteBso(id: string): Promise<boolean> {
    const collectionId = this.writeCollection
    const result = this.db.delete(bso).where(and(this.liveBsosOf(collectionId), eq(bso.id, id))).run()
    if (changes(result) === 0) return false
    this.touch(collectionId)
    return true
  }

  async deleteBsos(ids: readonly string[]): Promise<void> {
    const collectionId = this.writeCollection
    this.db
      .delete(bso)
      .where(and(eq(bso.userid, this.uid), eq(bso.collection, collectionId), inArray(bso.id, [...ids])))
      .run()
    this.touch(collectionId)
  }

  async deleteCollection(): Promise<void> {
    const collectionId = this.writeCollection
    const ofCollection = (table: typeof bso | typeof userCollections) =>
      and(eq(table.userid, this.uid), eq(table.collection, collectionId))
    const deletedBsos = changes(this.db.delete(bso).where(ofCollection(bso)).run())
    const deletedRow = changes(this.db.delete(userCollections).where(ofCollection(userCollections)).run())
    this.deleteBatches(eq(batchUploads.collection, collectionId))
    if (deletedBsos + deletedRow > 0) this.touch(TOMBSTONE)
  }

  async deleteStorage(): Promise<void> {
    this.db.delete(bso).where(eq(bso.userid, this.uid)).run()
    this.db.delete(userCollections).where(eq(userCollections.userid, this.uid)).run()
    this.deleteBatches(undefined)
  }

  private deleteBatches(filter: SQL | undefined): void {
    const batches = this.db
      .select({ batch: batchUploads.batch })
      .from(batchUploads)
      .where(and(eq(batchUploads.userid, this.uid), filter))
    this.db
      .delete(batchUploadItems)
      .where(and(eq(batchUploadItems.userid, this.uid), inArray(batchUploadItems.batch, batches)))
      .run()
    this.db.delete(batchUploads).where(and(eq(batchUploads.userid, this.uid), filter)).run()
  }

  /**
   * Batch ids are creation milliseconds plus uid mod 10, like syncstorage-rs's MySQL and SQLite
   * backends; a collision (same user, same tick) moves to the next number.
   */
  async createBatch(): Promise<string> {
    const collection = this.writeCollection
    for (let attempt = 0; attempt < 5; attempt++) {
      const batch = this.timestamp + (this.uid % 10) + attempt
      const inserted = this.db
        .insert(batchUploads)
        .values({ batch, userid: this.uid, collection })
        .onConflictDoNothing()
        .run()
      if (changes(inserted) === 1) return encodeIntegerBatchId(batch)
    }
    throw new SyncError('conflict', 'could not allocate a batch id')
  }

  private batchFilter(batchId: string) {
    return and(eq(batchUploadItems.batch, decodeIntegerBatchId(batchId)), eq(batchUploadItems.userid, this.uid))
  }

  async batchIsOpen(batchId: string): Promise<boolean> {
    const batch = decodeIntegerBatchId(batchId)
    if (batch + BATCH_LIFETIME_MS <= this.timestamp) return false
    const row = this.db
      .select({ batch: batchUploads.batch })
      .from(batchUploads)
      .where(
        and(
          eq(batchUploads.batch, batch),
          eq(batchUploads.userid, this.uid),
          eq(batchUploads.collection, this.writeCollection),
        ),
      )
      .get()
    return row !== undefined
  }

  async appendToBatch(batchId: string, writes: readonly BsoWrite[]): Promise<void> {
    const batch = decodeIntegerBatchId(batchId)
    for (const write of writes) {
      this.statements.stageBso.run({
        batch,
        userid: this.uid,
        id: write.id,
        sortindex: write.sortindex ?? null,
        payload: write.payload ?? null,
        payloadSize: write.payload === undefined ? null : Buffer.byteLength(write.payload),
        ttl: write.ttl ?? null,
      })
    }
  }

  async stagedBytes(batchId: string, excludingIds: readonly string[]): Promise<number> {
    const row = this.db
      .select({ bytes: sql<number>`coalesce(sum(${batchUploadItems.payloadSize}), 0)` })
      .from(batchUploadItems)
      .where(and(this.batchFilter(batchId), excludingIds.length > 0 ? notInArray(batchUploadItems.id, [...excludingIds]) : undefined))
      .get()
    return row?.bytes ?? 0
  }

  async commitBatch(batchId: string): Promise<void> {
    const staged = this.db
      .select({
        id: batchUploadItems.id,
        sortindex: batchUploadItems.sortindex,
        payload: batchUploadItems.payload,
        ttl: batchUploadItems.ttlOffset,
      })
      .from(batchUploadItems)
      .where(this.batchFilter(batchId))
      .all()
    for (const item of staged) {
      this.upsert(
        { id: item.id, payload: item.payload ?? undefined, sortindex: item.sortindex ?? undefined, ttl: item.ttl ?? undefined },
        true,
      )
    }
    this.touch(this.writeCollection)
    this.db.delete(batchUploadItems).where(this.batchFilter(batchId)).run()
    this.db
      .delete(batchUploads)
      .where(and(eq(batchUploads.batch, decodeIntegerBatchId(batchId)), eq(batchUploads.userid, this.uid)))
      .run()
  }

  async refreshCollectionTotals(): Promise<void> {
    const collectionId = this.writeCollection
    const live = this.liveBsosOf(collectionId)
    this.db
      .update(userCollections)
      .set({
        totalBytes: sql`(select coalesce(sum(${byteLength(bso.payload)}), 0) from ${bso} where ${live})`,
        count: sql`(select count(*) from ${bso} where ${live})`,
      })
      .where(and(eq(userCollections.userid, this.uid), eq(userCollections.collection, collectionId)))
      .run()
  }

  async quotaUsage(): Promise<number> {
    const row = this.db
      .select({ bytes: sql<number>`coalesce(sum(${userCollections.totalBytes}), 0)` })
      .from(userCollections)
      .where(eq(userCollections.userid, this.uid))
      .get()
    return row?.bytes ?? 0
  }
}
