import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStorage } from '../open.ts'
import type { StorageBackend, StorageUser } from '../types.ts'
import { SqliteConnection, type GroupMember } from './connection.ts'

const newDatabasePath = () => join(mkdtempSync(join(tmpdir(), 'syncserver-lock-')), 'sync.db')

/**
 * Another process (here a second connection, which SQLite locks out the same way) holds the
 * file's write lock. The connection's writes must wait for it without blocking the event loop:
 * with SQLite's busy handler the thread sleeps, so the other connection, on this same thread,
 * could never commit, and every test here would end in a 5 s busy timeout.
 */
describe('SQLite: a write waiting for the write lock of another process', () => {
  let connection: SqliteConnection
  let otherProcess: Database
  const events: string[] = []
  beforeEach(() => {
    const path = newDatabasePath()
    connection = SqliteConnection.shared(path)
    connection.client.run('CREATE TABLE t (id INTEGER PRIMARY KEY)')
    otherProcess = new Database(path)
    otherProcess.run('BEGIN IMMEDIATE')
    events.length = 0
  })
  afterEach(() => {
    SqliteConnection.lockTimeoutMs = 5000
    if (otherProcess.inTransaction) otherProcess.run('ROLLBACK')
    otherProcess.close()
    connection.close()
  })

  const committedIds = () => otherProcess.query('SELECT id FROM t ORDER BY id').values().map(([id]) => id)
  /** Inserts `id`, recording the ids the connection saw before it. */
  const write = (id: number) => {
    const member: GroupMember<void> = {
      run: async () => {
        events.push(`w${id} saw ${idsOnTheConnection().join(',')}`)
        connection.client.run('INSERT INTO t (id) VALUES (?)', [id])
      },
      ended: (outcome) => void events.push(`w${id} ${outcome}`),
    }
    return connection.write(member)
  }
  const idsOnTheConnection = () => connection.client.query('SELECT id FROM t ORDER BY id').values().map(([id]) => id)
  const read = (name: string) => connection.read(async () => void events.push(`${name} saw ${idsOnTheConnection().join(',')}`))

  test('reads queued behind it run meanwhile, seeing none of the writes; the writes keep their order and commit together once the lock is free', async () => {
    const writes = [write(1), write(2)]
    const reading = read('r1')
    writes.push(write(3))
    await reading
    await Bun.sleep(50)
    await read('r2')
    expect(events).toEqual(['r1 saw ', 'r2 saw '])
    otherProcess.run('COMMIT')
    await Promise.all(writes)
    // One group, in arrival order: each member saw only the members before it.
    expect(events.slice(2)).toEqual(['w1 saw ', 'w2 saw 1', 'w3 saw 1,2', 'w1 committed', 'w2 committed', 'w3 committed'])
    expect(committedIds()).toEqual([1, 2, 3])
  })

  test('it begins at its next retry once the lock is released (a millisecond), not after a longer sleep', async () => {
    const writing = write(1)
    // SQLite's busy handler would be sleeping 100 ms at a time by now.
    await Bun.sleep(300)
    // A read runs between two of the write's attempts: the next one falls due a retry step from now.
    await read('r1')
    otherProcess.run('COMMIT')
    // Timers run in the order they fall due, however late a loaded machine runs them: a retry
    // due a millisecond from now runs before this timer, due in 10.
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(events.slice(0, 2)).toEqual(['r1 saw ', 'w1 saw '])
    await writing
    expect(committedIds()).toEqual([1])
  })

  test('past lockTimeoutMs it fails alone as a conflict (503); the write behind it waits on, and commits once the lock is free', async () => {
    SqliteConnection.lockTimeoutMs = 100
    const started = performance.now()
    const first = write(1)
    const second = write(2)
    await expect(first).rejects.toMatchObject({ kind: 'conflict', message: 'database is locked' })
    expect(performance.now() - started).toBeGreaterThanOrEqual(100)
    expect(events).toEqual(['w1 failed'])
    otherProcess.run('COMMIT')
    await second
    expect(events).toEqual(['w1 failed', 'w2 saw ', 'w2 committed'])
    expect(committedIds()).toEqual([2])
  })

  test('a job that is not a read (exclusive) waits behind it, and so does every read behind that job', async () => {
    const jobs = [write(1), connection.exclusive(async () => void events.push('exclusive')), read('r1')]
    await Bun.sleep(50)
    expect(events).toEqual([])
    otherProcess.run('COMMIT')
    await Promise.all(jobs)
    expect(events).toEqual(['w1 saw ', 'w1 committed', 'exclusive', 'r1 saw 1'])
  })
})

