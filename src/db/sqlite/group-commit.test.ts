import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SyncError } from '../../errors.ts'
import { openStorage } from '../open.ts'
import { isWriteFailure, writeHealth } from '../retry.ts'
import type { BsoQuery, StorageBackend, StorageTx, StorageUser } from '../types.ts'
import { SqliteConnection, type GroupMember } from './connection.ts'

// Grouping must not depend on how fast this machine runs the members; the time bound has its own test.
beforeEach(() => {
  SqliteConnection.maxGroupMs = Number.POSITIVE_INFINITY
})
afterEach(() => {
  SqliteConnection.maxGroupMs = 10
})

const newDatabasePath = () => join(mkdtempSync(join(tmpdir(), 'syncserver-group-')), 'sync.db')

/**
 * Group commit at the connection: what runs in one transaction, in what order, and what a
 * second connection to the file (another process) sees meanwhile. Writes started in one
 * synchronous stretch all queue behind the first, which is running: the group's candidates.
 */
describe('SQLite group commit: the connection', () => {
  let path: string
  let connection: SqliteConnection
  let otherProcess: Database
  const outcomes: string[] = []
  beforeEach(() => {
    path = newDatabasePath()
    connection = SqliteConnection.shared(path)
    connection.client.run('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)')
    otherProcess = new Database(path)
    outcomes.length = 0
  })
  afterEach(() => {
    otherProcess.close()
    connection.close()
  })

  const insert = (id: number, v: string | null = 'x') => connection.client.run('INSERT INTO t (id, v) VALUES (?, ?)', [id, v])
  const committedIds = () => otherProcess.query('SELECT id FROM t ORDER BY id').values().map(([id]) => id)
  const member = (name: string, run: () => Promise<unknown>): GroupMember<unknown> => ({
    run,
    ended: (outcome) => void outcomes.push(`${name} ${outcome}`),
  })
  /** Writes id `id`, or runs `work` when given, and records what it saw committed meanwhile. */
  const write = (id: number, seen: Record<number, unknown[]>, work?: () => Promise<unknown> | unknown) =>
    connection.write(
      member(`w${id}`, async () => {
        seen[id] = committedIds()
        return work === undefined ? insert(id) : work()
      }),
    )

  test('writes waiting behind a write run in its transaction and commit with it, in arrival order', async () => {
    const seen: Record<number, unknown[]> = {}
    const results = [
      write(1, seen),
      write(2, seen),
      write(3, seen),
    ]
    await Promise.all(results)
    // Without grouping, w2 would have begun after w1's commit and seen it from the other connection.
    expect(seen).toEqual({ 1: [], 2: [], 3: [] })
    expect(outcomes).toEqual(['w1 committed', 'w2 committed', 'w3 committed'])
    expect(committedIds()).toEqual([1, 2, 3])
  })

  test('a write that reaches the queue only in the next turn of the event loop (a request read meanwhile) still joins', async () => {
    const seen: Record<number, unknown[]> = {}
    const { promise: second, resolve } = Promise.withResolvers<Promise<unknown>>()
    const first = write(1, seen, () => {
      insert(1)
      setImmediate(() => resolve(write(2, seen)))
    })
    await Promise.all([first, await second])
    expect(seen).toEqual({ 1: [], 2: [] })
    expect(committedIds()).toEqual([1, 2])
  })

  test("a member whose work throws is rolled back to its savepoint and rejected alone; the others commit", async () => {
    const seen: Record<number, unknown[]> = {}
    const results = [
      write(1, seen),
      write(2, seen, () => {
        insert(2)
        throw new SyncError('preconditionFailed', 'modified since')
      }),
      write(3, seen, () => {
        insert(3)
        insert(30, null) // NOT NULL: an error of SQLite itself, after a statement that succeeded
      }),
      write(4, seen),
    ]
    const settled = await Promise.allSettled(results)
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled'])
    expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ kind: 'preconditionFailed' })
    expect(String((settled[2] as PromiseRejectedResult).reason)).toContain('NOT NULL')
    expect(outcomes).toEqual(['w1 committed', 'w2 failed', 'w3 failed', 'w4 committed'])
    expect(seen[4]).toEqual([])
    expect(committedIds()).toEqual([1, 4])
  })

  test('a read next in line makes the open group commit before it runs; the write after it starts a new transaction', async () => {
    const seen: Record<number, unknown[]> = {}
    const order: string[] = []
    const results = [
      write(1, seen),
      write(2, seen),
      connection.exclusive(async () => {
        order.push(`read: in transaction ${connection.client.inTransaction}, committed ${committedIds().join(',')}`)
      }),
      write(3, seen),
    ]
    await Promise.all(results)
    expect(order).toEqual(['read: in transaction false, committed 1,2'])
    expect(seen[3]).toEqual([1, 2])
    expect(committedIds()).toEqual([1, 2, 3])
  })

  test(`a group takes at most ${SqliteConnection.MAX_GROUP_MEMBERS} members; the next write begins the next group`, async () => {
    const seen: Record<number, unknown[]> = {}
    const results = [
      write(1, seen),
    ]
    const count = SqliteConnection.MAX_GROUP_MEMBERS + 2
    for (let id = 2; id <= count; id++) results.push(write(id, seen))
    await Promise.all(results)
    const firstGroup = Array.from({ length: SqliteConnection.MAX_GROUP_MEMBERS }, (_, index) => index + 1)
    expect(seen[SqliteConnection.MAX_GROUP_MEMBERS]).toEqual([])
    expect(seen[SqliteConnection.MAX_GROUP_MEMBERS + 1]).toEqual(firstGroup)
    expect(seen[count]).toEqual(firstGroup)
  })

  test('a group open longer than maxGroupMs takes no more members', async () => {
    SqliteConnection.maxGroupMs = 20
    const seen: Record<number, unknown[]> = {}
    const results = [
      write(1, seen, async () => {
        insert(1)
        await Bun.sleep(30)
      }),
      write(2, seen),
      write(3, seen),
    ]
    await Promise.all(results)
    expect(seen).toEqual({ 1: [], 2: [1], 3: [1] })
  })

  test('a failed COMMIT rejects every member with its error and keeps none of their writes', async () => {
    // A deferred foreign key is checked at COMMIT: a way to make the group's COMMIT itself fail.
    connection.client.run('CREATE TABLE parent (id INTEGER PRIMARY KEY)')
    connection.client.run('CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)')
    const seen: Record<number, unknown[]> = {}
    const results = [
      write(1, seen),
      write(2, seen, () => {
        insert(2)
        connection.client.run('INSERT INTO child (parent) VALUES (42)')
      }),
      write(3, seen),
    ]
    const settled = await Promise.allSettled(results)
    expect(settled.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected'])
    for (const result of settled) expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' })
    expect(outcomes).toEqual(['w1 lost', 'w2 lost', 'w3 lost'])
    expect(connection.client.inTransaction).toBe(false)
    expect(committedIds()).toEqual([])
    // The connection goes on: the next write commits.
    await write(5, seen)
    expect(committedIds()).toEqual([5])
  })

  test('a transaction SQLite rolled back by itself (disk full) loses every member, even those done before', async () => {
    const seen: Record<number, unknown[]> = {}
    const results = [
      write(1, seen),
      write(2, seen),
      write(3, seen, () => fillTheDisk(connection.client)),
      write(4, seen),
    ]
    const settled = await Promise.allSettled(results)
    connection.client.run('PRAGMA max_page_count = 1073741823')
    expect(settled.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected', 'fulfilled'])
    for (const result of settled.slice(0, 3)) expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'SQLITE_FULL' })
    expect(outcomes).toEqual(['w1 lost', 'w2 lost', 'w3 lost', 'w4 committed'])
    expect(committedIds()).toEqual([4])
  })
})

