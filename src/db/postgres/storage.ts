import { randomUUID } from 'node:crypto'
import { eq, sql, type SQL } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import { writeTimestampAfter } from '../pooled.ts'
import { BATCH_LIFETIME_MS, DEFAULT_TTL_MS, nowMillis, truncateToTick, type Millis } from '../timestamps.ts'
import { MODIFIED_BOUNDS, mergeWrites, PooledStorage, PooledTx } from '../pooled-storage.ts'
import type { CollectionRows, ResolvedCollection } from '../collection-ids.ts'
import type { BsoQuery, BsoWrite, StorageBackend, StorageTx, TransactionRequest } from '../types.ts'
import { isConnectionLost, PgStatement, PostgresPool, translatePgError, type PgSession } from './connection.ts'
import { batchBsos, batches, bsos, collections, userCollections } from './schema.ts'

const TOMBSTONE = 0

/** `modified` of a "pre-touch" row: the collection row exists only so children can reference it. */
const PRE_TOUCH = `'0001-01-01T00:00:00Z'::timestamptz`

/** The latest instant a comparison parameter needs (later than anything ever stored). */
const LATEST_MS = 253_402_300_799_990 // 9999-12-31T23:59:59.99Z

/** A millisecond timestamp as a TIMESTAMPTZ literal; exact, unlike float seconds. */
const iso = (ms: Millis): string => new Date(Math.min(Math.max(ms, 0), LATEST_MS)).toISOString()

/** TIMESTAMPTZ to integer milliseconds, in SQL; exact for the 10 ms values stored here. */
const millisOf = (value: SQL) => sql`(extract(epoch from ${value}) * 1000)::int8`

/**
 * PostgreSQL TEXT cannot hold U+0000, which a payload may contain: stored payloads carry it as
 * U+0001 '0', and U+0001 itself as U+0001 '1'. Real payloads (JSON text, which escapes control
 * characters) never contain either, so they are stored unchanged.
 */
function encodePayload(payload: string): string {
  if (payload.indexOf('\u0000') < 0 && payload.indexOf('\u0001') < 0) return payload
  return payload.replace(/[\u0000\u0001]/g, (char) => (char === '\u0000' ? '\u00010' : '\u00011'))
}

function decodePayload(stored: string): string {
  if (stored.indexOf('\u0001') < 0) return stored
  return stored.replace(/\u0001([01])/g, (_, digit: string) => (digit === '0' ? '\u0000' : '\u0001'))
}

/**
 * The UTF-8 bytes of the payload as the client sent it: each escape is U+0001 plus a digit for
 * one one-byte character, so dropping the U+0001s leaves the original length (usage, quota).
 */
const payloadBytes = (column: string) => sql.raw(`octet_length(replace(${column}, chr(1), ''))`)

const p = sql.placeholder
const at = (name: string) => sql`${p(name)}::timestamptz`
const db = drizzle.mock()

