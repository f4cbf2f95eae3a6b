import { randomUUID } from 'node:crypto'
import type { Database, Spanner, Transaction } from '@google-cloud/spanner'
import { SyncError } from '../../errors.ts'
import { CollectionIds, collectionRows, STANDARD_COLLECTIONS, type ResolvedCollection } from '../collection-ids.ts'
import { ConnectionGate } from '../pooled.ts'
import { mergeWrites, MODIFIED_BOUNDS } from '../pooled-storage.ts'
import { batchExpiry, LISTING_ORDERS, recordExpiry, TOMBSTONE, writeTimestampAfter } from '../rules.ts'
import { DEFAULT_TTL_MS, nowMillis, truncateToTick, type Millis } from '../timestamps.ts'
import type { Bso, BsoQuery, BsoWrite, PoolStatus, StorageBackend, StorageTx, StorageUser, TransactionRequest, UserTimestamps } from '../types.ts'
import { userTimestampsInTransaction } from '../user-timestamps.ts'
import { grpcCode, GrpcCode, grpcDetails } from './client.ts'
import { SPANNER_LIMITS } from './settings.ts'
import { cellOf, int, ints, string, strings, structs, timestamp, queryParams, type Cell, type Param } from './values.ts'

/** `modified` of a placeholder row, made only so a new batch has its parent row (spanner.md §4.2). */
const PLACEHOLDER = "TIMESTAMP '0001-01-01T00:00:00Z'"
/** Custom collections are numbered from here on Spanner (spanner.md §1.3); the standard ones need no row. */
const FIRST_CUSTOM_COLLECTION_ID = 101

/** The user's key columns, bound as @fxa_uid and @fxa_kid. */
const USER = 'fxa_uid = @fxa_uid AND fxa_kid = @fxa_kid'
const USER_COLLECTION = `${USER} AND collection_id = @collection`

/**
 * Upserts list every column and compute the values they keep from the existing row: on
 * emulators before 1.5.43 INSERT OR UPDATE sets unlisted columns to NULL (spanner.md §5).
 */
const TOUCH = `
  INSERT OR UPDATE INTO user_collections (fxa_uid, fxa_kid, collection_id, modified, count, total_bytes)
  SELECT @fxa_uid, @fxa_kid, @collection, @now, kept.count, kept.total_bytes
    FROM UNNEST([1]) LEFT JOIN (SELECT count, total_bytes FROM user_collections WHERE ${USER_COLLECTION}) kept ON TRUE`

/**
 * Rows merged in this process with what the keyed read found: every column listed, so an
 * emulator before 1.5.43, where INSERT OR UPDATE sets unlisted columns to NULL (spanner.md §5),
 * writes the same rows as Spanner.
 */
const UPSERT_BSOS = `
  INSERT OR UPDATE INTO bsos (fxa_uid, fxa_kid, collection_id, bso_id, sortindex, payload, payload_link, modified, expiry)
  SELECT @fxa_uid, @fxa_kid, @collection, r.id, r.sortindex, r.payload, r.payload_link, r.modified, r.expiry FROM UNNEST(@rows) AS r`

const UPSERT_STAGED = `
  INSERT OR UPDATE INTO batch_bsos (fxa_uid, fxa_kid, collection_id, batch_id, batch_bso_id, sortindex, payload, ttl, payload_link)
  SELECT @fxa_uid, @fxa_kid, @collection, @batch, r.id, r.sortindex, r.payload, r.ttl, r.payload_link FROM UNNEST(@rows) AS r`

