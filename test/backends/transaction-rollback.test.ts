import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { BsoQuery, StorageBackend, StorageTx, StorageUser } from '../../src/db/types.ts'
import { backends, openTestStorage } from '../support/backends.ts'
import { freshUid, fxaIdentity } from '../support/sync-client.ts'

const everything: BsoQuery = { sort: 'oldest', skip: 0 }
const user = (): StorageUser => {
  const uid = freshUid()
  const { fxa_uid, fxa_kid } = fxaIdentity(uid)
  return { uid, fxaUid: fxa_uid, fxaKid: fxa_kid }
}

/**
 * A commit (or POST) that fails after some of its writes ran must leave nothing behind. Over HTTP
 * only quota can fail a commit part-way (see test/http/adversarial.test.ts); here the failure is
 * injected inside the transaction, both as a thrown error and as a real driver error.
 */
describe.each(backends)('transaction rollback on $name', (backend) => {
  let storage: StorageBackend
  beforeAll(async () => {
    storage = await openTestStorage(await backend.freshDatabaseUrl())
  })
  afterAll(() => storage.close())

  const write = <T>(who: StorageUser, work: (tx: StorageTx) => Promise<T>) =>
    storage.withTransaction({ user: who, mode: 'write', collection: 'bookmarks' }, work)
  const read = <T>(who: StorageUser, work: (tx: StorageTx) => Promise<T>) =>
    storage.withTransaction({ user: who, mode: 'read', collection: 'bookmarks' }, work)

  test('an error thrown after putBsos rolls the records and the collection timestamp back', async () => {
    const who = user()
    const failure = write(who, async (tx) => {
      await tx.putBsos([{ id: 'a', payload: 'x' }, { id: 'b', payload: 'y' }])
      throw new Error('injected failure')
    })
    await expect(failure).rejects.toThrow('injected failure')
    expect(await read(who, (tx) => tx.getBsos(everything))).toEqual([])
    expect(await read(who, (tx) => tx.collectionTimestamp())).toBe(0)
    expect(await read(who, (tx) => tx.collectionTimestamps())).toEqual(new Map())
  })

  test('a driver error on a later record rolls back the records written before it', async () => {
    const who = user()
    const failure = write(who, async (tx) => {
      await tx.putBsos([{ id: 'first', payload: 'x' }])
      // A null id breaks the primary key's NOT NULL constraint inside the database itself.
      await tx.putBsos([{ id: null as unknown as string, payload: 'y' }])
    })
    await expect(failure).rejects.toThrow()
    expect(await read(who, (tx) => tx.getBsos(everything))).toEqual([])
  })

  test('an error after commitBatch leaves the staged records invisible and the batch open with its records', async () => {
    const who = user()
    const batch = await write(who, async (tx) => {
      const id = await tx.createBatch()
      await tx.appendToBatch(id, [{ id: 'a', payload: 'x'.repeat(10) }, { id: 'b', payload: 'y'.repeat(5), sortindex: 3 }])
      return id
    })
    const failure = write(who, async (tx) => {
      await tx.commitBatch(batch)
      await tx.putBsos([{ id: 'c', payload: 'z' }])
      throw new Error('injected failure')
    })
    await expect(failure).rejects.toThrow('injected failure')
    expect(await read(who, (tx) => tx.getBsos(everything))).toEqual([])
    expect(await read(who, (tx) => tx.collectionTimestamp())).toBe(0)
    const state = await write(who, async (tx) => ({ open: await tx.batchIsOpen(batch), bytes: await tx.stagedBytes(batch, []) }))
    expect(state).toEqual({ open: true, bytes: 15 })
  })

  test('a batch whose failed commit was rolled back commits in full afterwards', async () => {
    const who = user()
    const batch = await write(who, async (tx) => {
      const id = await tx.createBatch()
      await tx.appendToBatch(id, [{ id: 'a', payload: 'x' }, { id: 'b', payload: 'y', sortindex: 3 }])
      return id
    })
    await expect(
      write(who, async (tx) => {
        await tx.commitBatch(batch)
        throw new Error('injected failure')
      }),
    ).rejects.toThrow('injected failure')
    const committedAt = await write(who, async (tx) => {
      await tx.commitBatch(batch)
      return tx.timestamp
    })
    expect(await read(who, (tx) => tx.getBsos(everything))).toEqual([
      { id: 'a', modified: committedAt, payload: 'x', sortindex: null },
      { id: 'b', modified: committedAt, payload: 'y', sortindex: 3 },
    ])
    expect(await write(who, (tx) => tx.batchIsOpen(batch))).toBe(false)
  })

  test('a rolled-back update leaves the previous version of a record in place', async () => {
    const who = user()
    const firstAt = await write(who, async (tx) => {
      await tx.putBsos([{ id: 'a', payload: 'original', sortindex: 1 }])
      return tx.timestamp
    })
    await expect(
      write(who, async (tx) => {
        await tx.putBsos([{ id: 'a', payload: 'changed', sortindex: 2, ttl: 0 }])
        await tx.deleteBsos(['a'])
        throw new Error('injected failure')
      }),
    ).rejects.toThrow('injected failure')
    expect(await read(who, (tx) => tx.getBsos(everything))).toEqual([{ id: 'a', modified: firstAt, payload: 'original', sortindex: 1 }])
    expect(await read(who, (tx) => tx.collectionTimestamp())).toBe(firstAt)
  })
})