/** Every statement, rendered once by Drizzle and run as a prepared statement on any connection. */
const statements = {
  collectionByName: new PgStatement(
    db.select({ id: collections.collectionId }).from(collections).where(eq(collections.name, p('name'))),
  ),
  insertCollection: new PgStatement(
    db.insert(collections).values({ name: p('name') }).onConflictDoNothing().returning({ id: collections.collectionId }),
  ),
  /** The write lock, the stored timestamp and the database clock, in one round trip. */
  lockForWrite: new PgStatement(sql`
    SELECT ${millisOf(sql`modified`)}, ${millisOf(sql`clock_timestamp()`)}
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
  storageModified: new PgStatement(sql`
    SELECT ${millisOf(sql`max(modified)`)}
      FROM ${userCollections}
     WHERE user_id = ${p('uid')} AND modified <> ${sql.raw(PRE_TOUCH)}`),
  bsoModified: new PgStatement(sql`
    SELECT ${millisOf(sql`modified`)}
      FROM ${bsos}
     WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')} AND bso_id = ${p('id')}`),
  collectionTimestamps: new PgStatement(sql`
    SELECT c.name, ${millisOf(sql`u.modified`)}
      FROM ${userCollections} u JOIN ${collections} c ON c.collection_id = u.collection_id
     WHERE u.user_id = ${p('uid')} AND u.collection_id <> ${TOMBSTONE} AND u.modified <> ${sql.raw(PRE_TOUCH)}`),
  collectionCounts: new PgStatement(sql`
    SELECT c.name, count(*)
      FROM ${bsos} b JOIN ${collections} c ON c.collection_id = b.collection_id
     WHERE b.user_id = ${p('uid')} AND b.expiry > ${at('now')}
     GROUP BY c.name`),
  collectionUsage: new PgStatement(sql`
    SELECT c.name, sum(${payloadBytes('b.payload')})
      FROM ${bsos} b JOIN ${collections} c ON c.collection_id = b.collection_id
     WHERE b.user_id = ${p('uid')} AND b.expiry > ${at('now')}
     GROUP BY c.name`),
  storageUsage: new PgStatement(sql`
    SELECT coalesce(sum(${payloadBytes('payload')}), 0)
      FROM ${bsos}
     WHERE user_id = ${p('uid')} AND expiry > ${at('now')}`),
  getBso: new PgStatement(sql`
    SELECT bso_id, ${millisOf(sql`modified`)}, payload, sortindex
      FROM ${bsos}
     WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')} AND bso_id = ${p('id')}
       AND expiry > ${at('now')}`),
  /** Deletes a live BSO and, when it did, moves the collection to T; returns a row when it did. */
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
    SELECT coalesce(sum(${payloadBytes('payload')}), 0)
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
  refreshTotals: new PgStatement(sql`
    UPDATE ${userCollections} SET
      total_bytes = (SELECT coalesce(sum(${payloadBytes('payload')}), 0) FROM ${bsos} b
                      WHERE b.user_id = ${p('uid')} AND b.collection_id = ${p('collection')} AND b.expiry > ${at('now')}),
      count = (SELECT count(*) FROM ${bsos} b
                WHERE b.user_id = ${p('uid')} AND b.collection_id = ${p('collection')} AND b.expiry > ${at('now')})
     WHERE user_id = ${p('uid')} AND collection_id = ${p('collection')}`),
  quotaUsage: new PgStatement(sql`
    SELECT coalesce(sum(total_bytes), 0) FROM ${userCollections} WHERE user_id = ${p('uid')}`),
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

const upserts = [false, true].map((payloadGiven) => [false, true].map((ttlGiven) => upsertStatement(payloadGiven, ttlGiven)))

/** Listing queries differ by which filters are present; each shape is rendered once. */
const listingTexts = new Map<string, string>()

function listingText(query: BsoQuery, full: boolean): string {
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
  // Ties break on the id in byte order, whatever the database's collation (as SQLite does).
  const order = {
    oldest: 'modified ASC, bso_id COLLATE "C" ASC',
    index: 'sortindex DESC NULLS LAST, bso_id COLLATE "C" DESC',
    newest: 'modified DESC, bso_id COLLATE "C" DESC',
    none: 'modified DESC, bso_id COLLATE "C" DESC',
  }[query.sort]
  const columns = full ? 'bso_id, (extract(epoch from modified) * 1000)::int8, payload, sortindex' : 'bso_id'
  const limit = query.limit === undefined ? '' : ` LIMIT $${++n}`
  text = `SELECT ${columns} FROM bsos WHERE ${where.join(' AND ')} ORDER BY ${order}${limit} OFFSET $${++n}`
  listingTexts.set(shape, text)
  return text
}

function listingParams(uid: number, collection: number, now: Millis, query: BsoQuery): unknown[] {
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
const toMillis = (value: unknown): Millis => Math.max(0, Number(value ?? 0))

/** Collection rows through `tx`; a concurrent creator of the same name makes our insert a no-op, and its id is read back. */
function collectionRows(tx: PostgresTx): CollectionRows {
  const find = async (name: string) => {
    const [row] = await tx.run(statements.collectionByName, { name })
    return row === undefined ? undefined : Number(row[0])
  }
  return {
    find,
    async create(name) {
      const [inserted] = await tx.run(statements.insertCollection, { name })
      const id = inserted === undefined ? await find(name) : Number(inserted[0])
      if (id === undefined) throw new Error(`collection ${name} could not be created`)
      return id
    },
  }
}

const UUID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/i

/** Sync storage on PostgreSQL (postgres.js, statements rendered by Drizzle). */
export class PostgresStorage extends PooledStorage<PgSession, PostgresTx> implements StorageBackend {
  readonly engine = 'postgres'

  constructor(pool: PostgresPool) {
    super(pool, { newTx: (session, uid) => new PostgresTx(session, uid), isConnectionLost, translate: translatePgError })
  }

  /** BEGIN and the collection lock; returns the collection a write resolved. */
  protected async open(tx: PostgresTx, request: TransactionRequest, name: string | undefined): Promise<ResolvedCollection | undefined> {
    // In READ COMMITTED a transaction adds nothing to reads that take no lock: every
    // statement sees the latest commits either way. Those run without BEGIN.
    if (request.mode !== 'wipe' && name === undefined) return undefined
    tx.begin()
    if (name === undefined) return undefined
    const rows = collectionRows(tx)
    if (request.mode === 'read') {
      const known = await this.collectionIds.find(name, rows)
      if (known === undefined) return undefined
      const [row] = await tx.run(statements.lockForRead, { uid: tx.uid, collection: known })
      tx.setCollection(known, toMillis(row?.[0]), nowMillis())
      return undefined
    }
    const collection = await this.collectionIds.resolve(name, rows)
    const { id } = collection
    let [row] = await tx.run(statements.lockForWrite, { uid: tx.uid, collection: id })
    if (row === undefined) {
      // No row to lock yet: a placeholder makes one; concurrent creators wait on its key.
      const locked = await Promise.all([
        tx.run(statements.preTouch, { uid: tx.uid, collection: id }),
        tx.run(statements.lockForWrite, { uid: tx.uid, collection: id }),
      ])
      row = locked[1][0]
      if (row === undefined) throw new Error('collection row vanished while locking it')
    }
    const stored = toMillis(row[0])
    const databaseNow = truncateToTick(Number(row[1]))
    // T is the database clock, and never behind the request's arrival on this host.
    const timestamp = await writeTimestampAfter(stored, () => Math.max(databaseNow, nowMillis()))
    tx.setCollection(id, stored, timestamp)
    return collection
  }

  isWellFormedBatchId(batchId: string): boolean {
    return UUID.test(batchId)
  }

  protected async ping(session: PgSession): Promise<boolean> {
    const rows = await session.raw('SELECT 1', [], true)
    return rows.length === 1
  }
}

class PostgresTx extends PooledTx<PgStatement> implements StorageTx {
  private begun: Promise<unknown> | undefined

  constructor(
    private readonly session: PgSession,
    uid: number,
  ) {
    super(uid, statements, { at: iso, millis: toMillis, decodePayload })
  }

  /** BEGIN is pipelined in front of the first statement rather than awaited on its own. */
  begin(): void {
    this.inTransaction = true
    this.begun = this.session.raw('BEGIN', [], false)
    // Awaited with the first statement; until then a failure must not count as unhandled.
    this.begun.catch(() => {})
  }

  setCollection(id: number, modified: Millis, timestamp: Millis): void {
    this.collectionId = id
    this.collectionModified = modified
    this.timestamp = timestamp
  }

  async run(statement: PgStatement, values: Record<string, unknown>): Promise<unknown[][]> {
    return this.guard(this.session.run(statement, values))
  }

  /** Awaits a statement, and the BEGIN pipelined in front of it if it is the first. */
  private async guard(query: Promise<unknown[][]>): Promise<unknown[][]> {
    const begun = this.begun
    this.begun = undefined
    if (begun !== undefined) await Promise.all([begun, query])
    return query
  }

  async commit(): Promise<void> {
    if (!this.inTransaction) return
    if (this.begun !== undefined) await this.guard(Promise.resolve([]))
    await this.session.raw('COMMIT', [], false)
    this.inTransaction = false
  }

  async rollback(): Promise<void> {
    if (!this.inTransaction || !this.session.usable) return
    try {
      await this.begun
    } catch {
      // reported by the statement that failed
    }
    try {
      await this.session.raw('ROLLBACK', [], false)
    } catch {
      // the connection is gone; nothing to undo
    }
  }

  protected async list(query: BsoQuery, full: boolean): Promise<unknown[][]> {
    if (this.collectionId === undefined || query.ids?.length === 0) return []
    const text = listingText(query, full)
    return this.guard(this.session.raw(text, listingParams(this.uid, this.collectionId, this.timestamp, query), true))
  }

  private touch(collection: number): Promise<unknown> {
    if (collection === this.collectionId) this.collectionModified = this.timestamp
    return this.run(statements.touch, { uid: this.uid, collection, modified: iso(this.timestamp) })
  }

  async putBsos(writes: readonly BsoWrite[]): Promise<void> {
    const collection = this.writeCollection
    const groups = new Map<PgStatement, BsoWrite[]>()
    for (const write of mergeWrites(writes)) {
      const statement = upserts[write.payload === undefined ? 0 : 1]![write.ttl === undefined ? 0 : 1]!
      const group = groups.get(statement)
      if (group === undefined) groups.set(statement, [write])
      else group.push(write)
    }
    const now = iso(this.timestamp)
    const defaultExpiry = iso(this.timestamp + DEFAULT_TTL_MS)
    // Pipelined: all statements go out together and are answered in one round trip.
    await Promise.all([
      ...[...groups].map(([statement, group]) =>
        this.run(statement, {
          uid: this.uid,
          collection,
          now,
          defaultExpiry,
          ids: group.map((write) => write.id),
          sortindexes: group.map((write) => write.sortindex ?? null),
          payloads: group.map((write) => (write.payload === undefined ? null : encodePayload(write.payload))),
          expiries: group.map((write) => (write.ttl === undefined ? null : iso(this.timestamp + write.ttl * 1000))),
        }),
      ),
      this.touch(collection),
    ])
  }

  async deleteBso(id: string): Promise<boolean> {
    const rows = await this.run(statements.deleteBso, this.key({ id, now: iso(this.timestamp) }))
    if (rows.length === 0) return false
    this.collectionModified = this.timestamp
    return true
  }

  async deleteBsos(ids: readonly string[]): Promise<void> {
    const collection = this.writeCollection
    await Promise.all([this.run(statements.deleteBsos, this.key({ ids })), this.touch(collection)])
  }

  async deleteCollection(): Promise<void> {
    this.requireCollection()
    await this.run(statements.deleteCollection, this.key({ now: iso(this.timestamp) }))
    this.collectionModified = 0
  }

  async deleteStorage(): Promise<void> {
    await this.run(statements.deleteStorage, { uid: this.uid })
    this.collectionModified = 0
  }

  async createBatch(): Promise<string> {
    const batch = randomUUID()
    await this.run(statements.createBatch, this.key({ batch, expiry: iso(this.timestamp + BATCH_LIFETIME_MS) }))
    return batch
  }

  async batchIsOpen(batchId: string): Promise<boolean> {
    this.requireCollection()
    const rows = await this.run(statements.batchIsOpen, this.key({ batch: batchId, now: iso(this.timestamp) }))
    return rows.length > 0
  }

  async appendToBatch(batchId: string, writes: readonly BsoWrite[]): Promise<void> {
    if (writes.length === 0) return
    const merged = mergeWrites(writes)
    await this.run(
      statements.appendToBatch,
      this.key({
        batch: batchId,
        ids: merged.map((write) => write.id),
        sortindexes: merged.map((write) => write.sortindex ?? null),
        payloads: merged.map((write) => (write.payload === undefined ? null : encodePayload(write.payload))),
        ttls: merged.map((write) => write.ttl ?? null),
      }),
    )
  }

  async stagedBytes(batchId: string, excludingIds: readonly string[]): Promise<number> {
    return Number(await this.scalar(statements.stagedBytes, this.key({ batch: batchId, excluding: excludingIds })))
  }

  async commitBatch(batchId: string): Promise<void> {
    const collection = this.writeCollection
    const values = this.key({
      batch: batchId,
      now: iso(this.timestamp),
      defaultExpiry: iso(this.timestamp + DEFAULT_TTL_MS),
    })
    await Promise.all([
      this.run(statements.commitBatch, values),
      this.touch(collection),
      this.run(statements.deleteBatch, values),
    ])
  }
}