/** Every staged record gets modified = T; absent fields keep the stored ones (storage-api.md §13.5). */
const COMMIT_BATCH = `
  INSERT OR UPDATE INTO bsos (fxa_uid, fxa_kid, collection_id, bso_id, sortindex, payload, payload_link, modified, expiry)
  SELECT s.fxa_uid, s.fxa_kid, s.collection_id, s.batch_bso_id, COALESCE(s.sortindex, e.sortindex),
         CASE WHEN s.payload IS NOT NULL THEN s.payload WHEN e.bso_id IS NULL THEN '' ELSE e.payload END,
         IF(s.payload IS NULL, e.payload_link, NULL),
         @now,
         IF(s.ttl IS NOT NULL, TIMESTAMP_ADD(@now, INTERVAL LEAST(s.ttl, @max_ttl) SECOND), COALESCE(e.expiry, @default_expiry))
    FROM batch_bsos s
    LEFT JOIN (SELECT bso_id, sortindex, payload, payload_link, expiry FROM bsos WHERE ${USER_COLLECTION}) e
      ON e.bso_id = s.batch_bso_id
   WHERE s.fxa_uid = @fxa_uid AND s.fxa_kid = @fxa_kid AND s.collection_id = @collection AND s.batch_id = @batch`

const LIVE = 'expiry > @now'

/** Columns the statements here use, one per table plus those added after the tables were created. */
const REQUIRED_COLUMNS = [
  'user_collections.total_bytes',
  'collections.name',
  'bsos.expiry',
  'bsos.payload_link',
  'batches.expiry',
  'batch_bsos.payload_link',
]

/** The listing order (rules.ts); Spanner sorts NULL first, so a descending sortindex puts records without one last. */
function orderBy(sort: BsoQuery['sort']): string {
  const { key, descending } = LISTING_ORDERS[sort]
  const direction = descending ? 'DESC' : 'ASC'
  return `${key} ${direction}, bso_id ${direction}`
}

/** GoogleSQL has no OFFSET without LIMIT. */
const NO_LIMIT = '9223372036854775807'

const toMillis = (cell: Cell): Millis => (cell === null ? 0 : truncateToTick(Number(cell)))

/** Fewer resumptions of a broken result stream than the library's ten: then 503. */
const QUERY_OPTIONS = { maxResumeRetries: 2, json: false } as const

/**
 * The statements of one transaction, through `@google-cloud/spanner`. A write runs in a
 * read-write transaction (begun inline by its first statement); a read has none: each of its
 * statements is a single-use read-only transaction at the timestamp of the first (strong), so a
 * read leaves nothing open and needs no BeginTransaction round trip (copy.ts reads this way too).
 */
export class Statements {
  /** Statements of one transaction run one after another, in the order they were issued. */
  private queue: Promise<unknown> = Promise.resolve()
  /** The snapshot the statements of a read share, taken by its first statement. */
  private readTimestamp: unknown

  constructor(
    private readonly database: Database,
    readonly transaction?: Transaction,
  ) {}

  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    const result = this.queue.then(run)
    this.queue = result.catch(() => {})
    return result
  }

  /** Rows of a query (streamed: results over 10 MiB cannot come in one response). */
  query(sql: string, params: Record<string, Param> = {}): Promise<Cell[][]> {
    return this.enqueue(async () => {
      const query = { sql, ...queryParams(params), ...QUERY_OPTIONS }
      let rows: unknown[]
      if (this.transaction !== undefined) {
        ;[rows] = await this.transaction.run(query)
      } else {
        const bound = this.readTimestamp === undefined ? { strong: true, returnReadTimestamp: true } : { readTimestamp: this.readTimestamp }
        const [read, , metadata] = (await this.database.run(query, bound as Parameters<Database['run']>[1])) as unknown as [unknown[], unknown, ResultMetadata | undefined]
        this.readTimestamp ??= metadata?.transaction?.readTimestamp ?? undefined
        rows = read
      }
      return (rows as { value: unknown }[][]).map((row) => row.map((cell) => cellOf(cell.value)))
    })
  }

  /** A DML statement; the number of rows it changed. */
  update(sql: string, params: Record<string, Param>): Promise<number> {
    return this.enqueue(async () => {
      if (this.transaction === undefined) throw new Error('a DML statement outside a read-write transaction')
      // ExecuteBatchDml, a unary call: the emulator delays an error on a stream (what runUpdate
      // uses) by ~7 s (googleapis/nodejs-spanner#2014), production Spanner does not.
      const [[count]] = await this.transaction.batchUpdate([{ sql, ...queryParams(params) }], { gaxOptions: RETRIES })
      return count ?? 0
    })
  }

  /**
   * Columns of the rows of `table` at these primary keys, by key (absent keys give no row). The
   * emulator answers a query's `IN UNNEST(@ids)` by scanning: 100 ids among a user's 5,000 rows
   * took ~0.4 s there, keyed ~20 ms.
   */
  readKeys(table: string, keys: readonly string[][], columns: readonly string[]): Promise<Cell[][]> {
    return this.enqueue(async () => {
      if (this.transaction === undefined) throw new Error('a keyed read outside a read-write transaction')
      const [rows] = await this.transaction.read(table, { keys: keys as string[][], columns: [...columns] })
      return (rows as unknown as { value: unknown }[][]).map((row) => row.map((cell) => cellOf(cell.value)))
    })
  }
}

