import postgres from 'postgres'
import { connectPostgres } from './client.ts'
import type { StorageUser } from '../types.ts'
import type { CopyEndpoint, StoredBso, StoredCollection, StoredNode, StoredService, StoredUser } from '../copy-types.ts'
import { accountEmailPattern, bsoOf, collectionOf, nodeOf, nodeValues, ofAccount, serviceOf, uidUser, userOf, userValues } from '../copy-rows.ts'
import { decodePayload, encodePayload, iso } from './statements.ts'

type Row = Record<string, unknown>
const num = (value: unknown): number => Number(value)
/** TIMESTAMPTZ read back as integer milliseconds, exact for stored values. */
const ms = (column: string) => `(extract(epoch from ${column}) * 1000)::int8`
/** 64-bit columns as text: exact, never a lossy number. */
const USER_COLUMNS = 'uid, service, email, generation::text, client_state, created_at::text, replaced_at::text, nodeid, keys_changed_at::text'
/** The "pre-touch" placeholder of a collection row that exists only for its children (statements.ts). */
const PRE_TOUCH = `'0001-01-01T00:00:00Z'::timestamptz`

/** Bulk rows of a PostgreSQL database; multi-row writes go through unnest() arrays. */
export class PostgresCopyEndpoint implements CopyEndpoint {
  readonly engine = 'postgres'
  readonly keying = 'uid'
  private readonly sql: postgres.Sql

  constructor(url: string) {
    this.sql = connectPostgres(url, { max: 1, onnotice: () => {}, connection: { application_name: 'syncserver-copy' } })
  }

  private all(text: string, params: unknown[] = []): Promise<Row[]> {
    return this.sql.unsafe(text, params as never[]) as unknown as Promise<Row[]>
  }

  async hasStorage(): Promise<boolean> {
    return (await this.all('SELECT 1 FROM user_collections LIMIT 1')).length > 0
  }

  async hasUsers(): Promise<boolean> {
    return (await this.all('SELECT 1 FROM users LIMIT 1')).length > 0
  }

  async countBsos(): Promise<number> {
    const [row] = await this.all('SELECT count(*) AS n FROM bsos')
    return num(row?.n)
  }

  async services(): Promise<StoredService[]> {
    return (await this.all('SELECT id, service, pattern FROM services ORDER BY id')).map(serviceOf)
  }

  async nodes(): Promise<StoredNode[]> {
    return (await this.all('SELECT * FROM nodes ORDER BY id')).map(nodeOf)
  }

  async usersAfter(afterUid: number, limit: number): Promise<StoredUser[]> {
    return (await this.all(`SELECT ${USER_COLUMNS} FROM users WHERE uid > $1 ORDER BY uid LIMIT $2`, [afterUid, limit])).map(userOf)
  }

  async usersOfAccount(fxaUid: string): Promise<StoredUser[]> {
    const rows = await this.all(`SELECT ${USER_COLUMNS} FROM users WHERE email LIKE $1 ESCAPE '!' ORDER BY uid`, [accountEmailPattern(fxaUid)])
    return ofAccount(fxaUid, rows.map(userOf))
  }

  async deleteUsers(uids: readonly number[]): Promise<void> {
    if (uids.length > 0) await this.all('DELETE FROM users WHERE uid = ANY($1::int8[])', [uids])
  }

  /** Explicit ids went in: move the identity past them, or the server's next insert collides. */
  private async bumpIdentity(table: string, column: string): Promise<void> {
    await this.all(`SELECT setval(pg_get_serial_sequence('${table}', '${column}'), GREATEST((SELECT max(${column}) FROM ${table}), 1))`)
  }

  async putServices(rows: readonly StoredService[]): Promise<void> {
    await this.sql.begin(async (tx) => {
      for (const row of rows) {
        await tx.unsafe('DELETE FROM services WHERE service = $1 AND id <> $2', [row.service, row.id] as never[])
        await tx.unsafe(
          'INSERT INTO services (id, service, pattern) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET service = EXCLUDED.service, pattern = EXCLUDED.pattern',
          [row.id, row.service, row.pattern] as never[],
        )
      }
    })
    await this.bumpIdentity('services', 'id')
  }

  async putNodes(rows: readonly StoredNode[]): Promise<void> {
    await this.sql.begin(async (tx) => {
      for (const row of rows) {
        await tx.unsafe('DELETE FROM nodes WHERE service = $1 AND node = $2 AND id <> $3', [row.service, row.node, row.id] as never[])
        await tx.unsafe(
          `INSERT INTO nodes (id, service, node, available, current_load, capacity, downed, backoff) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (id) DO UPDATE SET service = EXCLUDED.service, node = EXCLUDED.node, available = EXCLUDED.available,
             current_load = EXCLUDED.current_load, capacity = EXCLUDED.capacity, downed = EXCLUDED.downed, backoff = EXCLUDED.backoff`,
          nodeValues(row) as never[],
        )
      }
    })
    await this.bumpIdentity('nodes', 'id')
  }

