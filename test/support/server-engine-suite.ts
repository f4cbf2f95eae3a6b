import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { isSyncError } from '../../src/errors.ts'
import { openStorage } from '../../src/db/open.ts'
import type { BsoQuery, StorageBackend, StorageTx, StorageUser } from '../../src/db/types.ts'
import { backendNamed, SETUP_TIMEOUT_MS } from './backends.ts'
import { eventually, type DatabaseAdmin } from './server-databases.ts'
import { freshUid } from './sync-client.ts'

export const everything: BsoQuery = { sort: 'oldest', skip: 0 }
export const newUser = (): StorageUser => ({ uid: freshUid(), fxaUid: '', fxaKid: '' })

/** A write transaction, retried on `conflict` as a client retries a 503. */
export async function write<T>(storage: StorageBackend, user: StorageUser, collection: string, work: (tx: StorageTx) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await storage.withTransaction({ user, mode: 'write', collection }, work)
    } catch (error) {
      if (!isSyncError(error, 'conflict') || attempt > 50) throw error
      await Bun.sleep(10)
    }
  }
}

export const read = <T>(storage: StorageBackend, user: StorageUser, collection: string, work: (tx: StorageTx) => Promise<T>) =>
  storage.withTransaction({ user, mode: 'read', collection }, work)

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open(): void } {
  let open = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { opened, open }
}

/**
 * What every server engine must survive, against a real server: concurrent writers (also
 * through two backend instances on one database, as two processes would be), connections
 * killed mid-transaction or while idle in the pool, and a saturated pool.
 */
