import { afterEach, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseSettings } from '../../config/load.ts'
import { SqliteConnection } from './connection.ts'

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
