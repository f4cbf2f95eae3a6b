import { Database } from 'bun:sqlite'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStorage } from '../../src/db/open.ts'
import type { StorageBackend, StorageTx, StorageUser, UserTimestamps } from '../../src/db/types.ts'
import { freshUid } from '../support/sync-client.ts'

const user = (): StorageUser => ({ uid: freshUid(), fxaUid: '', fxaKid: '' })

/**
 * The SQLite backend keeps each user's collection timestamps between requests. These tests pin
 * down when it must read them again: after its own writes, after a rolled-back write, and after
 * a write by another connection to the same file (another server process, or the CLI).
 */
describe('SQLite user-collections cache', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'syncserver-cache-')), 'sync.db')
  let storage: StorageBackend
  let otherProcess: Database
  beforeAll(async () => {
    storage = await openStorage(`sqlite:///${path}`, { runMigrations: true })
    otherProcess = new Database(path)
  })
  afterAll(async () => {
    otherProcess.close()
    await storage.close()
  })

  const write = (who: StorageUser, collection: string, work: (tx: StorageTx) => Promise<unknown>) =>
    storage.withTransaction({ user: who, mode: 'write', collection }, work)
  /** The two ways to read them: the one every info/* view takes, and info/collections' own. */
  const readers: [string, (who: StorageUser) => Promise<UserTimestamps>][] = [
    [
      'a read transaction',
      (who) =>
        storage.withTransaction({ user: who, mode: 'read' }, async (tx) => ({
          storage: await tx.storageTimestamp(),
          collections: await tx.collectionTimestamps(),
        })),
    ],
    ['userTimestamps', async (who) => storage.userTimestamps(who)],
  ]

  describe.each(readers)('read through %s', (_, timestamps) => {
    test('an unchanged user gets the same map back, which is what makes the cache a cache', async () => {
      const who = user()
      await write(who, 'bookmarks', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
      const first = await timestamps(who)
      const second = await timestamps(who)
      expect(second.collections).toBe(first.collections)
      expect(second.storage).toBe(first.storage)
    })

    test("this server's own write is seen by the next read", async () => {
      const who = user()
      await write(who, 'bookmarks', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
      const before = await timestamps(who)
      await Bun.sleep(20)
      const modified = await write(who, 'history', async (tx) => {
        await tx.putBsos([{ id: 'h', payload: 'y' }])
        return tx.timestamp
      })
      const after = await timestamps(who)
      expect([...after.collections.keys()].sort()).toEqual(['bookmarks', 'history'])
      expect(after.collections.get('history')).toBe(modified as number)
      expect(after.storage).toBe(modified as number)
      expect(after.storage).toBeGreaterThan(before.storage)
    })

    test('a deletion of everything is seen by the next read', async () => {
      const who = user()
      await write(who, 'bookmarks', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
      expect((await timestamps(who)).collections.size).toBe(1)
      await storage.withTransaction({ user: who, mode: 'wipe' }, (tx) => tx.deleteStorage())
      expect(await timestamps(who)).toEqual({ storage: 0, collections: new Map() })
    })

    test('a write rolled back after the cache was filled leaves the cached view correct', async () => {
      const who = user()
      await write(who, 'bookmarks', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
      const before = await timestamps(who)
      const failed = write(who, 'history', async (tx) => {
        await tx.putBsos([{ id: 'h', payload: 'y' }])
        throw new Error('injected failure')
      })
      await expect(failed).rejects.toThrow('injected failure')
      expect(await timestamps(who)).toEqual(before)
    })

    test('a commit by another connection to the same file is seen by the next read', async () => {
      const who = user()
      await write(who, 'bookmarks', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
      const before = await timestamps(who)
      const later = before.storage + 60_000
      otherProcess.run('UPDATE user_collections SET last_modified = ? WHERE userid = ?', [later, who.uid])
      const after = await timestamps(who)
      expect(after.storage).toBe(later)
      expect(after.collections.get('bookmarks')).toBe(later)
    })

    test('a write through a second backend on the same connection is seen through the first', async () => {
      // Two servers in one process on one file share the connection (as two-servers.test.ts does).
      const second = await openStorage(`sqlite:///${path}`, { runMigrations: true })
      try {
        const who = user()
        await write(who, 'bookmarks', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
        const before = await timestamps(who)
        await Bun.sleep(20)
        await second.withTransaction({ user: who, mode: 'write', collection: 'history' }, (tx) => tx.putBsos([{ id: 'h', payload: 'y' }]))
        const after = await timestamps(who)
        expect([...after.collections.keys()].sort()).toEqual(['bookmarks', 'history'])
        expect(after.storage).toBeGreaterThan(before.storage)
      } finally {
        await second.close()
      }
    })

    test("another connection's deletion of the user is seen by the next read", async () => {
      const who = user()
      await write(who, 'bookmarks', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
      expect((await timestamps(who)).collections.size).toBe(1)
      otherProcess.run('DELETE FROM user_collections WHERE userid = ?', [who.uid])
      expect(await timestamps(who)).toEqual({ storage: 0, collections: new Map() })
    })
  })

  test('a read served from the cache that then queries the database sees one snapshot, even when another connection commits in between', async () => {
    // info/collection_counts: the storage timestamp (a cache hit, before any transaction) and
    // then the counts (a query). A commit between the two must not pair an old X-Last-Modified
    // with new counts: the read runs again, wholly on the new data.
    const who = user()
    await write(who, 'bookmarks', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
    const before = await storage.userTimestamps(who)
    const later = before.storage + 60_000
    let runs = 0
    const seen = await storage.withTransaction({ user: who, mode: 'read' }, async (tx) => {
      runs++
      const storageTimestamp = await tx.storageTimestamp()
      if (runs === 1) {
        otherProcess.run('UPDATE user_collections SET last_modified = ? WHERE userid = ?', [later, who.uid])
        otherProcess.run("INSERT INTO bso (userid, collection, id, payload, modified) SELECT userid, collection, 'b', 'y', ? FROM user_collections WHERE userid = ?", [later, who.uid])
      }
      return { storageTimestamp, counts: await tx.collectionCounts() }
    })
    expect(runs).toBe(2)
    expect(seen).toEqual({ storageTimestamp: later, counts: new Map([['bookmarks', 2]]) })
  })

  test('userTimestamps answers at once from the cache on an idle connection, and waits for a write running on it', async () => {
    const who = user()
    await write(who, 'bookmarks', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
    // The write forgot the user: the first read fills the cache through a transaction.
    const filling = storage.userTimestamps(who)
    expect(filling).toBeInstanceOf(Promise)
    const filled = await filling
    const direct = storage.userTimestamps(who)
    expect(direct).not.toBeInstanceOf(Promise)
    expect(direct).toEqual(filled)

    const { promise: held, resolve: release } = Promise.withResolvers<void>()
    const writing = write(who, 'history', async (tx) => {
      await tx.putBsos([{ id: 'h', payload: 'y' }])
      await held
      return tx.timestamp
    })
    const during = storage.userTimestamps(who)
    expect(during).toBeInstanceOf(Promise)
    release()
    const modified = (await writing) as number
    expect(await during).toEqual({ storage: modified, collections: new Map([['bookmarks', filled.storage], ['history', modified]]) })
  })
})
