import type { Database, Spanner } from '@google-cloud/spanner'
import { STANDARD_COLLECTIONS } from '../collection-ids.ts'
import type { StorageCopyEndpoint, StoredBso, StoredCollection } from '../copy-types.ts'
import { bsoOf, collectionOf } from '../copy-rows.ts'
import { backoffDelay } from '../retry.ts'
import type { Millis, StorageUser } from '../types.ts'
import { grpcCode, GrpcCode, openSpanner } from './client.ts'
import { parseSpannerUrl, type SpannerOptions } from './settings.ts'
import { Statements } from './storage.ts'
import { int, string, timestamp, type Cell, type Param } from './values.ts'

/**
 * Spanner rejects a commit of more than 80,000 mutations (each column written to a row counts
 * once, as does each row deleted) or 100 MB. Copy commits stay at a quarter of both, so
 * per-row overheads Spanner adds (key encoding, commit metadata) never matter.
 */
export const COMMIT_LIMITS = { mutations: 20_000, bytes: 25_000_000 }

/** Columns a copied record writes: every column of `bsos` (there is no secondary index to add to the count). */
const BSO_COLUMNS = ['fxa_uid', 'fxa_kid', 'collection_id', 'bso_id', 'sortindex', 'payload', 'payload_link', 'modified', 'expiry']
const COLLECTION_COLUMNS = ['fxa_uid', 'fxa_kid', 'collection_id', 'modified', 'count', 'total_bytes']

/** `modified` of a placeholder row: the parent of records whose collection is not stamped yet (spanner.md §4.2). */
const PLACEHOLDER_ISO = '0001-01-01T00:00:00Z'
const PLACEHOLDER = `TIMESTAMP '${PLACEHOLDER_ISO}'`
const FIRST_CUSTOM_COLLECTION_ID = 101
const USER = 'fxa_uid = @fxa_uid AND fxa_kid = @fxa_kid'

/** Attempts at a commit Spanner aborted (every copy commit is an idempotent upsert or delete). */
const COMMIT_ATTEMPTS = 5

/**
 * Splits rows into groups that each fit in one commit under `limits`, in order. A row larger
 * than the byte limit alone goes in a group of its own (Spanner then judges it).
 */
export function commitGroups<Row>(
  rows: readonly Row[],
  cost: (row: Row) => { mutations: number; bytes: number },
  limits: { mutations: number; bytes: number } = COMMIT_LIMITS,
): Row[][] {
  const groups: Row[][] = []
  let group: Row[] = []
  let mutations = 0
  let bytes = 0
  for (const row of rows) {
    const next = cost(row)
    if (group.length > 0 && (mutations + next.mutations > limits.mutations || bytes + next.bytes > limits.bytes)) {
      groups.push(group)
      group = []
      mutations = 0
      bytes = 0
    }
    group.push(row)
    mutations += next.mutations
    bytes += next.bytes
  }
  if (group.length > 0) groups.push(group)
  return groups
}

/** Mutations and bytes of one copied record. */
export const bsoCost = (row: StoredBso): { mutations: number; bytes: number } => ({
  mutations: BSO_COLUMNS.length,
  bytes: Buffer.byteLength(row.payload) + Buffer.byteLength(row.id) + 64,
})

/** A value in Spanner's wire form (INT64 and TIMESTAMP as strings), NULL as null. */
type Wire = string | null
const wire = (param: Param): Wire => param.value as Wire
const nullableInt = (value: number | null): Wire => (value === null ? null : wire(int(value)))

/** One write of the Mutation API: whole rows (columns in order), or the keys of the rows to delete. */
interface Mutation {
  op: 'insert' | 'upsert' | 'delete'
  table: string
  columns: readonly string[]
  rows: Wire[][]
}

/** A few retries of an unreachable Spanner, not the library's minutes of them. */
const RETRIES = { maxRetries: 2 }

/**
 * Bulk rows of a Spanner storage database, keyed by (fxa_uid, fxa_kid). Reads are strong
 * single-use snapshots through the backend's statements; writes go through the Mutation API,
 * one single-use read-write commit per group (no DML, so nothing depends on the emulator's
 * INSERT OR UPDATE, which NULLs unlisted columns before 1.5.43).
 */
export class SpannerCopyEndpoint implements StorageCopyEndpoint {
  readonly engine = 'spanner'
  readonly keying = 'fxa'
  /** The (user, collection) whose parent row putBsos last made sure of. */
  private parentKnown = ''

