import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { decodeIntegerBatchId } from '../../src/db/batch-id.ts'
import { openStorage } from '../../src/db/open.ts'
import type { StorageBackend } from '../../src/db/types.ts'
import { backendNamed } from '../support/backends.ts'
import { mysqlAdmin, type DatabaseAdmin } from '../support/server-databases.ts'
import { everything, newUser, read, serverEngineSuite, write } from '../support/server-engine-suite.ts'

serverEngineSuite('mysql', mysqlAdmin)

const backend = backendNamed('mysql')

/** What only the MySQL layout has: latin1 tables holding UTF-8 bytes, integer batch ids, lock placeholders. */
;(backend === undefined ? describe.skip : describe)('mysql layout', () => {
  let storage: StorageBackend
  let admin: DatabaseAdmin
  beforeAll(async () => {
    const url = await backend!.freshDatabaseUrl()
    storage = await openStorage(url, { runMigrations: true, poolMaxSize: 4, connectionTimeoutSeconds: 5 })
    admin = mysqlAdmin(url)
  })
  afterAll(async () => {
    await storage?.close()
    await admin?.close()
  })

  test('payloads are stored as UTF-8 bytes: LENGTH and usage count bytes, and text round-trips', async () => {
    const user = newUser()
    const payload = 'é€😀'
    await write(storage, user, 'passwords', (tx) => tx.putBsos([{ id: 'u', payload }]))
    const [row] = await admin.query('SELECT LENGTH(payload) AS bytes FROM bso WHERE userid = ?', [user.uid])
    expect(Number(row?.bytes)).toBe(Buffer.byteLength(payload))
    expect(await read(storage, user, 'passwords', (tx) => tx.getBso('u'))).toMatchObject({ payload })
    expect(await storage.withTransaction({ user, mode: 'read' }, (tx) => tx.storageUsage())).toBe(9)
  })

  test('BSO ids and collection names are case-sensitive', async () => {
    const user = newUser()
    await write(storage, user, 'bookmarks', (tx) => tx.putBsos([{ id: 'abc', payload: 'lower' }, { id: 'ABC', payload: 'upper' }]))
    await write(storage, user, 'Custom', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
    await write(storage, user, 'custom', (tx) => tx.putBsos([{ id: 'a', payload: 'y' }]))
    expect((await read(storage, user, 'bookmarks', (tx) => tx.getBsos(everything))).map((bso) => bso.payload).sort()).toEqual(['lower', 'upper'])
    const names = await storage.withTransaction({ user, mode: 'read' }, (tx) => tx.collectionTimestamps())
    expect([...names.keys()].sort()).toEqual(['Custom', 'bookmarks', 'custom'])
  })

  test('a transaction that only stages a batch leaves no collection row behind', async () => {
    const user = newUser()
    const batch = await write(storage, user, 'addresses', async (tx) => {
      const id = await tx.createBatch()
      await tx.appendToBatch(id, [{ id: 'a', payload: 'x' }])
      return id
    })
    expect(await admin.query('SELECT * FROM user_collections WHERE userid = ?', [user.uid])).toHaveLength(0)
    expect(await storage.withTransaction({ user, mode: 'read' }, (tx) => tx.collectionTimestamps())).toEqual(new Map())
    // Integer batch numbers: creation ms plus uid mod 10, as syncstorage-rs issues them.
    expect(batch).toMatch(/^[A-Za-z0-9]+=*$/)
    const created = decodeIntegerBatchId(batch) - (user.uid % 10)
    expect(created % 10).toBe(0)
    expect(Math.abs(Date.now() - created)).toBeLessThan(60_000)
    expect(storage.isWellFormedBatchId('0b5e6f3c-8d2a-4c1e-9f7b-3a2d1c0e9f8a')).toBe(false)
  })

  test('the collections table keeps the reference seeds, including the (100, "") placeholder', async () => {
    await write(storage, newUser(), 'my-engine', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
    const rows = await admin.query('SELECT id, name FROM collections WHERE id >= 13 ORDER BY id')
    expect(rows.slice(0, 2)).toEqual([{ id: 13, name: 'creditcards' }, { id: 100, name: '' }])
    expect(Number(rows.find((row) => row.name === 'my-engine')?.id)).toBeGreaterThanOrEqual(101)
  })
})
