import { afterEach, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Database } from 'bun:sqlite'
import { parseSettings } from '../../config/load.ts'
import { embeddedMigrations } from '../migrations/embed.ts'
import { migrateOrRefuse } from '../migrations/require.ts'
import { SqliteConnection, sqliteMigrationTarget } from './connection.ts'

const PRAGMA_VALUES = { off: 0, normal: 1, full: 2, extra: 3 } as const

afterEach(() => {
  SqliteConnection.synchronous = 'full'
})

test('syncstorage.sqlite_synchronous defaults to full and is applied to the connection', () => {
  expect(parseSettings({}).syncstorage.sqlite_synchronous).toBe('full')
  expect(parseSettings({ syncstorage: { sqlite_synchronous: 'NORMAL' } }).syncstorage.sqlite_synchronous).toBe('normal')
  expect(() => parseSettings({ syncstorage: { sqlite_synchronous: 'fast' } })).toThrow('one of off, normal, full, extra')
  for (const level of ['off', 'normal', 'full', 'extra'] as const) {
    SqliteConnection.synchronous = level
    const connection = SqliteConnection.shared(join(mkdtempSync(join(tmpdir(), 'syncserver-sync-')), 'sync.db'))
    const row = connection.client.query('PRAGMA synchronous').get() as { synchronous: number }
    connection.close()
    expect(row.synchronous).toBe(PRAGMA_VALUES[level])
  }
})

const newDatabasePath = () => join(mkdtempSync(join(tmpdir(), 'syncserver-new-')), 'sync.db')
const tablesOf = (path: string): string[] => {
  const db = new Database(path, { readonly: true })
  try {
    return (db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((row) => row.name)
  } finally {
    db.close()
  }
}

test('work that throws before it returns a promise is a rejection, and leaves no place taken in the queue', async () => {
  const connection = SqliteConnection.shared(newDatabasePath())
  try {
    const throwsAtOnce = (() => {
      throw new Error('at once')
    }) as () => Promise<never>
    for (let i = 0; i < SqliteConnection.QUEUE_LIMIT; i++) await expect(connection.exclusive(throwsAtOnce)).rejects.toThrow('at once')
    expect(await connection.exclusive(async () => 'ran')).toBe('ran')
  } finally {
    connection.close()
  }
})

test('a new file becomes a WAL database at the configured durability, with its schema and migration bookkeeping', async () => {
  const path = newDatabasePath()
  const connection = SqliteConnection.shared(path)
  try {
    expect(connection.client.query('PRAGMA journal_mode').values()).toEqual([['wal']])
    expect(connection.client.query('PRAGMA synchronous').values()).toEqual([[PRAGMA_VALUES.full]])
    const migrations = embeddedMigrations('sqlite')
    await migrateOrRefuse('storage', sqliteMigrationTarget(connection), migrations, true)
    expect(tablesOf(path)).toContain('__drizzle_migrations')
    expect(tablesOf(path)).toContain('bso')
    expect(await sqliteMigrationTarget(connection).appliedHashes()).toEqual(new Set(migrations.map((migration) => migration.hash)))
  } finally {
    connection.close()
  }
})

test('a start that refuses to migrate a new database writes no table into it', async () => {
  const path = newDatabasePath()
  const connection = SqliteConnection.shared(path)
  try {
    await expect(migrateOrRefuse('storage', sqliteMigrationTarget(connection), embeddedMigrations('sqlite'), false)).rejects.toThrow('pending migration')
    expect(tablesOf(path)).toEqual([])
  } finally {
    connection.close()
  }
})