interface ResultMetadata {
  transaction?: { readTimestamp?: unknown } | null
}

export interface SpannerStorageOptions {
  /** Keep the per-collection totals quota reads, refreshed before each write commits (enable_quota). */
  quotaTotals: boolean
  /**
   * Emulator only: it runs one read-write transaction at a time, and (before 1.5.38) the
   * client's one multiplexed session holds one transaction: a second one begun on it invalidates
   * the first ("Invalid transaction ID"). This process then runs its writes one at a time.
   */
  serialiseWrites: boolean
  /** Most transactions in flight (database_pool_max_size), and the longest wait for one. */
  maxTransactions: number
  timeoutMs: number
}

/**
 * Sync storage on Cloud Spanner, laid out as syncstorage-rs lays it out (spanner.md): one
 * read-only transaction per read and one read-write transaction per write, the write timestamp
 * read from Spanner's clock once, rows keyed by the token's fxa_uid and fxa_kid.
 */
export class SpannerStorage implements StorageBackend {
  readonly engine = 'spanner'
  readonly limits = SPANNER_LIMITS
  readonly collections = new CollectionIds()
  /** Names of collection ids, for the per-collection views; filled from committed rows only. */
  private readonly names = new Map<number, string>([...STANDARD_COLLECTIONS].map(([name, id]) => [id, name]))
  private readonly gate: ConnectionGate
  private readonly writeQueue: ConnectionGate | undefined

  constructor(
    private readonly spanner: Spanner,
    private readonly database: Database,
    private readonly options: SpannerStorageOptions,
  ) {
    this.gate = new ConnectionGate(options.maxTransactions, options.timeoutMs)
    this.writeQueue = options.serialiseWrites ? new ConnectionGate(1, options.timeoutMs) : undefined
  }

