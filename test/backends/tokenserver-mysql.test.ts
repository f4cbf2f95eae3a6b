import { describe, expect, test } from 'bun:test'
import mysql from 'mysql2/promise'
import { migrateTokenserverDb } from '../../src/db/open.ts'
import { MysqlPool } from '../../src/db/mysql/connection.ts'
import { MysqlTokenserver } from '../../src/db/mysql/tokenserver.ts'
import { backendNamed } from '../support/backends.ts'
import { tokenserverEngineSuite, type Tooling } from './tokenserver-engine.ts'

const backend = backendNamed('mysql')

async function connect(url: string): Promise<Tooling> {
  const connection = await mysql.createConnection({ uri: url, supportBigNumbers: true, bigNumberStrings: true })
  return {
    async query(text) {
      const [rows, fields] = await connection.query({ sql: text, rowsAsArray: true })
      return Array.isArray(rows) ? { columns: (fields ?? []).map((field) => field.name), rows: rows as unknown[][] } : { columns: [], rows: [] }
    },
    close: () => connection.end(),
  }
}

tokenserverEngineSuite({
  engine: 'mysql',
  backend,
  connect,
  columnTypes: {
    services: [
      ['id', 'int'],
      ['service', 'varchar'],
      ['pattern', 'varchar'],
    ],
    nodes: [
      ['id', 'bigint'],
      ['service', 'int'],
      ['node', 'varchar'],
      ['available', 'int'],
      ['current_load', 'int'],
      ['capacity', 'int'],
      ['downed', 'int'],
      ['backoff', 'int'],
    ],
    users: [
      ['uid', 'bigint'],
      ['service', 'int'],
      ['email', 'varchar'],
      ['generation', 'bigint'],
      ['client_state', 'varchar'],
      ['created_at', 'bigint'],
      ['replaced_at', 'bigint'],
      ['nodeid', 'bigint'],
      ['keys_changed_at', 'bigint'],
    ],
  },
  migrationsTable: '__drizzle_migrations',
  async killOtherConnections(tooling) {
    const { rows } = await tooling.query('SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()')
    for (const [id] of rows) await tooling.query(`KILL ${Number(id)}`)
    return rows.length
  },
  unreachable: () => new MysqlTokenserver(new MysqlPool('mysql://root@127.0.0.1:1/none', { poolMaxSize: 1, connectionTimeoutSeconds: 2 })),
})

describe.skipIf(backend === undefined)('tokenserver schema details on mysql', () => {
  test('keys, defaults, charset and the uid start are those of the reference', async () => {
    const url = await backend!.freshDatabaseUrl()
    await migrateTokenserverDb(url)
    const tooling = await connect(url)
    try {
      const { rows: keys } = await tooling.query(
        `SELECT table_name, index_name, non_unique, GROUP_CONCAT(column_name ORDER BY seq_in_index)
           FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name IN ('services', 'nodes', 'users')
          GROUP BY table_name, index_name, non_unique`,
      )
      expect(keys.map((row) => row.map(String)).sort((a, b) => (a.join() < b.join() ? -1 : 1))).toEqual([
        ['nodes', 'PRIMARY', '0', 'id'],
        ['nodes', 'unique_idx', '0', 'service,node'],
        ['services', 'PRIMARY', '0', 'id'],
        ['services', 'service', '0', 'service'],
        ['users', 'PRIMARY', '0', 'uid'],
        ['users', 'lookup_idx', '1', 'email,service,created_at'],
        ['users', 'node_idx', '1', 'nodeid'],
        ['users', 'replaced_at_idx', '1', 'service,replaced_at'],
      ])
      const { rows: defaults } = await tooling.query(
        `SELECT column_name FROM information_schema.columns
          WHERE table_schema = DATABASE() AND table_name = 'nodes' AND column_default IS NOT NULL`,
      )
      expect(defaults).toEqual([])
      const { rows: tables } = await tooling.query(
        `SELECT table_name, engine, table_collation FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'users'`,
      )
      expect(tables[0]?.[1]).toBe('InnoDB')
      expect(String(tables[0]?.[2])).toStartWith('utf8')
      expect(String(tables[0]?.[2])).not.toStartWith('utf8mb4')
      await tooling.query(
        `INSERT INTO users (service, email, generation, client_state, created_at, replaced_at, nodeid, keys_changed_at)
         VALUES (1, 'a@example.com', 0, '', 1, NULL, 1, NULL)`,
      )
      const { rows: uid } = await tooling.query('SELECT uid FROM users')
      expect(uid).toEqual([['4']])
    } finally {
      await tooling.close()
    }
  })
})