/** Caps the file at its current size and writes past it: SQLITE_FULL, which rolls the whole transaction back. */
function fillTheDisk(client: Database): void {
  client.run('CREATE TABLE IF NOT EXISTS ballast (b BLOB)')
  const pages = client.query('PRAGMA page_count').values()[0]?.[0]
  client.run(`PRAGMA max_page_count = ${pages}`)
  for (let i = 0; i < 100; i++) client.run('INSERT INTO ballast (b) VALUES (zeroblob(65536))')
}

const everything: BsoQuery = { sort: 'oldest', skip: 0 }
let nextUid = 1
const user = (): StorageUser => ({ uid: nextUid++, fxaUid: '', fxaKid: '' })

/** Group commit through the storage backend: timestamps, caches, and errors as the HTTP layer gets them. */
describe('SQLite group commit: storage', () => {
  let path: string
  let storage: StorageBackend
  let connection: SqliteConnection
  beforeEach(async () => {
    path = newDatabasePath()
    storage = await openStorage(`sqlite:///${path}`, { runMigrations: true })
    connection = SqliteConnection.shared(path) // the storage's own connection, to reach the file within a member
  })
  afterEach(async () => {
    connection.close()
    await storage.close()
  })

  const write = <T>(who: StorageUser, collection: string, work: (tx: StorageTx) => Promise<T>) =>
    storage.withTransaction({ user: who, mode: 'write', collection }, work)
  const read = <T>(who: StorageUser, collection: string | undefined, work: (tx: StorageTx) => Promise<T>) =>
    storage.withTransaction({ user: who, mode: 'read', collection }, work)
  const records = (who: StorageUser, collection: string) => read(who, collection, async (tx) => (await tx.getBsos(everything)).map((bso) => bso.id))

  test("a later member for the same collection gets a timestamp after the earlier member's, and each stores its own", async () => {
    const who = user()
    const writes = [
      write(who, 'bookmarks', async (tx) => {
        await tx.putBsos([{ id: 'a', payload: 'x' }])
        return tx.timestamp
      }),
      write(who, 'bookmarks', async (tx) => {
        await tx.putBsos([{ id: 'b', payload: 'y' }])
        return tx.timestamp
      }),
    ] as const
    const [earlier, later] = await Promise.all(writes)
    expect(later).toBeGreaterThan(earlier)
    const stored = await read(who, 'bookmarks', async (tx) => ({ bsos: await tx.getBsos(everything), collection: await tx.collectionTimestamp() }))
    expect(stored.bsos.map((bso) => [bso.id, bso.modified])).toEqual([
      ['a', earlier],
      ['b', later],
    ])
    expect(stored.collection).toBe(later)
  })

  test('a lost group is 503 disk full for every member, and leaves no cached collection id or collection timestamps of its members', async () => {
    const who = user()
    await write(who, 'bookmarks', (tx) => tx.putBsos([{ id: 'kept', payload: 'x' }]))
    const before = await read(who, undefined, (tx) => tx.collectionTimestamps())
    const group = [
      write(who, 'created-in-group', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }])),
      // Finds the id the first member created, not yet committed.
      write(user(), 'created-in-group', (tx) => tx.putBsos([{ id: 'b', payload: 'y' }])),
      write(user(), 'tabs', async () => fillTheDisk(connection.client)),
    ]
    const settled = await Promise.allSettled(group)
    connection.client.run('PRAGMA max_page_count = 1073741823')
    for (const result of settled) {
      expect(result.status).toBe('rejected')
      const reason = (result as PromiseRejectedResult).reason
      expect(reason).toMatchObject({ kind: 'unavailable', message: 'disk full' })
      expect(isWriteFailure(reason)).toBe(true)
    }
    expect(writeHealth.failure).toContain('disk full')
    expect(await read(who, undefined, (tx) => tx.collectionTimestamps())).toEqual(before)

    // SQLite hands the rolled-back collection's id to the next new name: a stale cached entry
    // would show this collection's records under the lost one.
    const other = user()
    await write(other, 'created-after', (tx) => tx.putBsos([{ id: 'c', payload: 'z' }]))
    expect(writeHealth.failure).toBeUndefined()
    expect(await records(other, 'created-in-group')).toEqual([])
    expect(await records(other, 'created-after')).toEqual(['c'])
  })
})