  async withTransaction<T>(request: TransactionRequest, work: (tx: StorageTx) => Promise<T>): Promise<T> {
    const queue = request.mode === 'read' ? undefined : this.writeQueue
    try {
      await queue?.acquire()
      await this.gate.acquire()
    } catch (error) {
      queue?.release()
      throw error
    }
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.run(request, work)
        } catch (error) {
          // Aborted before `work` started (while opening: nothing of the caller's was done):
          // begun again, a few times, as a client would after a 503.
          if (!(error instanceof AbortedWhileOpening) || attempt >= OPEN_ATTEMPTS) throw error instanceof AbortedWhileOpening ? error.cause : error
          await Bun.sleep(10 * attempt)
        }
      }
    } catch (error) {
      throw translate(error)
    } finally {
      this.gate.release()
      queue?.release()
    }
  }

  /**
   * One attempt: a read-write transaction from getTransaction(), which, unlike
   * runTransactionAsync(), does not run the work again when Spanner aborts it; the abort
   * reaches the client as 503 + Retry-After, as syncstorage-rs answers it.
   */
  private async run<T>(request: TransactionRequest, work: (tx: StorageTx) => Promise<T>): Promise<T> {
    const readOnly = request.mode === 'read'
    const transaction = readOnly ? undefined : (await this.database.getTransaction())[0]
    const tx = new SpannerTx(new Statements(this.database, transaction), request.user, this)
    let committed = false
    try {
      try {
        if (readOnly) await tx.openForRead(request.collection)
        else if (request.mode === 'write') await tx.openForWrite(request.collection)
        else await tx.openForWipe()
      } catch (error) {
        throw grpcCode(error) === GrpcCode.ABORTED ? new AbortedWhileOpening(error) : error
      }
      const result = await work(tx)
      if (this.options.quotaTotals && request.mode === 'write') await tx.refreshTotals()
      await transaction?.commit({ gaxOptions: RETRIES })
      committed = true
      this.collections.committed(tx.resolved)
      return result
    } finally {
      if (transaction !== undefined) {
        if (!committed) await transaction.rollback(RETRIES).catch(() => {})
        transaction.end()
      }
    }
  }

  knownName(id: number): string | undefined {
    return this.names.get(id)
  }

  rememberName(id: number, name: string): void {
    this.names.set(id, name)
  }

  /** Ids the storage issues: 32 hex digits; any UUID spelling is accepted, as the reference does. */
  isWellFormedBatchId(batchId: string): boolean {
    return /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/i.test(batchId)
  }

  /** Refuses a database without the columns this server reads and writes (prepare-spanner adds them). */
  async requireSchema(): Promise<void> {
    const rows = await new Statements(this.database).query(
      "SELECT CONCAT(table_name, '.', column_name) FROM information_schema.columns WHERE table_schema = ''",
    )
    const present = new Set(rows.map((row) => row[0]))
    const missing = REQUIRED_COLUMNS.filter((column) => !present.has(column))
    if (missing.length > 0) {
      throw new Error(`the database lacks ${missing.join(', ')} of the Sync storage schema: run \`syncserver prepare-spanner\``)
    }
  }

  userTimestamps(user: StorageUser): Promise<UserTimestamps> {
    return userTimestampsInTransaction(this, user)
  }

  /** The heartbeat of syncstorage-rs. */
  async check(): Promise<boolean> {
    try {
      const rows = await new Statements(this.database).query('SELECT CURRENT_TIMESTAMP()')
      return rows.length === 1
    } catch (error) {
      throw translate(error)
    }
  }

  /** One multiplexed session carries every transaction: the pool is the limit on transactions. */
  poolStatus(): PoolStatus {
    return { active: this.gate.inUse, idle: this.options.maxTransactions - this.gate.inUse, max: this.options.maxTransactions }
  }

  async close(): Promise<void> {
    await this.gate.drained(5_000)
    await this.database.close()
    await this.spanner.close()
  }
}

/** A few retries of an unreachable Spanner (the library's default is minutes of them), then 503. */
const RETRIES = { maxRetries: 2 }

/** Attempts at opening a transaction that Spanner aborts before the caller's work began. */
const OPEN_ATTEMPTS = 3

class AbortedWhileOpening extends Error {
  constructor(override readonly cause: unknown) {
    super('aborted while opening')
  }
}

/** Aborted transactions are write conflicts (503 + Retry-After), as in syncstorage-rs. */
function translate(error: unknown): unknown {
  switch (grpcCode(error)) {
    case GrpcCode.ABORTED:
      return new SyncError('conflict', `Spanner aborted the transaction: ${grpcDetails(error)}`, { cause: error })
    case GrpcCode.UNAVAILABLE:
    case GrpcCode.DEADLINE_EXCEEDED:
      return new SyncError('unavailable', `Spanner unavailable: ${grpcDetails(error)}`, { cause: error })
    default:
      return error
  }
}

class SpannerTx implements StorageTx {
  timestamp: Millis = nowMillis()
  private collectionId: number | undefined
  private collectionModified: Millis = 0
  /** The write's collection, cached by the storage once this transaction commits. */
  resolved: ResolvedCollection | undefined