describe('SQLite storage: a write waiting for the write lock of another process', () => {
  let path: string
  let storage: StorageBackend
  let otherProcess: Database
  beforeEach(async () => {
    path = newDatabasePath()
    storage = await openStorage(`sqlite:///${path}`, { runMigrations: true })
    otherProcess = new Database(path)
  })
  afterEach(async () => {
    otherProcess.close()
    await storage.close()
  })

  const who: StorageUser = { uid: 1, fxaUid: '', fxaKid: '' }
  const ids = () => storage.withTransaction({ user: who, mode: 'read', collection: 'bookmarks' }, async (tx) => (await tx.getBsos({ sort: 'oldest', skip: 0 })).map((bso) => bso.id))

  test("does not hold up a read of the same server, which answers with the last committed data; the write's data is there once it resolved", async () => {
    await storage.withTransaction({ user: who, mode: 'write', collection: 'bookmarks' }, (tx) => tx.putBsos([{ id: 'before', payload: 'x' }]))
    otherProcess.run('BEGIN IMMEDIATE')
    let written = false
    const writing = storage
      .withTransaction({ user: who, mode: 'write', collection: 'bookmarks' }, (tx) => tx.putBsos([{ id: 'after', payload: 'y' }]))
      .then(() => (written = true))
    expect(await ids()).toEqual(['before'])
    expect(written).toBe(false)
    otherProcess.run('COMMIT')
    await writing
    expect(await ids()).toEqual(['before', 'after'])
  })
})

/**
 * Two processes on one file (here two connections, which SQLite locks out the same way and
 * which share the waiters' file beside the database), each with writes always queued. Without
 * the hand-over, one takes the lock again microseconds after each of its COMMITs, and on this one
 * thread the other's retries never find it free until the first runs out of writes. The second
 * opens the file through a symbolic link, after a third connection opened and closed it: a
 * process that starts while others run (or after one was killed) shares their hint.
 *
 * Turns are counted in commits, not milliseconds: on a loaded machine one slow fsync or a
 * descheduled process makes a write wait long with the hand-over working.
 */
test('SQLite: two processes writing continuously take turns with the write lock; each commits its writes in order', async () => {
  const path = newDatabasePath()
  const link = join(mkdtempSync(join(tmpdir(), 'syncserver-lock-link-')), 'link.db')
  symlinkSync(path, link)
  const first = SqliteConnection.shared(path)
  SqliteConnection.shared(path.replace(/sync\.db$/, './sync.db')).close()
  const connections = [first, SqliteConnection.shared(link)]
  connections[0]?.client.run('CREATE TABLE t (writer INTEGER, seq INTEGER)')
  const WRITES = 150
  const commits = [0, 0]
  /** The most commits of the other process that one write waited through. */
  const longestWait = [0, 0]
  const writeContinuously = async (writer: number, connection: SqliteConnection, next: { seq: number }) => {
    while (next.seq < WRITES) {
      const otherCommitsBefore = commits[1 - writer] ?? 0
      const seq = next.seq++
      await connection.write({
        run: async () => {
          longestWait[writer] = Math.max(longestWait[writer] ?? 0, (commits[1 - writer] ?? 0) - otherCommitsBefore)
          connection.client.run('INSERT INTO t (writer, seq) VALUES (?, ?)', [writer, seq])
        },
        ended: () => void (commits[writer] = (commits[writer] ?? 0) + 1),
      })
    }
  }
  try {
    // Two writes in flight per process, so that one is always queued while the other runs.
    const counters = [{ seq: 0 }, { seq: 0 }]
    await Promise.all(connections.flatMap((connection, writer) => [0, 1].map(() => writeContinuously(writer, connection, counters[writer] ?? { seq: 0 }))))
    for (const writer of [0, 1]) {
      const committed = connections[0]?.client.query('SELECT seq FROM t WHERE writer = ? ORDER BY rowid').values(writer).map(([value]) => value)
      expect(committed).toEqual([...Array(WRITES).keys()])
    }
    // Without the hand-over the second process's first write waits through nearly all the
    // first's 150; with it, through at most 22 (two writes a group) on a loaded machine.
    expect(Math.max(...longestWait)).toBeLessThan(50)
  } finally {
    for (const connection of connections) connection.close()
  }
})

