import { Database } from 'bun:sqlite'
import type { StorageUser } from '../types.ts'
import type { CopyEndpoint, StoredBso, StoredCollection, StoredNode, StoredService, StoredUser } from '../copy-types.ts'
import { payloadBytes } from '../rules.ts'
import { accountEmailPattern, bsoOf, collectionOf, nodeOf, nodeValues, ofAccount, serviceOf, uidUser, userOf, userValues } from '../copy-rows.ts'

type Row = Record<string, unknown>
const num = (value: unknown): number => Number(value)

/** Bulk rows of a SQLite file (storage and tokenserver tables); 64-bit values read as bigint. */
export class SqliteCopyEndpoint implements CopyEndpoint {
  readonly engine = 'sqlite'
  readonly keying = 'uid'
  private readonly db: Database

  constructor(path: string) {
    this.db = new Database(path, { safeIntegers: true })
    this.db.run('PRAGMA busy_timeout = 10000')
    this.db.run('PRAGMA journal_mode = WAL')
    this.db.run('PRAGMA synchronous = NORMAL')
  }

  private all(text: string, ...params: unknown[]): Row[] {
    return this.db.query(text).all(...(params as never[])) as Row[]
  }

  private inTransaction(work: () => void): void {
    this.db.transaction(work).immediate()
  }

  async hasStorage(): Promise<boolean> {
    return this.all('SELECT 1 FROM user_collections LIMIT 1').length > 0
  }

  async hasUsers(): Promise<boolean> {
    return this.all('SELECT 1 FROM users LIMIT 1').length > 0
  }

  async countBsos(): Promise<number> {
    return num(this.all('SELECT count(*) AS n FROM bso')[0]?.n)
  }

  async services(): Promise<StoredService[]> {
    return this.all('SELECT id, service, pattern FROM services ORDER BY id').map(serviceOf)
  }

  async nodes(): Promise<StoredNode[]> {
    return this.all('SELECT * FROM nodes ORDER BY id').map(nodeOf)
  }

  async usersAfter(afterUid: number, limit: number): Promise<StoredUser[]> {
    return this.all('SELECT * FROM users WHERE uid > ? ORDER BY uid LIMIT ?', afterUid, limit).map(userOf)
  }

  async usersOfAccount(fxaUid: string): Promise<StoredUser[]> {
    return ofAccount(fxaUid, this.all("SELECT * FROM users WHERE email LIKE ? ESCAPE '!' ORDER BY uid", accountEmailPattern(fxaUid)).map(userOf))
  }

  async deleteUsers(uids: readonly number[]): Promise<void> {
    const remove = this.db.query('DELETE FROM users WHERE uid = ?')
    this.inTransaction(() => {
      for (const uid of uids) remove.run(uid)
    })
  }

  async putServices(rows: readonly StoredService[]): Promise<void> {
    const insert = this.db.query(
      'INSERT INTO services (id, service, pattern) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET service = excluded.service, pattern = excluded.pattern',
    )
    this.inTransaction(() => {
      // A freshly migrated target seeds sync-1.5 under its own id: the source's row wins.
      for (const row of rows) this.db.run('DELETE FROM services WHERE service = ? AND id <> ?', [row.service, row.id])
      for (const row of rows) insert.run(row.id, row.service, row.pattern)
    })
  }

  async putNodes(rows: readonly StoredNode[]): Promise<void> {
    const insert = this.db.query(
      `INSERT INTO nodes (id, service, node, available, current_load, capacity, downed, backoff) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET service = excluded.service, node = excluded.node, available = excluded.available,
         current_load = excluded.current_load, capacity = excluded.capacity, downed = excluded.downed, backoff = excluded.backoff`,
    )
    this.inTransaction(() => {
      for (const row of rows) this.db.run('DELETE FROM nodes WHERE service = ? AND node = ? AND id <> ?', [row.service, row.node, row.id])
      for (const row of rows) insert.run(...(nodeValues(row) as never[]))
    })
  }