  constructor(
    private readonly statements: Statements,
    private readonly user: StorageUser,
    private readonly storage: Pick<SpannerStorage, 'collections' | 'knownName' | 'rememberName'>,
  ) {}

  private params(extra: Record<string, Param> = {}): Record<string, Param> {
    const params: Record<string, Param> = { fxa_uid: string(this.user.fxaUid), fxa_kid: string(this.user.fxaKid), now: timestamp(this.timestamp) }
    if (this.collectionId !== undefined) params.collection = int(this.collectionId)
    return Object.assign(params, extra)
  }

  private requireCollection(): void {
    if (this.collectionId === undefined) throw new Error('write without a collection')
  }

  private get writeCollection(): number {
    if (this.collectionId === undefined) throw new Error('write without a collection')
    return this.collectionId
  }

  private async scalar(sql: string, params: Record<string, Param>): Promise<Cell> {
    const [row] = await this.statements.query(sql, params)
    return row?.[0] ?? null
  }

  async openForRead(name: string | undefined): Promise<void> {
    if (name === undefined) return
    this.collectionId = await this.storage.collections.find(name, this.collectionRows)
    if (this.collectionId !== undefined) this.collectionModified = await this.readCollectionModified()
  }

  /** Two concurrent creators of one name both write the collection's row: Spanner aborts one. */
  private readonly collectionRows = collectionRows(
    async (name) => {
      const cell = await this.scalar('SELECT collection_id FROM collections WHERE name = @name', { name: string(name) })
      return cell === null ? undefined : Number(cell)
    },
    async (name) => {
      const highest = Number(await this.scalar('SELECT COALESCE(MAX(collection_id), 0) FROM collections', {}))
      const id = Math.max(FIRST_CUSTOM_COLLECTION_ID, highest + 1)
      await this.statements.update('INSERT INTO collections (collection_id, name) VALUES (@id, @name)', { id: int(id), name: string(name) })
      return id
    },
  )

  private async readCollectionModified(): Promise<Millis> {
    return toMillis(await this.scalar(`SELECT UNIX_MILLIS(modified) FROM user_collections WHERE ${USER_COLLECTION} AND modified > ${PLACEHOLDER}`, this.params()))
  }

  /**
   * Resolves (or creates) the collection, then reads Spanner's clock and the collection's
   * last-modified in one statement; that read also locks the collection row for this transaction.
   */
  async openForWrite(name: string): Promise<void> {
    this.resolved = await this.storage.collections.resolve(name, this.collectionRows)
    this.collectionId = this.resolved.id
    const [row] = await this.statements.query(
      `SELECT UNIX_MICROS(CURRENT_TIMESTAMP()),
              (SELECT UNIX_MILLIS(modified) FROM user_collections WHERE ${USER_COLLECTION} AND modified > ${PLACEHOLDER})`,
      this.params(),
    )
    const spannerNow = truncateToTick(Math.floor(Number(row?.[0]) / 1000))
    this.collectionModified = toMillis(row?.[1] ?? null)
    this.timestamp = await writeTimestampAfter(this.collectionModified, () => Math.max(spannerNow, nowMillis()))
  }

  async openForWipe(): Promise<void> {
    const now = await this.scalar('SELECT UNIX_MICROS(CURRENT_TIMESTAMP())', {})
    this.timestamp = truncateToTick(Math.floor(Number(now) / 1000))
  }

  async storageTimestamp(): Promise<Millis> {
    return toMillis(await this.scalar(`SELECT UNIX_MILLIS(MAX(modified)) FROM user_collections WHERE ${USER} AND modified > ${PLACEHOLDER}`, this.params()))
  }

  async collectionTimestamp(): Promise<Millis> {
    return this.collectionModified
  }