  async putUsers(rows: readonly StoredUser[]): Promise<void> {
    if (rows.length === 0) return
    const columns = rows.map(userValues)
    await this.all(
      `INSERT INTO users (uid, service, email, generation, client_state, created_at, replaced_at, nodeid, keys_changed_at)
       SELECT * FROM unnest($1::int8[], $2::int4[], $3::text[], $4::int8[], $5::text[], $6::int8[], $7::int8[], $8::int8[], $9::int8[])
       ON CONFLICT (uid) DO UPDATE SET service = EXCLUDED.service, email = EXCLUDED.email, generation = EXCLUDED.generation,
         client_state = EXCLUDED.client_state, created_at = EXCLUDED.created_at, replaced_at = EXCLUDED.replaced_at,
         nodeid = EXCLUDED.nodeid, keys_changed_at = EXCLUDED.keys_changed_at`,
      Array.from({ length: 9 }, (_, column) => columns.map((values) => values[column])),
    )
    await this.bumpIdentity('users', 'uid')
  }

  async collectionNames(): Promise<Map<number, string>> {
    return new Map((await this.all('SELECT collection_id, name FROM collections')).map((row) => [num(row.collection_id), row.name as string]))
  }

  async ensureCollection(name: string): Promise<number> {
    await this.all('INSERT INTO collections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [name])
    const [row] = await this.all('SELECT collection_id FROM collections WHERE name = $1', [name])
    return num(row?.collection_id)
  }

  async storageUsersAfter(after: StorageUser | null, limit: number): Promise<StorageUser[]> {
    const rows = await this.all('SELECT DISTINCT user_id FROM user_collections WHERE user_id > $1 ORDER BY user_id LIMIT $2', [after?.uid ?? 0, limit])
    return rows.map((row) => uidUser(num(row.user_id)))
  }

  async userCollections(user: StorageUser): Promise<StoredCollection[]> {
    const rows = await this.all(
      `SELECT collection_id AS collection, ${ms('modified')} AS modified, count, total_bytes FROM user_collections
        WHERE user_id = $1 AND modified <> ${PRE_TOUCH}`,
      [user.uid],
    )
    return rows.map(collectionOf)
  }

  async bsosAfter(user: StorageUser, collection: number, afterId: string | null, limit: number, newerThan: number): Promise<StoredBso[]> {
    const rows = await this.all(
      `SELECT bso_id AS id, sortindex, payload, ${ms('modified')} AS modified, ${ms('expiry')} AS expiry FROM bsos
        WHERE user_id = $1 AND collection_id = $2 AND bso_id > $3 AND modified > $4 ORDER BY bso_id LIMIT $5`,
      [user.uid, collection, afterId ?? '', iso(newerThan), limit],
    )
    return rows.map((row) => bsoOf(row, decodePayload(row.payload as string)))
  }

  async bsoIdsAfter(user: StorageUser, collection: number, afterId: string | null, limit: number): Promise<string[]> {
    const rows = await this.all('SELECT bso_id FROM bsos WHERE user_id = $1 AND collection_id = $2 AND bso_id > $3 ORDER BY bso_id LIMIT $4', [
      user.uid,
      collection,
      afterId ?? '',
      limit,
    ])
    return rows.map((row) => row.bso_id as string)
  }

  async putBsos(user: StorageUser, collection: number, rows: readonly StoredBso[]): Promise<void> {
    // bsos references its collection row: a placeholder stands in until putCollection stamps it.
    await this.all(`INSERT INTO user_collections (user_id, collection_id, modified) VALUES ($1, $2, ${PRE_TOUCH}) ON CONFLICT DO NOTHING`, [
      user.uid,
      collection,
    ])
    await this.all(
      `INSERT INTO bsos (user_id, collection_id, bso_id, sortindex, payload, modified, expiry)
       SELECT $1, $2, t.* FROM unnest($3::text[], $4::int4[], $5::text[], $6::timestamptz[], $7::timestamptz[]) AS t
       ON CONFLICT (user_id, collection_id, bso_id) DO UPDATE SET sortindex = EXCLUDED.sortindex, payload = EXCLUDED.payload,
         modified = EXCLUDED.modified, expiry = EXCLUDED.expiry`,
      [
        user.uid,
        collection,
        rows.map((row) => row.id),
        rows.map((row) => row.sortindex),
        rows.map((row) => encodePayload(row.payload)),
        rows.map((row) => iso(row.modified)),
        rows.map((row) => iso(row.expiry)),
      ],
    )
  }

  async deleteBsos(user: StorageUser, collection: number, ids: readonly string[]): Promise<void> {
    await this.all('DELETE FROM bsos WHERE user_id = $1 AND collection_id = $2 AND bso_id = ANY($3::text[])', [user.uid, collection, ids])
  }

  async putCollection(user: StorageUser, row: StoredCollection): Promise<void> {
    await this.all(
      `INSERT INTO user_collections (user_id, collection_id, modified, count, total_bytes) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (user_id, collection_id) DO UPDATE SET modified = EXCLUDED.modified, count = EXCLUDED.count, total_bytes = EXCLUDED.total_bytes`,
      [user.uid, row.collection, iso(row.modified), row.count, row.totalBytes],
    )
  }

  async deleteCollection(user: StorageUser, collection: number): Promise<void> {
    // Records and batches go by cascade.
    await this.all('DELETE FROM user_collections WHERE user_id = $1 AND collection_id = $2', [user.uid, collection])
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 })
  }
}
