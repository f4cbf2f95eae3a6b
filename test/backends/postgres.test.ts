import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openStorage } from '../../src/db/open.ts'
import type { StorageBackend } from '../../src/db/types.ts'
import { backendNamed } from '../support/backends.ts'
import { postgresAdmin, type DatabaseAdmin } from '../support/server-databases.ts'
import { everything, newUser, read, serverEngineSuite, write } from '../support/server-engine-suite.ts'

serverEngineSuite('postgres', postgresAdmin)

const backend = backendNamed('postgres')

/** What only the PostgreSQL layout has: TIMESTAMPTZ columns, pre-touch rows, UUID batch ids. */
;(backend === undefined ? describe.skip : describe)('postgres layout', () => {
  let storage: StorageBackend
  let admin: DatabaseAdmin
  beforeAll(async () => {
    const url = await backend!.freshDatabaseUrl()
    storage = await openStorage(url, { runMigrations: true, poolMaxSize: 4, connectionTimeoutSeconds: 5 })
    admin = postgresAdmin(url)
  })
  afterAll(async () => {
    await storage?.close()
    await admin?.close()
  })

  test('TIMESTAMPTZ values hold exactly the millisecond timestamps written, in 10 ms ticks', async () => {
    const user = newUser()
    const written: number[] = []
    for (let index = 0; index < 25; index++) {
      written.push(await write(storage, user, 'history', async (tx) => {
        await tx.putBsos([{ id: `h${index}`, payload: 'x' }])
        return tx.timestamp
      }))
    }
    const rows = await admin.query(
      `SELECT bso_id, modified, (extract(epoch FROM modified) * 1000)::int8 AS ms, extract(microseconds FROM modified)::int8 % 10000 AS sub_tick
         FROM bsos WHERE user_id = $1 ORDER BY modified`,
      [user.uid],
    )
    expect(rows.map((row) => Number(row.ms))).toEqual(written)
    expect(rows.every((row) => Number(row.sub_tick) === 0)).toBe(true)
    const listed = await read(storage, user, 'history', (tx) => tx.getBsos(everything))
    expect(listed.map((bso) => bso.modified)).toEqual(written)
  })

  test('a batch on a new collection makes a pre-touch row that no read shows and deletion ignores', async () => {
    const user = newUser()
    const batch = await write(storage, user, 'tabs', async (tx) => {
      const id = await tx.createBatch()
      await tx.appendToBatch(id, [{ id: 'a', payload: 'x' }])
      return id
    })
    const [row] = await admin.query(`SELECT modified = '0001-01-01T00:00:00Z'::timestamptz AS pre_touch FROM user_collections WHERE user_id = $1`, [
      user.uid,
    ])
    expect(row?.pre_touch).toBe(true)
    const view = () =>
      storage.withTransaction({ user, mode: 'read' }, async (tx) => ({
        collections: Object.fromEntries(await tx.collectionTimestamps()),
        storage: await tx.storageTimestamp(),
      }))
    expect(await view()).toEqual({ collections: {}, storage: 0 })
    expect(await read(storage, user, 'tabs', (tx) => tx.collectionTimestamp())).toBe(0)
    // Deleting the collection finds nothing real, so no tombstone moves the storage timestamp.
    await write(storage, user, 'tabs', (tx) => tx.deleteCollection())
    expect(await view()).toEqual({ collections: {}, storage: 0 })
    expect(await admin.query('SELECT 1 FROM batches WHERE batch_id = $1', [batch])).toHaveLength(0)
  })

  test('batch ids are hyphenated UUID v4; integer ids are malformed here', async () => {
    const batch = await write(storage, newUser(), 'forms', (tx) => tx.createBatch())
    expect(batch).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(storage.isWellFormedBatchId(batch)).toBe(true)
    expect(storage.isWellFormedBatchId(batch.toUpperCase())).toBe(true)
    for (const malformed of ['MTcwMDAwMDAwMDEyMw==', '1700000000123', 'sammich', `${batch}0`, '']) {
      expect(storage.isWellFormedBatchId(malformed)).toBe(false)
    }
  })

  test('custom collections get ids from 101 on; the 13 standard ones keep theirs', async () => {
    await write(storage, newUser(), 'my-engine', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
    const rows = await admin.query('SELECT collection_id, name FROM collections ORDER BY collection_id')
    expect(rows.slice(0, 13).map((row) => row.name)).toEqual([
      'clients', 'crypto', 'forms', 'history', 'keys', 'meta', 'bookmarks', 'prefs', 'tabs', 'passwords', 'addons', 'addresses', 'creditcards',
    ])
    expect(rows.find((row) => row.name === 'my-engine')?.collection_id).toBeGreaterThanOrEqual(101)
  })

  test('a payload with U+0000, which TEXT cannot hold, round-trips', async () => {
    const user = newUser()
    const payload = 'a\u0000b\u0001c\u0001'
    await write(storage, user, 'prefs', (tx) => tx.putBsos([{ id: 'nul', payload }]))
    expect((await read(storage, user, 'prefs', (tx) => tx.getBso('nul')))?.payload).toBe(payload)
  })
})