  async bsoTimestamp(id: string): Promise<Millis> {
    if (this.collectionId === undefined) return 0
    return toMillis(await this.scalar(`SELECT UNIX_MILLIS(modified) FROM bsos WHERE ${USER_COLLECTION} AND bso_id = @id`, this.params({ id: string(id) })))
  }

  async collectionTimestamps(): Promise<ReadonlyMap<string, Millis>> {
    return this.perCollection(
      `SELECT collection_id, UNIX_MILLIS(modified) FROM user_collections WHERE ${USER} AND collection_id <> ${TOMBSTONE} AND modified > ${PLACEHOLDER}
        ORDER BY collection_id`,
    )
  }

  async collectionCounts(): Promise<Map<string, number>> {
    return this.perCollection(`SELECT collection_id, COUNT(*) FROM bsos WHERE ${USER} AND ${LIVE} GROUP BY collection_id ORDER BY collection_id`)
  }

  async collectionUsage(): Promise<Map<string, number>> {
    return this.perCollection(`SELECT collection_id, SUM(BYTE_LENGTH(payload)) FROM bsos WHERE ${USER} AND ${LIVE} GROUP BY collection_id ORDER BY collection_id`)
  }

  /**
   * Per collection id, named; names of custom collections not seen before are read once. In id
   * order, as the SQL engines answer (the emulator shuffles unordered results).
   */
  private async perCollection(sql: string): Promise<Map<string, number>> {
    const rows = await this.statements.query(sql, this.params())
    const unknown = rows.map((row) => Number(row[0])).filter((id) => this.storage.knownName(id) === undefined)
    if (unknown.length > 0) {
      const named = await this.statements.query('SELECT collection_id, name FROM collections WHERE collection_id IN UNNEST(@ids)', {
        ids: ints(unknown),
      })
      for (const [id, name] of named) this.storage.rememberName(Number(id), name as string)
    }
    const result = new Map<string, number>()
    for (const [id, value] of rows) {
      const name = this.storage.knownName(Number(id))
      if (name !== undefined) result.set(name, Number(value ?? 0))
    }
    return result
  }

  async storageUsage(): Promise<number> {
    return Number(await this.scalar(`SELECT COALESCE(SUM(BYTE_LENGTH(payload)), 0) FROM bsos WHERE ${USER} AND ${LIVE}`, this.params()))
  }

  private async list(query: BsoQuery, columns: string): Promise<Cell[][]> {
    if (this.collectionId === undefined || query.ids?.length === 0) return []
    const params = this.params({ skip: int(query.skip) })
    const where = [USER_COLLECTION, LIVE]
    if (query.ids !== undefined) {
      where.push('bso_id IN UNNEST(@ids)')
      params.ids = strings(query.ids)
    }
    for (const [field, operator] of MODIFIED_BOUNDS) {
      const bound = query[field]
      if (bound === undefined) continue
      where.push(`modified ${operator} @${field}`)
      params[field] = timestamp(bound)
    }
    if (query.limit !== undefined) params.limit = int(query.limit)
    const limit = query.limit === undefined ? NO_LIMIT : '@limit'
    return this.statements.query(`SELECT ${columns} FROM bsos WHERE ${where.join(' AND ')} ORDER BY ${orderBy(query.sort)} LIMIT ${limit} OFFSET @skip`, params)
  }

  async getBsos(query: BsoQuery): Promise<Bso[]> {
    return (await this.list(query, 'bso_id, UNIX_MILLIS(modified), payload, sortindex')).map(toBso)
  }

  async getBsoIds(query: BsoQuery): Promise<string[]> {
    return (await this.list(query, 'bso_id')).map((row) => row[0] as string)
  }

  async getBso(id: string): Promise<Bso | null> {
    if (this.collectionId === undefined) return null
    const [row] = await this.statements.query(
      `SELECT bso_id, UNIX_MILLIS(modified), payload, sortindex FROM bsos WHERE ${USER_COLLECTION} AND bso_id = @id AND ${LIVE}`,
      this.params({ id: string(id) }),
    )
    return row === undefined ? null : toBso(row)
  }