  private constructor(
    private readonly spanner: Spanner,
    private readonly database: Database,
  ) {}

  static async open(url: string, options: SpannerOptions): Promise<SpannerCopyEndpoint> {
    const location = parseSpannerUrl(url)
    const spanner = await openSpanner(location.project, options)
    return new SpannerCopyEndpoint(spanner, spanner.instance(location.instance).database(location.database))
  }

  private query(sql: string, params: Record<string, Param> = {}): Promise<Cell[][]> {
    return new Statements(this.database).query(sql, params)
  }

  /**
   * One single-use read-write commit of one mutation: a transaction that ran no statement
   * commits its mutations in one Commit call. Aborted commits are tried again.
   */
  private async commit({ op, table, columns, rows }: Mutation): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const [transaction] = await this.database.getTransaction()
      try {
        if (op === 'delete') transaction.deleteRows(table, rows as string[][])
        else transaction[op === 'insert' ? 'insert' : 'upsert'](table, rows.map((row) => Object.fromEntries(columns.map((column, at) => [column, row[at]]))))
        await transaction.commit({ gaxOptions: RETRIES })
        return
      } catch (error) {
        if (grpcCode(error) !== GrpcCode.ABORTED || attempt >= COMMIT_ATTEMPTS) throw error
        await Bun.sleep(backoffDelay(attempt, { baseMs: 20, maxMs: 1000 }))
      } finally {
        transaction.end()
      }
    }
  }

  private userParams(user: StorageUser, extra: Record<string, Param> = {}): Record<string, Param> {
    return { fxa_uid: string(user.fxaUid), fxa_kid: string(user.fxaKid), ...extra }
  }

  /** The leading key columns of every table but collections: (fxa_uid, fxa_kid, collection_id, …). */
  private key(user: StorageUser, collection: number, ...rest: Wire[]): Wire[] {
    return [user.fxaUid, user.fxaKid, wire(int(collection)), ...rest]
  }

  async hasStorage(): Promise<boolean> {
    return (await this.query('SELECT 1 FROM user_collections LIMIT 1')).length > 0
  }

  async countBsos(): Promise<number> {
    const [row] = await this.query('SELECT COUNT(*) FROM bsos')
    return Number(row?.[0] ?? 0)
  }

  /** The standard collections need no row on Spanner (spanner.md §1.3). */
  async collectionNames(): Promise<Map<number, string>> {
    const names = new Map([...STANDARD_COLLECTIONS].map(([name, id]) => [id, name]))
    for (const [id, name] of await this.query('SELECT collection_id, name FROM collections')) names.set(Number(id), name as string)
    return names
  }

  async ensureCollection(name: string): Promise<number> {
    const standard = STANDARD_COLLECTIONS.get(name)
    if (standard !== undefined) return standard
    const find = async () => (await this.query('SELECT collection_id FROM collections WHERE name = @name', { name: string(name) }))[0]?.[0]
    const found = await find()
    if (found != null) return Number(found)
    const [highest] = await this.query('SELECT COALESCE(MAX(collection_id), 0) FROM collections')
    const id = Math.max(FIRST_CUSTOM_COLLECTION_ID, Number(highest?.[0] ?? 0) + 1)
    try {
      await this.commit({ op: 'insert', table: 'collections', columns: ['collection_id', 'name'], rows: [[wire(int(id)), name]] })
      return id
    } catch (error) {
      // A server creating the same name meanwhile: its id is the one.
      const raced = await find()
      if (raced == null) throw error
      return Number(raced)
    }
  }

  async storageUsersAfter(after: StorageUser | null, limit: number): Promise<StorageUser[]> {
    const rows = await this.query(
      `SELECT DISTINCT fxa_uid, fxa_kid FROM user_collections WHERE fxa_uid > @fxa_uid OR (fxa_uid = @fxa_uid AND fxa_kid > @fxa_kid)
        ORDER BY fxa_uid, fxa_kid LIMIT @limit`,
      this.userParams(after ?? { uid: 0, fxaUid: '', fxaKid: '' }, { limit: int(limit) }),
    )
    return rows.map(([fxaUid, fxaKid]) => ({ uid: 0, fxaUid: fxaUid as string, fxaKid: fxaKid as string }))
  }

  async userCollections(user: StorageUser): Promise<StoredCollection[]> {
    const rows = await this.query(
      `SELECT collection_id, UNIX_MILLIS(modified), count, total_bytes FROM user_collections WHERE ${USER} AND modified > ${PLACEHOLDER}
        ORDER BY collection_id`,
      this.userParams(user),
    )
    return rows.map(([collection, modified, count, totalBytes]) => collectionOf({ collection, modified, count, total_bytes: totalBytes }))
  }

  async bsosAfter(user: StorageUser, collection: number, afterId: string | null, limit: number, newerThan: Millis): Promise<StoredBso[]> {
    const rows = await this.query(
      `SELECT bso_id, sortindex, payload, UNIX_MILLIS(modified), UNIX_MILLIS(expiry) FROM bsos
        WHERE ${USER} AND collection_id = @collection AND bso_id > @after AND modified > @newer ORDER BY bso_id LIMIT @limit`,
      this.userParams(user, { collection: int(collection), after: string(afterId ?? ''), newer: timestamp(newerThan), limit: int(limit) }),
    )
    // A payload offloaded to Cloud Storage by syncstorage-rs (payload NULL, payload_link set) is not fetched: it copies as empty.
    return rows.map(([id, sortindex, payload, modified, expiry]) => bsoOf({ id, sortindex, modified, expiry }, payload ?? ''))
  }

  async bsoIdsAfter(user: StorageUser, collection: number, afterId: string | null, limit: number): Promise<string[]> {
    const rows = await this.query(
      `SELECT bso_id FROM bsos WHERE ${USER} AND collection_id = @collection AND bso_id > @after ORDER BY bso_id LIMIT @limit`,
      this.userParams(user, { collection: int(collection), after: string(afterId ?? ''), limit: int(limit) }),
    )
    return rows.map(([id]) => id as string)
  }

  /** Records need their collection's row (interleaved): a placeholder stands in until putCollection stamps it. */
  private async ensureParent(user: StorageUser, collection: number): Promise<void> {
    const known = JSON.stringify([user.fxaUid, user.fxaKid, collection])
    if (this.parentKnown === known) return
    const exists = await this.query(`SELECT 1 FROM user_collections WHERE ${USER} AND collection_id = @collection`, this.userParams(user, { collection: int(collection) }))
    if (exists.length === 0) {
      await this.commit({ op: 'insert', table: 'user_collections', columns: COLLECTION_COLUMNS, rows: [this.key(user, collection, PLACEHOLDER_ISO, null, null)] })
    }
    this.parentKnown = known
  }

  async putBsos(user: StorageUser, collection: number, rows: readonly StoredBso[]): Promise<void> {
    if (rows.length === 0) return
    await this.ensureParent(user, collection)
    for (const group of commitGroups(rows, bsoCost)) {
      // payload_link NULL: a copied record always carries its payload.
      const values = group.map((row) =>
        this.key(user, collection, row.id, nullableInt(row.sortindex), row.payload, null, wire(timestamp(row.modified)), wire(timestamp(row.expiry))),
      )
      await this.commit({ op: 'upsert', table: 'bsos', columns: BSO_COLUMNS, rows: values })
    }
  }

  async deleteBsos(user: StorageUser, collection: number, ids: readonly string[]): Promise<void> {
    for (const group of commitGroups(ids, () => ({ mutations: 1, bytes: 0 }))) {
      await this.commit({ op: 'delete', table: 'bsos', columns: BSO_COLUMNS.slice(0, 4), rows: group.map((id) => this.key(user, collection, id)) })
    }
  }

  async putCollection(user: StorageUser, row: StoredCollection): Promise<void> {
    const values = this.key(user, row.collection, wire(timestamp(row.modified)), nullableInt(row.count), nullableInt(row.totalBytes))
    await this.commit({ op: 'upsert', table: 'user_collections', columns: COLLECTION_COLUMNS, rows: [values] })
  }

  /** The row's records and batches go with it (ON DELETE CASCADE). */
  async deleteCollection(user: StorageUser, collection: number): Promise<void> {
    if (this.parentKnown === JSON.stringify([user.fxaUid, user.fxaKid, collection])) this.parentKnown = ''
    await this.commit({ op: 'delete', table: 'user_collections', columns: COLLECTION_COLUMNS.slice(0, 3), rows: [this.key(user, collection)] })
  }

  async close(): Promise<void> {
    await this.database.close()
    await this.spanner.close()
  }
}