/**
 * A waiter retries every millisecond only while its thread is free: its own reads, a slow
 * fsync or a descheduled process can leave its last failed attempt well in the past while it
 * still waits. Here the holder's last group keeps the one thread for 20 ms before its COMMIT.
 */
test('SQLite: a waiter whose retries were held up for a while still gets the lock at the holder\'s next COMMIT', async () => {
  const path = newDatabasePath()
  const holder = SqliteConnection.shared(path)
  const waiter = SqliteConnection.shared(path.replace(/sync\.db$/, './sync.db'))
  holder.client.run('CREATE TABLE t (name TEXT)')
  const insert = (connection: SqliteConnection, name: string, before = async () => {}) =>
    connection.write({
      run: async () => {
        await before()
        connection.client.run('INSERT INTO t (name) VALUES (?)', [name])
      },
      ended: () => {},
    })
  // Groups of one: the holder's second write is its next transaction, not a member of the first.
  SqliteConnection.maxGroupMs = 0
  try {
    const release = Promise.withResolvers<void>()
    const writes = [insert(holder, 'holder 1', async () => {
      await release.promise
      Bun.sleepSync(20)
    }), insert(holder, 'holder 2'), insert(waiter, 'waiter')]
    await Bun.sleep(5)
    release.resolve()
    await Promise.all(writes)
    expect(holder.client.query('SELECT name FROM t ORDER BY rowid').values().flat()).toEqual(['holder 1', 'waiter', 'holder 2'])
  } finally {
    SqliteConnection.maxGroupMs = 10
    holder.close()
    waiter.close()
  }
})

test('SQLite: the waiters\' file lies beside the database with its mode and owner, and stays when the last connection closes', () => {
  const path = newDatabasePath()
  writeFileSync(path, '')
  chmodSync(path, 0o640)
  // Root (`sudo syncserver migrate`) makes it for the database's owner, the server's user.
  const owner = process.getuid?.() === 0 ? 65534 : statSync(path).uid
  chownSync(path, owner, owner)
  const connection = SqliteConnection.shared(path)
  const waiters = `${path}-lockwait`
  expect(statSync(waiters)).toMatchObject({ size: 8, mode: 0o100640, uid: owner })
  connection.close()
  expect(existsSync(waiters)).toBe(true)
  expect(existsSync(`${path}-shm`)).toBe(false)
})

test('SQLite: a database whose waiters\' file cannot be made opens and writes all the same (without hand-over)', async () => {
  const path = newDatabasePath()
  mkdirSync(`${path}-lockwait`)
  const connection = SqliteConnection.shared(path)
  try {
    connection.client.run('CREATE TABLE t (id INTEGER PRIMARY KEY)')
    await connection.write({ run: async () => void connection.client.run('INSERT INTO t (id) VALUES (1)'), ended: () => {} })
    expect(connection.client.query('SELECT id FROM t').values()).toEqual([[1]])
  } finally {
    connection.close()
  }
})