  /** Moves a collection's last-modified to T, creating its row (parent of its records) if needed. */
  private async touch(collection: number): Promise<void> {
    await this.statements.update(TOUCH, this.params({ collection: int(collection) }))
    if (collection === this.collectionId) this.collectionModified = this.timestamp
  }

  async putBsos(writes: readonly BsoWrite[]): Promise<void> {
    const collection = this.writeCollection
    await this.touch(collection)
    const merged = mergeWrites(writes)
    if (merged.length === 0) return
    const stored = await this.storedRows('bsos', [], merged, ['sortindex', 'payload', 'payload_link', 'modified', 'expiry'])
    const defaultExpiry = recordExpiry(this.timestamp, undefined)
    const rows = merged.map((write) => {
      const found = stored.get(write.id)
      const [sortindex, payload, payloadLink, modified, expiry] = found ?? []
      const changed = write.payload !== undefined || write.sortindex !== undefined || found === undefined
      return {
        id: write.id,
        sortindex: write.sortindex ?? sortindex,
        payload: write.payload ?? payload ?? '',
        payload_link: write.payload === undefined ? payloadLink : null,
        modified: changed ? this.timestamp : modified,
        expiry: write.ttl === undefined ? (expiry ?? defaultExpiry) : recordExpiry(this.timestamp, write.ttl),
      }
    })
    const fields = { id: 'string', sortindex: 'int', payload: 'string', payload_link: 'string', modified: 'timestamp', expiry: 'timestamp' } as const
    await this.statements.update(UPSERT_BSOS, this.params({ rows: structs(rows, fields) }))
  }

  /**
   * The stored columns of the rows these writes name, by id: keyed by the user, the collection,
   * `keyPrefix` (the batch of a staged row) and the id.
   */
  private async storedRows(table: 'bsos' | 'batch_bsos', keyPrefix: readonly string[], writes: readonly BsoWrite[], columns: readonly string[]): Promise<Map<string, Cell[]>> {
    const key = [this.user.fxaUid, this.user.fxaKid, String(this.writeCollection), ...keyPrefix]
    const idColumn = table === 'bsos' ? 'bso_id' : 'batch_bso_id'
    const rows = await this.statements.readKeys(table, writes.map((write) => [...key, write.id]), [idColumn, ...columns])
    return new Map(rows.map(([id, ...values]) => [id as string, values]))
  }

  async deleteBso(id: string): Promise<boolean> {
    const deleted = await this.statements.update(`DELETE FROM bsos WHERE ${USER_COLLECTION} AND bso_id = @id AND ${LIVE}`, this.params({ id: string(id) }))
    if (deleted === 0) return false
    await this.touch(this.writeCollection)
    return true
  }

  async deleteBsos(ids: readonly string[]): Promise<void> {
    const collection = this.writeCollection
    if (ids.length > 0) await this.statements.update(`DELETE FROM bsos WHERE ${USER_COLLECTION} AND bso_id IN UNNEST(@ids)`, this.params({ ids: strings(ids) }))
    await this.touch(collection)
  }

  /** The row goes with its records and batches (ON DELETE CASCADE); the tombstone moves when something was there. */
  async deleteCollection(): Promise<void> {
    this.requireCollection()
    await this.statements.update(`DELETE FROM user_collections WHERE ${USER_COLLECTION}`, this.params())
    if (this.collectionModified > 0) await this.touch(TOMBSTONE)
    this.collectionModified = 0
  }

  async deleteStorage(): Promise<void> {
    await this.statements.update(`DELETE FROM user_collections WHERE ${USER}`, this.params())
    this.collectionModified = 0
  }

