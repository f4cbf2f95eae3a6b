import { afterEach, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Database } from 'bun:sqlite'
import { SqliteConnection } from './connection.ts'
import { mappedWalIndexHeader, UserCollectionsCache, type UserCollections } from './user-collections-cache.ts'

const opened: { close(): void }[] = []
afterEach(() => {
  for (const handle of opened.splice(0).reverse()) handle.close()
})

const ROWS: UserCollections = { storageModified: 1, named: new Map([['bookmarks', 1]]) }

/** A cache on a fresh WAL file, counting how often it asks SQLite for data_version. */
function countingCache() {
  const path = join(mkdtempSync(join(tmpdir(), 'syncserver-ucc-')), 'sync.db')
  const connection = SqliteConnection.shared(path)
  opened.push(connection)
  connection.client.run('CREATE TABLE t (x)')
  const prepare = connection.client.prepare.bind(connection.client)
  const checks = { count: 0 }
  connection.client.prepare = ((sql: string) => {
    const statement = prepare(sql)
    const values = statement.values.bind(statement)
    statement.values = ((...args: []) => {
      checks.count++
      return values(...args)
    }) as typeof statement.values
    return statement
  }) as typeof connection.client.prepare
  const cache = UserCollectionsCache.of(connection)
  // A second connection stands in for another worker process on the same file.
  const other = new Database(path)
  opened.push(other)
  return { cache, connection, other, checks, path }
}

/** A counting cache holding user 1's rows, its version checked since: `settled` checks so far. */
function cacheHoldingUser1() {
  const fixture = countingCache()
  fixture.cache.get(1)
  fixture.cache.set(1, ROWS)
  expect(fixture.cache.get(1)).toBe(ROWS)
  return { ...fixture, settled: fixture.checks.count }
}

test('the wal-index header is read in SQLite’s own mapping, and moves with every commit', () => {
  const { connection, other, path } = countingCache()
  const header = mappedWalIndexHeader(path)
  expect(header?.[0]).toBe(3_007_000)
  const before = [...(header ?? [])]
  other.run('INSERT INTO t VALUES (1)')
  expect([...(header ?? [])]).not.toEqual(before)
  const afterOther = [...(header ?? [])]
  connection.client.run('INSERT INTO t VALUES (2)')
  expect([...(header ?? [])]).not.toEqual(afterOther)
})

test('there is no wal-index header to read for an in-memory or missing database', () => {
  expect(mappedWalIndexHeader(':memory:')).toBeNull()
  expect(mappedWalIndexHeader(join(tmpdir(), 'no-such-dir-syncserver', 'sync.db'))).toBeNull()
})

test('a hit outside a transaction with nothing committed since the last check asks SQLite nothing', () => {
  const { cache, checks, settled } = cacheHoldingUser1()
  for (let i = 0; i < 5; i++) expect(cache.get(1)).toBe(ROWS)
  expect(checks.count).toBe(settled)
})

test('another connection’s commit clears the entries at the next hit outside a transaction', () => {
  const { cache, other } = cacheHoldingUser1()
  other.run('INSERT INTO t VALUES (1)')
  expect(cache.get(1)).toBeUndefined()
})

test('the connection’s own commit costs one version check and keeps the other users’ entries', () => {
  const { cache, connection, checks, settled } = cacheHoldingUser1()
  connection.client.run('INSERT INTO t VALUES (1)')
  expect(cache.get(1)).toBe(ROWS)
  expect(cache.get(1)).toBe(ROWS)
  expect(checks.count).toBe(settled + 1)
})

test('inside a transaction every get checks the version, which pins the deferred snapshot', () => {
  const { cache, connection, other, checks, settled } = cacheHoldingUser1()
  connection.client.run('BEGIN')
  expect(cache.get(1)).toBe(ROWS)
  // A commit after the check is not in the snapshot the check began, so the entry is still right.
  other.run('INSERT INTO t VALUES (1)')
  expect(cache.get(1)).toBe(ROWS)
  expect(checks.count).toBe(settled + 2)
  connection.client.run('COMMIT')
  expect(cache.get(1)).toBeUndefined()
})
