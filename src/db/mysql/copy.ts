import mysql from 'mysql2/promise'
import { accountEmailPattern, bsoOf, collectionOf, nodeOf, nodeValues, ofAccount, serviceOf, uidUser, userOf, userValues } from '../copy-rows.ts'
import type { StorageUser } from '../types.ts'
import type { CopyEndpoint, StoredBso, StoredCollection, StoredNode, StoredService, StoredUser } from '../copy-types.ts'

type Row = Record<string, unknown>
const num = (value: unknown): number => Number(value)
/** Payloads live as their UTF-8 bytes in latin1 columns (schema.ts). */
const PAYLOAD_OUT = 'CONVERT(CAST(payload AS BINARY) USING utf8mb4) AS payload'

/** Bulk rows of a MySQL/MariaDB database; 64-bit values travel as strings, payloads as bytes. */
export class MysqlCopyEndpoint implements CopyEndpoint {
  readonly engine = 'mysql'
  readonly keying = 'uid'

  private constructor(private readonly connection: mysql.Connection) {}

  static async open(url: string): Promise<MysqlCopyEndpoint> {
    const connection = await mysql.createConnection({ uri: url, charset: 'utf8mb4', supportBigNumbers: true, bigNumberStrings: true })
    return new MysqlCopyEndpoint(connection)
  }

  private async all(text: string, params: unknown[] = []): Promise<Row[]> {
    const [rows] = await this.connection.query(text, params)
    return rows as Row[]
  }

  private async inTransaction(work: () => Promise<void>): Promise<void> {
    await this.connection.beginTransaction()
    try {
      await work()
      await this.connection.commit()
    } catch (error) {
      await this.connection.rollback()
      throw error
    }
  }

  async hasStorage(): Promise<boolean> {
    return (await this.all('SELECT 1 FROM user_collections LIMIT 1')).length > 0
  }

  async hasUsers(): Promise<boolean> {
    return (await this.all('SELECT 1 FROM users LIMIT 1')).length > 0
  }

  async countBsos(): Promise<number> {
    const [row] = await this.all('SELECT count(*) AS n FROM bso')
    return num(row?.n)
  }

  async services(): Promise<StoredService[]> {
    return (await this.all('SELECT id, service, pattern FROM services ORDER BY id')).map(serviceOf)
  }

  async nodes(): Promise<StoredNode[]> {
    return (await this.all('SELECT * FROM nodes ORDER BY id')).map(nodeOf)
  }

  async usersAfter(afterUid: number, limit: number): Promise<StoredUser[]> {
    return (await this.all('SELECT * FROM users WHERE uid > ? ORDER BY uid LIMIT ?', [afterUid, limit])).map(userOf)
  }

  async usersOfAccount(fxaUid: string): Promise<StoredUser[]> {
    return ofAccount(fxaUid, (await this.all("SELECT * FROM users WHERE email LIKE ? ESCAPE '!' ORDER BY uid", [accountEmailPattern(fxaUid)])).map(userOf))
  }

  async deleteUsers(uids: readonly number[]): Promise<void> {
    if (uids.length > 0) await this.all('DELETE FROM users WHERE uid IN (?)', [uids])
  }

  async putServices(rows: readonly StoredService[]): Promise<void> {
    await this.inTransaction(async () => {
      for (const row of rows) {
        await this.all('DELETE FROM services WHERE service = ? AND id <> ?', [row.service, row.id])
        await this.all('INSERT INTO services (id, service, pattern) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE service = VALUES(service), pattern = VALUES(pattern)', [
          row.id,
          row.service,
          row.pattern,
        ])
      }
    })
  }

  async putNodes(rows: readonly StoredNode[]): Promise<void> {
    await this.inTransaction(async () => {
      for (const row of rows) {
        await this.all('DELETE FROM nodes WHERE service = ? AND node = ? AND id <> ?', [row.service, row.node, row.id])
        await this.all(
          `INSERT INTO nodes (id, service, node, available, current_load, capacity, downed, backoff) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON DUPLICATE KEY UPDATE service = VALUES(service), node = VALUES(node), available = VALUES(available),
             current_load = VALUES(current_load), capacity = VALUES(capacity), downed = VALUES(downed), backoff = VALUES(backoff)`,
          nodeValues(row),
        )
      }
    })
  }