  async createBatch(): Promise<string> {
    this.requireCollection()
    await this.statements.update(
      `INSERT INTO user_collections (fxa_uid, fxa_kid, collection_id, modified, count, total_bytes)
       SELECT @fxa_uid, @fxa_kid, @collection, ${PLACEHOLDER}, NULL, NULL FROM UNNEST([1])
        WHERE NOT EXISTS (SELECT 1 FROM user_collections WHERE ${USER_COLLECTION})`,
      this.params(),
    )
    const batch = randomUUID().replaceAll('-', '')
    await this.statements.update(
      'INSERT INTO batches (fxa_uid, fxa_kid, collection_id, batch_id, expiry) VALUES (@fxa_uid, @fxa_kid, @collection, @batch, @expiry)',
      this.params({ batch: string(batch), expiry: timestamp(batchExpiry(this.timestamp)) }),
    )
    return batch
  }

  async batchIsOpen(batchId: string): Promise<boolean> {
    this.requireCollection()
    const rows = await this.statements.query(`SELECT 1 FROM batches WHERE ${USER_COLLECTION} AND batch_id = @batch AND ${LIVE}`, this.params({ batch: string(batchId) }))
    return rows.length > 0
  }

  async appendToBatch(batchId: string, writes: readonly BsoWrite[]): Promise<void> {
    const merged = mergeWrites(writes)
    if (merged.length === 0) return
    const staged = await this.storedRows('batch_bsos', [batchId], merged, ['sortindex', 'payload', 'ttl', 'payload_link'])
    const rows = merged.map((write) => {
      const [sortindex, payload, ttl, payloadLink] = staged.get(write.id) ?? []
      return {
        id: write.id,
        sortindex: write.sortindex ?? sortindex,
        payload: write.payload ?? payload,
        ttl: write.ttl ?? ttl,
        payload_link: write.payload === undefined ? payloadLink : null,
      }
    })
    const fields = { id: 'string', sortindex: 'int', payload: 'string', ttl: 'int', payload_link: 'string' } as const
    await this.statements.update(UPSERT_STAGED, this.params({ batch: string(batchId), rows: structs(rows, fields) }))
  }

  async stagedBytes(batchId: string, excludingIds: readonly string[]): Promise<number> {
    return Number(
      await this.scalar(
        `SELECT COALESCE(SUM(BYTE_LENGTH(payload)), 0) FROM batch_bsos
          WHERE ${USER_COLLECTION} AND batch_id = @batch AND batch_bso_id NOT IN UNNEST(@excluding)`,
        this.params({ batch: string(batchId), excluding: strings(excludingIds) }),
      ),
    )
  }

  async commitBatch(batchId: string): Promise<void> {
    await this.touch(this.writeCollection)
    const params = this.params({
      batch: string(batchId),
      default_expiry: timestamp(recordExpiry(this.timestamp, undefined)),
      max_ttl: int(DEFAULT_TTL_MS / 1000),
    })
    await this.statements.update(COMMIT_BATCH, params)
    await this.statements.update(`DELETE FROM batches WHERE ${USER_COLLECTION} AND batch_id = @batch`, params)
  }

  /** Quota bookkeeping: the transaction collection's live bytes and count. */
  async refreshTotals(): Promise<void> {
    this.requireCollection()
    const live = `FROM bsos WHERE ${USER_COLLECTION} AND ${LIVE}`
    await this.statements.update(
      `UPDATE user_collections SET count = (SELECT COUNT(*) ${live}), total_bytes = (SELECT COALESCE(SUM(BYTE_LENGTH(payload)), 0) ${live})
        WHERE ${USER_COLLECTION}`,
      this.params(),
    )
  }

  async quotaUsage(): Promise<number> {
    return Number(await this.scalar(`SELECT COALESCE(SUM(total_bytes), 0) FROM user_collections WHERE ${USER}`, this.params()))
  }
}

function toBso(row: Cell[]): Bso {
  return {
    id: row[0] as string,
    modified: toMillis(row[1] ?? null),
    // A payload syncstorage-rs offloaded to Cloud Storage is not read from there: it reads as empty.
    payload: row[2] ?? '',
    sortindex: row[3] === null || row[3] === undefined ? null : Number(row[3]),
  }
}