  async putUsers(rows: readonly StoredUser[]): Promise<void> {
    const insert = this.db.query(
      `INSERT INTO users (uid, service, email, generation, client_state, created_at, replaced_at, nodeid, keys_changed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (uid) DO UPDATE SET service = excluded.service, email = excluded.email, generation = excluded.generation,
         client_state = excluded.client_state, created_at = excluded.created_at, replaced_at = excluded.replaced_at,
         nodeid = excluded.nodeid, keys_changed_at = excluded.keys_changed_at`,
    )
    this.inTransaction(() => {
      for (const row of rows) insert.run(...(userValues(row) as never[]))
    })
  }

  async collectionNames(): Promise<Map<number, string>> {
    return new Map(this.all('SELECT id, name FROM collections').map((row) => [num(row.id), row.name as string]))
  }

  async ensureCollection(name: string): Promise<number> {
    this.db.run('INSERT INTO collections (name) VALUES (?) ON CONFLICT (name) DO NOTHING', [name])
    return num(this.all('SELECT id FROM collections WHERE name = ?', name)[0]?.id)
  }

  async storageUsersAfter(after: StorageUser | null, limit: number): Promise<StorageUser[]> {
    return this.all('SELECT DISTINCT userid FROM user_collections WHERE userid > ? ORDER BY userid LIMIT ?', after?.uid ?? 0, limit).map((row) =>
      uidUser(num(row.userid)),
    )
  }

  async userCollections(user: StorageUser): Promise<StoredCollection[]> {
    return this.all('SELECT collection, last_modified AS modified, count, total_bytes FROM user_collections WHERE userid = ?', user.uid).map(collectionOf)
  }

  async bsosAfter(user: StorageUser, collection: number, afterId: string | null, limit: number, newerThan: number): Promise<StoredBso[]> {
    return this.all(
      `SELECT id, sortindex, payload, modified, ttl AS expiry FROM bso
        WHERE userid = ? AND collection = ? AND id > ? AND modified > ? ORDER BY id LIMIT ?`,
      user.uid,
      collection,
      afterId ?? '',
      newerThan,
      limit,
    ).map((row) => bsoOf(row))
  }

  async bsoIdsAfter(user: StorageUser, collection: number, afterId: string | null, limit: number): Promise<string[]> {
    return this.all('SELECT id FROM bso WHERE userid = ? AND collection = ? AND id > ? ORDER BY id LIMIT ?', user.uid, collection, afterId ?? '', limit).map(
      (row) => row.id as string,
    )
  }

  async putBsos(user: StorageUser, collection: number, rows: readonly StoredBso[]): Promise<void> {
    const insert = this.db.query(
      `INSERT INTO bso (userid, collection, id, sortindex, payload, payload_size, modified, ttl) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (userid, collection, id) DO UPDATE SET sortindex = excluded.sortindex, payload = excluded.payload,
         payload_size = excluded.payload_size, modified = excluded.modified, ttl = excluded.ttl`,
    )
    this.inTransaction(() => {
      for (const row of rows) insert.run(user.uid, collection, row.id, row.sortindex, row.payload, payloadBytes(row.payload), row.modified, row.expiry)
    })
  }

  async deleteBsos(user: StorageUser, collection: number, ids: readonly string[]): Promise<void> {
    const remove = this.db.query('DELETE FROM bso WHERE userid = ? AND collection = ? AND id = ?')
    this.inTransaction(() => {
      for (const id of ids) remove.run(user.uid, collection, id)
    })
  }

  async putCollection(user: StorageUser, row: StoredCollection): Promise<void> {
    this.db.run(
      `INSERT INTO user_collections (userid, collection, last_modified, count, total_bytes) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (userid, collection) DO UPDATE SET last_modified = excluded.last_modified, count = excluded.count, total_bytes = excluded.total_bytes`,
      [user.uid, row.collection, row.modified, row.count, row.totalBytes],
    )
  }

  async deleteCollection(user: StorageUser, collection: number): Promise<void> {
    this.inTransaction(() => {
      this.db.run('DELETE FROM bso WHERE userid = ? AND collection = ?', [user.uid, collection])
      this.db.run('DELETE FROM user_collections WHERE userid = ? AND collection = ?', [user.uid, collection])
    })
  }

  async close(): Promise<void> {
    this.db.close()
  }
}