  async putUsers(rows: readonly StoredUser[]): Promise<void> {
    if (rows.length === 0) return
    await this.all(
      `INSERT INTO users (uid, service, email, generation, client_state, created_at, replaced_at, nodeid, keys_changed_at) VALUES ?
       ON DUPLICATE KEY UPDATE service = VALUES(service), email = VALUES(email), generation = VALUES(generation),
         client_state = VALUES(client_state), created_at = VALUES(created_at), replaced_at = VALUES(replaced_at),
         nodeid = VALUES(nodeid), keys_changed_at = VALUES(keys_changed_at)`,
      [rows.map(userValues)],
    )
  }

  async collectionNames(): Promise<Map<number, string>> {
    return new Map((await this.all('SELECT id, name FROM collections')).map((row) => [num(row.id), row.name as string]))
  }

  async ensureCollection(name: string): Promise<number> {
    await this.all('INSERT IGNORE INTO collections (name) VALUES (?)', [name])
    const [row] = await this.all('SELECT id FROM collections WHERE name = ? AND CAST(name AS BINARY) = ?', [name, name])
    return num(row?.id)
  }

  async storageUsersAfter(after: StorageUser | null, limit: number): Promise<StorageUser[]> {
    return (await this.all('SELECT DISTINCT userid FROM user_collections WHERE userid > ? ORDER BY userid LIMIT ?', [after?.uid ?? 0, limit])).map((row) =>
      uidUser(num(row.userid)),
    )
  }

  async userCollections(user: StorageUser): Promise<StoredCollection[]> {
    const rows = await this.all(
      'SELECT collection, last_modified AS modified, count, total_bytes FROM user_collections WHERE userid = ? AND last_modified > 0',
      [user.uid],
    )
    return rows.map(collectionOf)
  }

  async bsosAfter(user: StorageUser, collection: number, afterId: string | null, limit: number, newerThan: number): Promise<StoredBso[]> {
    const rows = await this.all(
      `SELECT id, sortindex, ${PAYLOAD_OUT}, modified, ttl AS expiry FROM bso
        WHERE userid = ? AND collection = ? AND id > ? AND modified > ? ORDER BY id LIMIT ?`,
      [user.uid, collection, afterId ?? '', newerThan, limit],
    )
    return rows.map((row) => bsoOf(row))
  }

  async bsoIdsAfter(user: StorageUser, collection: number, afterId: string | null, limit: number): Promise<string[]> {
    const rows = await this.all('SELECT id FROM bso WHERE userid = ? AND collection = ? AND id > ? ORDER BY id LIMIT ?', [user.uid, collection, afterId ?? '', limit])
    return rows.map((row) => row.id as string)
  }

  async putBsos(user: StorageUser, collection: number, rows: readonly StoredBso[]): Promise<void> {
    if (rows.length === 0) return
    const values = rows.map((row) => {
      const bytes = Buffer.from(row.payload, 'utf8')
      return [user.uid, collection, row.id, row.sortindex, bytes, bytes.length, row.modified, row.expiry]
    })
    await this.all(
      `INSERT INTO bso (userid, collection, id, sortindex, payload, payload_size, modified, ttl) VALUES ?
       ON DUPLICATE KEY UPDATE sortindex = VALUES(sortindex), payload = VALUES(payload), payload_size = VALUES(payload_size),
         modified = VALUES(modified), ttl = VALUES(ttl)`,
      [values],
    )
  }

  async deleteBsos(user: StorageUser, collection: number, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    await this.all('DELETE FROM bso WHERE userid = ? AND collection = ? AND id IN (?)', [user.uid, collection, ids])
  }

  async putCollection(user: StorageUser, row: StoredCollection): Promise<void> {
    await this.all(
      `INSERT INTO user_collections (userid, collection, last_modified, count, total_bytes) VALUES (?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE last_modified = VALUES(last_modified), count = VALUES(count), total_bytes = VALUES(total_bytes)`,
      [user.uid, row.collection, row.modified, row.count, row.totalBytes],
    )
  }

  async deleteCollection(user: StorageUser, collection: number): Promise<void> {
    await this.inTransaction(async () => {
      await this.all('DELETE FROM bso WHERE userid = ? AND collection = ?', [user.uid, collection])
      await this.all('DELETE FROM user_collections WHERE userid = ? AND collection = ?', [user.uid, collection])
    })
  }

  async close(): Promise<void> {
    await this.connection.end()
  }
}