export function serverEngineSuite(engine: 'postgres' | 'mysql', adminFor: (url: string) => DatabaseAdmin): void {
  const backend = backendNamed(engine)
  const suite = backend === undefined ? describe.skip : describe

  suite(`${engine} backend under concurrency and failures`, () => {
    let url: string
    let storage: StorageBackend
    let other: StorageBackend
    let admin: DatabaseAdmin
    beforeAll(async () => {
      url = await backend!.freshDatabaseUrl()
      storage = await openStorage(url, { runMigrations: true, poolMaxSize: 4, connectionTimeoutSeconds: 5 })
      // A second instance on the same database, as a second server process would be.
      other = await openStorage(url, { runMigrations: true, poolMaxSize: 4, connectionTimeoutSeconds: 5 })
      admin = adminFor(url)
    }, SETUP_TIMEOUT_MS)
    afterAll(async () => {
      await storage?.close()
      await other?.close()
      await admin?.close()
    }, SETUP_TIMEOUT_MS)

    /**
     * A backend instance with a single connection, opened now, and a way to learn that
     * connection's id once a transaction on it is under way (the one connection to the
     * database that was not there before).
     */
    async function soloInstance(): Promise<{ solo: StorageBackend; connectionId(): Promise<number> }> {
      const solo = await openStorage(url, { runMigrations: false, poolMaxSize: 1, connectionTimeoutSeconds: 5 })
      const before = new Set(await admin.connections())
      return {
        solo,
        async connectionId() {
          const [id] = await eventually(async () => (await admin.connections()).filter((candidate) => !before.has(candidate)))
          if (id === undefined) throw new Error('the solo connection never showed up')
          return id
        },
      }
    }

    test('parallel read-modify-write transactions through two instances lose no update', async () => {
      const user = newUser()
      const writers = 24
      const timestamps = await Promise.all(
        Array.from({ length: writers }, (_, index) =>
          write(index % 2 === 0 ? storage : other, user, 'counters', async (tx) => {
            const current = await tx.getBso('n')
            await tx.putBsos([{ id: 'n', payload: String(Number(current?.payload ?? 0) + 1) }, { id: `w${index}`, payload: 'x' }])
            return tx.timestamp
          }),
        ),
      )
      // Every write got its own timestamp, and the last one is the collection's.
      expect(new Set(timestamps).size).toBe(writers)
      const latest = Math.max(...timestamps)
      const state = await read(storage, user, 'counters', async (tx) => ({
        counter: await tx.getBso('n'),
        records: (await tx.getBsoIds(everything)).length,
        modified: await tx.collectionTimestamp(),
      }))
      expect(state).toEqual({ counter: { id: 'n', modified: latest, payload: String(writers), sortindex: null }, records: writers + 1, modified: latest })
    })

    test('parallel first writes to a collection that has no row yet all land', async () => {
      const user = newUser()
      const timestamps = await Promise.all(
        Array.from({ length: 12 }, (_, index) =>
          write(index % 2 === 0 ? storage : other, user, 'bookmarks', async (tx) => {
            await tx.putBsos([{ id: `b${index}`, payload: 'x' }])
            return tx.timestamp
          }),
        ),
      )
      expect(new Set(timestamps).size).toBe(12)
      const ids = await read(other, user, 'bookmarks', (tx) => tx.getBsoIds(everything))
      expect(ids.sort()).toEqual(Array.from({ length: 12 }, (_, index) => `b${index}`).sort())
    })

    test('many users creating one new collection name at once all end up in the same collection', async () => {
      const users = Array.from({ length: 10 }, newUser)
      const name = `custom-${Date.now()}`
      await Promise.all(
        users.map((user, index) => write(index % 2 === 0 ? storage : other, user, name, (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))),
      )
      for (const user of users) {
        const names = await storage.withTransaction({ user, mode: 'read' }, (tx) => tx.collectionTimestamps())
        expect([...names.keys()]).toEqual([name])
      }
    })

    test('a connection killed mid-transaction leaves no partial write, and the backend keeps serving', async () => {
      const user = newUser()
      const { solo, connectionId } = await soloInstance()
      try {
        const before = await write(solo, user, 'history', async (tx) => {
          await tx.putBsos([{ id: 'kept', payload: 'old' }])
          return tx.timestamp
        })
        const victim = await connectionId()
        const failure = solo.withTransaction({ user, mode: 'write', collection: 'history' }, async (tx) => {
          await tx.putBsos([{ id: 'kept', payload: 'new' }, { id: 'partial', payload: 'x' }])
          await admin.kill(victim)
          await Bun.sleep(100)
          await tx.putBsos([{ id: 'after-kill', payload: 'y' }])
        })
        await expect(failure).rejects.toMatchObject({ kind: 'unavailable' })
        const state = await read(storage, user, 'history', async (tx) => ({
          records: await tx.getBsos(everything),
          modified: await tx.collectionTimestamp(),
        }))
        expect(state).toEqual({ records: [{ id: 'kept', modified: before, payload: 'old', sortindex: null }], modified: before })
        // The pool drops the dead connection and every later transaction works.
        for (let round = 0; round < 10; round++) {
          await write(solo, user, 'history', (tx) => tx.putBsos([{ id: `r${round}`, payload: 'z' }]))
        }
        expect(await read(solo, user, 'history', (tx) => tx.getBsoIds(everything))).toHaveLength(11)
      } finally {
        await solo.close()
      }
    })

    test('a lock holder killed mid-transaction fails alone; the writer waiting for its lock proceeds', async () => {
      const user = newUser()
      const { solo, connectionId } = await soloInstance()
      try {
        const release = gate()
        const wrote = gate()
        const holder = solo.withTransaction({ user, mode: 'write', collection: 'tabs' }, async (tx) => {
          await tx.putBsos([{ id: 'holder', payload: 'x' }])
          wrote.open()
          await release.opened
          await tx.putBsos([{ id: 'holder-2', payload: 'x' }])
        })
        await wrote.opened
        const victim = await connectionId()
        const waiter = write(other, user, 'tabs', async (tx) => {
          await tx.putBsos([{ id: 'waiter', payload: 'y' }])
          return tx.timestamp
        })
        expect(await eventually(() => admin.connectionsWaitingForLock())).toHaveLength(1)
        await admin.kill(victim)
        const waited = await waiter
        release.open()
        await expect(holder).rejects.toMatchObject({ kind: 'unavailable' })
        expect(
          await read(storage, user, 'tabs', async (tx) => ({ records: await tx.getBsoIds(everything), modified: await tx.collectionTimestamp() })),
        ).toEqual({ records: ['waiter'], modified: waited })
      } finally {
        await solo.close()
      }
    })

    test('a writer whose connection is killed while it waits for the lock is retried on a fresh one', async () => {
      const user = newUser()
      const release = gate()
      const wrote = gate()
      const holder = write(storage, user, 'addons', async (tx) => {
        await tx.putBsos([{ id: 'holder', payload: 'x' }])
        wrote.open()
        await release.opened
        return tx.timestamp
      })
      await wrote.opened
      const waiter = write(other, user, 'addons', async (tx) => {
        await tx.putBsos([{ id: 'waiter', payload: 'y' }])
        return tx.timestamp
      })
      const [victim] = await eventually(() => admin.connectionsWaitingForLock())
      expect(victim).toBeDefined()
      await admin.kill(victim!)
      // Nothing had happened on the dead connection yet, so the transaction starts over.
      await Bun.sleep(100)
      release.open()
      const held = await holder
      expect(await waiter).toBeGreaterThan(held)
      expect((await read(other, user, 'addons', (tx) => tx.getBsoIds(everything))).sort()).toEqual(['holder', 'waiter'])
    })

    test('pooled connections killed while idle (as by a database restart) are replaced without failing a request', async () => {
      const user = newUser()
      // Fill the pool with idle connections, then kill every one of them.
      await Promise.all(Array.from({ length: 4 }, (_, index) => write(storage, newUser(), 'prefs', (tx) => tx.putBsos([{ id: `p${index}`, payload: 'x' }]))))
      for (const id of await admin.connections()) await admin.kill(id)
      for (let round = 0; round < 6; round++) {
        await storage.withTransaction({ user, mode: 'write', collection: 'prefs' }, (tx) => tx.putBsos([{ id: `after${round}`, payload: 'x' }]))
        await Bun.sleep(10)
      }
      expect(await read(storage, user, 'prefs', (tx) => tx.getBsoIds(everything))).toHaveLength(6)
      expect(await storage.check()).toBe(true)
    })

    test('reads of no collection, which run on any pooled connection, get past connections killed while idle', async () => {
      const user = newUser()
      const written = await write(storage, user, 'forms', async (tx) => {
        await tx.putBsos([{ id: 'f', payload: 'x' }])
        return tx.timestamp
      })
      // Every info/* view reads in a transaction; info/collections through userTimestamps.
      const readers = {
        transaction: () => storage.withTransaction({ user, mode: 'read' }, async (tx) => ({ storage: await tx.storageTimestamp(), collections: await tx.collectionTimestamps() })),
        userTimestamps: () => storage.userTimestamps(user),
      }
      for (const readTimestamps of Object.values(readers)) {
        await Promise.all(Array.from({ length: 4 }, readTimestamps))
        for (const id of await admin.connections()) await admin.kill(id)
        await Bun.sleep(50)
        for (let round = 0; round < 6; round++) {
          const timestamps = await readTimestamps()
          expect({ storage: timestamps.storage, collections: Object.fromEntries(timestamps.collections) }).toEqual({ storage: written, collections: { forms: written } })
        }
      }
      // Nothing leaked, nothing lost: PostgreSQL keeps one of the 4 for the info/* reads (PostgresPool.rows).
      expect(storage.poolStatus()).toMatchObject({ active: 0, max: engine === 'postgres' ? 3 : 4 })
    })

    test('a batch created through one instance is appended to and committed through the other', async () => {
      const user = newUser()
      const batch = await write(storage, user, 'passwords', async (tx) => {
        const id = await tx.createBatch()
        await tx.appendToBatch(id, [{ id: 'a', payload: 'from-one', sortindex: 1 }])
        return id
      })
      await write(other, user, 'passwords', async (tx) => {
        expect(await tx.batchIsOpen(batch)).toBe(true)
        await tx.appendToBatch(batch, [{ id: 'b', payload: 'from-two' }, { id: 'a', ttl: 3600 }])
      })
      const committedAt = await write(other, user, 'passwords', async (tx) => {
        expect(await tx.batchIsOpen(batch)).toBe(true)
        await tx.commitBatch(batch)
        return tx.timestamp
      })
      for (const instance of [storage, other]) {
        expect(await read(instance, user, 'passwords', (tx) => tx.getBsos(everything))).toEqual([
          { id: 'a', modified: committedAt, payload: 'from-one', sortindex: 1 },
          { id: 'b', modified: committedAt, payload: 'from-two', sortindex: null },
        ])
      }
      expect(await write(storage, user, 'passwords', (tx) => tx.batchIsOpen(batch))).toBe(false)
    })

    test('a checkout that waits longer than the pool timeout is refused as unavailable', async () => {
      const small = await openStorage(url, { runMigrations: false, poolMaxSize: 1, connectionTimeoutSeconds: 1 })
      try {
        const release = gate()
        const holding = gate()
        const holder = small.withTransaction({ user: newUser(), mode: 'write', collection: 'forms' }, () => {
          holding.open()
          return release.opened
        })
        await holding.opened
        expect(small.poolStatus()).toMatchObject({ active: 1, idle: 0, max: 1 })
        const started = Date.now()
        const refused = small.withTransaction({ user: newUser(), mode: 'read' }, (tx) => tx.storageTimestamp())
        // info/collections takes its own way to the pool (userTimestamps), through the same admission.
        const refusedInfo = small.userTimestamps(newUser())
        const outcomes = await Promise.allSettled([refused, refusedInfo])
        expect(outcomes.map((outcome) => outcome.status === 'rejected' && (outcome.reason as { kind?: string }).kind)).toEqual(['unavailable', 'unavailable'])
        expect(Date.now() - started).toBeGreaterThanOrEqual(900)
        release.open()
        await holder
        expect(small.poolStatus()).toMatchObject({ active: 0, idle: 1, max: 1 })
        expect(await small.withTransaction({ user: newUser(), mode: 'read' }, (tx) => tx.storageTimestamp())).toBe(0)
      } finally {
        await small.close()
      }
    })
  })
}
