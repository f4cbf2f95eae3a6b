import { randomUUID } from 'node:crypto'
import { collectionRows, type CollectionRows, type ResolvedCollection } from '../collection-ids.ts'
import type { StorageOptions } from '../engine.ts'
import { mergeWrites, PooledStorage, PooledTx } from '../pooled-storage.ts'
import { batchExpiry, recordExpiry, writeTimestampAfter } from '../rules.ts'
import { nowMillis, truncateToTick, type Millis } from '../timestamps.ts'
import type { BsoQuery, BsoWrite, StorageBackend, StorageTx, TransactionRequest } from '../types.ts'
import { isConnectionLost, PgStatement, PostgresPool, translatePgError, type PgStatements } from './connection.ts'
import { decodePayload, encodePayload, iso, listingParams, listingText, statements, toMillis, upserts } from './statements.ts'
import type { LastTimestampMaps } from '../last-timestamp-maps.ts'
import { jsonTimestampMaps } from './timestamp-maps.ts'
import { TimestampReads } from '../timestamp-reads.ts'


/** Collection rows through `tx`. */
const collectionRowsOf = (tx: PostgresTx): CollectionRows =>
  collectionRows(
    async (name) => firstId(await tx.run(statements.collectionByName, { name })),
    async (name) => firstId(await tx.run(statements.insertCollection, { name })),
  )

const firstId = (rows: unknown[][]): number | undefined => (rows[0] === undefined ? undefined : Number(rows[0][0]))

const UUID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/i

/** More than a fifth of bsos changed since its last ANALYZE (autovacuum's own threshold is a tenth). */
const STALE_STATISTICS = `
  SELECT n_mod_since_analyze > 1000 AND n_mod_since_analyze > n_live_tup / 5
    FROM pg_stat_user_tables WHERE relid = 'bsos'::regclass`

/** User ids as the text of an int8[] (`{1,2}`): postgres.js binds a string without guessing a type. */
const int8Array = (uids: readonly number[]) => `{${uids.join(',')}}`

/** Sync storage on PostgreSQL (postgres.js, statements rendered by Drizzle). */
export class PostgresStorage extends PooledStorage<PgStatements, PostgresTx> implements StorageBackend {
  readonly engine = 'postgres'

  constructor(pool: PostgresPool, options: StorageOptions = {}) {
    const timestampMaps = jsonTimestampMaps()
    const timestampReads = new TimestampReads((uids) => pool.rows(statements.usersTimestampsJson, { uids: int8Array(uids) }))
    super(pool, { newTx: (session, uid) => new PostgresTx(session, uid, timestampReads, timestampMaps), isConnectionLost, translate: translatePgError }, options)
  }

  /**
   * ANALYZE bsos when its statistics lag its contents (a database restored or bulk-loaded and
   * not yet seen by autovacuum): with stale statistics the planner answers "the 1,000 newest"
   * by reading the whole collection through the expiry index and sorting it (5 ms for 5,000
   * rows) instead of walking the modified index (1 ms). Best effort, in the background: an
   * error (no permission) only leaves the choice to autovacuum.
   */
  analyzeIfStale(): Promise<boolean> {
    this.statistics = this.pool
      .withSession(async (session) => {
        const [row] = await session.raw(STALE_STATISTICS, [], false)
        if (row?.[0] !== true) return false
        await session.raw('ANALYZE bsos', [], false)
        return true
      })
      .catch(() => false)
    return this.statistics
  }

  /** A connection must not be ended while it is still being opened for the statistics check. */
  override async close(): Promise<void> {
    await this.statistics
    return super.close()
  }

  private statistics: Promise<boolean> | undefined

  /** BEGIN and the collection lock; returns the collection a write resolved. */
  protected async open(tx: PostgresTx, request: TransactionRequest, name: string | undefined): Promise<ResolvedCollection | undefined> {
    tx.begin()
    if (name === undefined) return undefined
    const rows = collectionRowsOf(tx)
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

  protected async ping(session: PgStatements): Promise<boolean> {
    const rows = await session.raw('SELECT 1', [], true)
    return rows.length === 1
  }
}

class PostgresTx extends PooledTx<PgStatement> implements StorageTx {
  private begun: Promise<unknown> | undefined

  /** The user's timestamps row (none when the user has no collections), kept for collectionTimestamps. */
  private timestampsJson: Promise<unknown[][]> | undefined

  constructor(
    private readonly session: PgStatements,
    uid: number,
    private readonly timestampReads: TimestampReads,
    private readonly timestampMaps: LastTimestampMaps<string | null>,
  ) {
    super(uid, statements, { at: iso, millis: toMillis, decodePayload })
  }

  // info/collections asks for both: one statement answers both (one round trip, one snapshot).
  override async storageTimestamp(): Promise<Millis> {
    if (!this.readOnly) return super.storageTimestamp()
    this.timestampsJson = this.readTimestampsJson()
    const [row] = await this.timestampsJson
    return toMillis(row?.[0])
  }

  override async collectionTimestamps(): Promise<ReadonlyMap<string, Millis>> {
    const [row] = await (this.timestampsJson ?? this.readTimestampsJson())
    return this.timestampMaps.of(this.uid, (row?.[1] as string | null | undefined) ?? null)
  }

  /** Outside a transaction (info/*), together with the other users' reads of this turn. */
  private readTimestampsJson(): Promise<unknown[][]> {
    if (!this.inTransaction) return this.timestampReads.read(this.uid)
    return this.run(statements.usersTimestampsJson, { uids: int8Array([this.uid]) })
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
    const defaultExpiry = iso(recordExpiry(this.timestamp, undefined))
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
          expiries: group.map((write) => (write.ttl === undefined ? null : iso(recordExpiry(this.timestamp, write.ttl)))),
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
    await this.run(statements.createBatch, this.key({ batch, expiry: iso(batchExpiry(this.timestamp)) }))
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
      defaultExpiry: iso(recordExpiry(this.timestamp, undefined)),
    })
    await Promise.all([
      this.run(statements.commitBatch, values),
      this.touch(collection),
      this.run(statements.deleteBatch, values),
    ])
  }
}
