import { expect, setSystemTime, test } from 'bun:test'
import { SyncError } from '../../../src/errors.ts'
import type { BsoQuery } from '../../../src/db/types.ts'
import { describeContract, EVERYTHING } from './engines.ts'

const DAY_MS = 86_400_000

/** The storage rules of storage-api.md as every StorageBackend applies them, checked on every engine. */
describeContract('storage contract', (contract) => {
  const { user, write, read } = contract

  test('a partial update keeps the fields it does not give; a ttl-only update keeps modified', async () => {
    const who = user()
    const first = await write(who, 'bookmarks', async (tx) => {
      await tx.putBsos([{ id: 'a', payload: 'one', sortindex: 5 }])
      return tx.timestamp
    })
    const second = await write(who, 'bookmarks', async (tx) => (await tx.putBsos([{ id: 'a', sortindex: 7 }]), tx.timestamp))
    expect(await read(who, 'bookmarks', (tx) => tx.getBso('a'))).toEqual({ id: 'a', modified: second, payload: 'one', sortindex: 7 })
    await write(who, 'bookmarks', (tx) => tx.putBsos([{ id: 'a', ttl: 3600 }]))
    expect(await read(who, 'bookmarks', (tx) => tx.getBso('a'))).toEqual({ id: 'a', modified: second, payload: 'one', sortindex: 7 })
    expect(second).toBeGreaterThan(first)
  })

  test("an update with a ttl replaces the record's expiry; one without keeps it", async () => {
    const who = user()
    const records = [{ id: 'shortened', payload: 'x' }, { id: 'revived', payload: 'y', ttl: 0 }, { id: 'still-expired', payload: 'z', ttl: 0 }]
    await write(who, 'forms', (tx) => tx.putBsos(records))
    await write(who, 'forms', (tx) => tx.putBsos([{ id: 'shortened', ttl: 0 }, { id: 'revived', ttl: 3600 }, { id: 'still-expired', payload: 'new' }]))
    expect(await read(who, 'forms', (tx) => tx.getBsoIds(EVERYTHING))).toEqual(['revived'])
  })

  test('a record whose ttl ran out is invisible, yet still has a timestamp', async () => {
    const who = user()
    await write(who, 'forms', (tx) => tx.putBsos([{ id: 'gone', payload: 'x', ttl: 0 }, { id: 'kept', payload: 'y' }]))
    const seen = await read(who, 'forms', async (tx) => ({
      ids: await tx.getBsoIds(EVERYTHING),
      one: await tx.getBso('gone'),
      stamp: await tx.bsoTimestamp('gone'),
      counts: await tx.collectionCounts(),
    }))
    expect(seen.ids).toEqual(['kept'])
    expect(seen.one).toBeNull()
    expect(seen.stamp).toBeGreaterThan(0)
    expect(seen.counts).toEqual(new Map([['forms', 1]]))
  })

  test('deleting a collection writes the tombstone: the storage timestamp moves, the listing forgets it', async () => {
    const who = user()
    await write(who, 'history', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
    const keptAt = await write(who, 'tabs', async (tx) => (await tx.putBsos([{ id: 't', payload: 't' }]), tx.timestamp))
    const deletedAt = await write(who, 'history', async (tx) => (await tx.deleteCollection(), tx.timestamp))
    expect(await read(who, undefined, (tx) => tx.collectionTimestamps())).toEqual(new Map([['tabs', keptAt]]))
    expect(await read(who, undefined, (tx) => tx.storageTimestamp())).toBe(deletedAt)
    expect(await read(who, 'history', (tx) => tx.collectionTimestamp())).toBe(0)
  })

  test("userTimestamps answers what a read transaction's storageTimestamp and collectionTimestamps do", async () => {
    const who = user()
    const inTransaction = () => read(who, undefined, async (tx) => ({ storage: await tx.storageTimestamp(), collections: await tx.collectionTimestamps() }))
    expect(await contract.backend.userTimestamps(who)).toEqual({ storage: 0, collections: new Map() })
    const historyAt = await write(who, 'history', async (tx) => (await tx.putBsos([{ id: 'a', payload: 'x' }]), tx.timestamp))
    const tabsAt = await write(who, 'tabs', async (tx) => (await tx.putBsos([{ id: 't', payload: 't' }]), tx.timestamp))
    expect(await contract.backend.userTimestamps(who)).toEqual({ storage: tabsAt, collections: new Map([['history', historyAt], ['tabs', tabsAt]]) })
    expect(await contract.backend.userTimestamps(who)).toEqual(await inTransaction())
    const deletedAt = await write(who, 'history', async (tx) => (await tx.deleteCollection(), tx.timestamp))
    expect(await contract.backend.userTimestamps(who)).toEqual({ storage: deletedAt, collections: new Map([['tabs', tabsAt]]) })
    expect(await contract.backend.userTimestamps(who)).toEqual(await inTransaction())
  })

  test('deleteBso answers whether a live record went; deleteBsos moves the collection even when none did', async () => {
    const who = user()
    await write(who, 'clients', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }, { id: 'b', payload: 'y' }]))
    expect(await write(who, 'clients', (tx) => tx.deleteBso('missing'))).toBe(false)
    expect(await write(who, 'clients', (tx) => tx.deleteBso('a'))).toBe(true)
    const at = await write(who, 'clients', async (tx) => (await tx.deleteBsos(['missing']), tx.timestamp))
    expect(await read(who, 'clients', (tx) => tx.collectionTimestamp())).toBe(at)
    expect(await read(who, 'clients', (tx) => tx.getBsoIds(EVERYTHING))).toEqual(['b'])
  })

  test('listings sort, filter and page the same way on every engine', async () => {
    const who = user()
    const stamps: number[] = []
    for (const [round, records] of [
      [{ id: 'c', payload: '1', sortindex: 1 }, { id: 'a', payload: '1', sortindex: 3 }],
      [{ id: 'b', payload: '2' }, { id: 'd', payload: '2', sortindex: 3 }],
    ].entries()) {
      stamps[round] = await write(who, 'meta', async (tx) => (await tx.putBsos(records), tx.timestamp))
    }
    const ids = (query: Partial<BsoQuery>) => read(who, 'meta', (tx) => tx.getBsoIds({ sort: 'newest', skip: 0, ...query }))
    expect(await ids({ sort: 'newest' })).toEqual(['d', 'b', 'c', 'a'])
    expect(await ids({ sort: 'none' })).toEqual(['d', 'b', 'c', 'a'])
    expect(await ids({ sort: 'oldest' })).toEqual(['a', 'c', 'b', 'd'])
    expect(await ids({ sort: 'index' })).toEqual(['d', 'a', 'c', 'b'])
    expect(await ids({ newer: stamps[0] })).toEqual(['d', 'b'])
    expect(await ids({ older: stamps[1] })).toEqual(['c', 'a'])
    expect(await ids({ atMost: stamps[0] })).toEqual(['c', 'a'])
    expect(await ids({ sort: 'oldest', atLeast: stamps[1] })).toEqual(['b', 'd'])
    expect(await ids({ ids: ['a', 'd', 'zz'] })).toEqual(['d', 'a'])
    expect(await ids({ ids: [] })).toEqual([])
    const pages = [await ids({ limit: 3 }), await ids({ limit: 3, skip: 3 })]
    expect(pages).toEqual([['d', 'b', 'c'], ['a']])
    expect((await read(who, 'meta', (tx) => tx.getBsos({ sort: 'index', skip: 0, limit: 1 })))[0]).toEqual({
      id: 'd',
      modified: stamps[1]!,
      payload: '2',
      sortindex: 3,
    })
  })

  test('a batch stages records, merges their fields, counts their bytes, and commits them at T', async () => {
    const who = user()
    const batch = await write(who, 'addresses', async (tx) => {
      const id = await tx.createBatch()
      await tx.appendToBatch(id, [{ id: 'a', payload: 'ab', sortindex: 1 }, { id: 'b', payload: 'é' }])
      return id
    })
    expect(contract.backend.isWellFormedBatchId(batch)).toBe(true)
    expect(await read(who, 'addresses', (tx) => tx.getBsoIds(EVERYTHING))).toEqual([])
    const committedAt = await write(who, 'addresses', async (tx) => {
      expect(await tx.batchIsOpen(batch)).toBe(true)
      await tx.appendToBatch(batch, [{ id: 'a', sortindex: 2 }])
      expect(await tx.stagedBytes(batch, [])).toBe(4)
      expect(await tx.stagedBytes(batch, ['b'])).toBe(2)
      await tx.commitBatch(batch)
      return tx.timestamp
    })
    expect(await read(who, 'addresses', (tx) => tx.getBsos(EVERYTHING))).toEqual([
      { id: 'a', modified: committedAt, payload: 'ab', sortindex: 2 },
      { id: 'b', modified: committedAt, payload: 'é', sortindex: null },
    ])
    expect(await read(who, 'addresses', (tx) => tx.collectionTimestamp())).toBe(committedAt)
    expect(await write(who, 'addresses', (tx) => tx.batchIsOpen(batch))).toBe(false)
  })

  test('a batch belongs to its user and collection', async () => {
    const who = user()
    const batch = await write(who, 'creditcards', (tx) => tx.createBatch())
    expect(await write(who, 'passwords', (tx) => tx.batchIsOpen(batch))).toBe(false)
    expect(await write(user(), 'creditcards', (tx) => tx.batchIsOpen(batch))).toBe(false)
    expect(await write(who, 'creditcards', (tx) => tx.batchIsOpen(batch))).toBe(true)
  })

  test('two batches of one user in one collection get distinct ids', async () => {
    const who = user()
    const ids = await write(who, 'history', async (tx) => [await tx.createBatch(), await tx.createBatch(), await tx.createBatch()])
    expect(new Set(ids).size).toBe(3)
  })

  test('usage and quota count the UTF-8 bytes the client sent, U+0000 and U+0001 included', async () => {
    const who = user()
    const payloads = { a: '\u0000\u0001'.repeat(10), b: 'ü€😀' }
    await write(who, 'forms', (tx) => tx.putBsos(Object.entries(payloads).map(([id, payload]) => ({ id, payload }))))
    const expected = 20 + 2 + 3 + 4
    expect(await read(who, undefined, (tx) => tx.collectionUsage())).toEqual(new Map([['forms', expected]]))
    expect(await read(who, undefined, (tx) => tx.storageUsage())).toBe(expected)
    expect(await read(who, undefined, (tx) => tx.quotaUsage())).toBe(expected)
    expect((await read(who, 'forms', (tx) => tx.getBso('a')))?.payload).toBe(payloads.a)
  })

  test('the backend keeps the quota totals through writes, deletions, batch commits and rollbacks', async () => {
    const who = user()
    const usage = () => read(who, undefined, (tx) => tx.quotaUsage())
    await write(who, 'history', (tx) => tx.putBsos([{ id: 'a', payload: 'x'.repeat(100) }, { id: 'b', payload: 'y'.repeat(50) }]))
    await write(who, 'tabs', (tx) => tx.putBsos([{ id: 't', payload: 'z'.repeat(7) }]))
    expect(await usage()).toBe(157)
    await write(who, 'history', (tx) => tx.deleteBso('a'))
    expect(await usage()).toBe(57)
    // Settled before expect() sees it: a pending Spanner write handed to expect().rejects never
    // settles under bun test (its gRPC response is not processed while expect waits).
    const rolledBack = await write(who, 'history', async (tx) => {
      await tx.putBsos([{ id: 'c', payload: 'w'.repeat(1000) }])
      throw new Error('injected')
    }).then(() => 'committed', (error: unknown) => String(error))
    expect(rolledBack).toBe('Error: injected')
    expect(await usage()).toBe(57)
    const batch = await write(who, 'history', async (tx) => {
      const id = await tx.createBatch()
      await tx.appendToBatch(id, [{ id: 'd', payload: 'v'.repeat(20) }])
      return id
    })
    expect(await usage()).toBe(57)
    await write(who, 'history', (tx) => tx.commitBatch(batch))
    expect(await usage()).toBe(77)
    await write(who, 'history', (tx) => tx.deleteBsos(['b']))
    expect(await usage()).toBe(27)
    await write(who, 'tabs', (tx) => tx.deleteCollection())
    expect(await usage()).toBe(20)
  })

  test('ids that differ only by trailing spaces stay two records, or the write is refused', async () => {
    const who = user()
    await write(who, 'tabs', (tx) => tx.putBsos([{ id: 'x', payload: 'plain' }]))
    const spaced = write(who, 'tabs', (tx) => tx.putBsos([{ id: 'x ', payload: 'spaced' }])).then(
      () => 'stored',
      (error: unknown) => {
        expect(error).toBeInstanceOf(SyncError)
        expect((error as SyncError).kind).toBe('invalidBso')
        return 'refused'
      },
    )
    const outcome = await spaced
    const records = await read(who, 'tabs', (tx) => tx.getBsos({ sort: 'oldest', skip: 0, ids: ['x'] }))
    expect(records.map((bso) => [bso.id, bso.payload])).toEqual([['x', 'plain']])
    const all = (await read(who, 'tabs', (tx) => tx.getBsoIds(EVERYTHING))).sort()
    expect(all).toEqual(outcome === 'stored' ? ['x', 'x '] : ['x'])
    expect(await read(who, 'tabs', (tx) => tx.getBso('x '))).toEqual(
      outcome === 'stored' ? expect.objectContaining({ payload: 'spaced' }) : null,
    )
  })

  test('a collection is known only to the name it was created with', async () => {
    const who = user()
    const name = `Case${crypto.randomUUID().slice(0, 6)}`
    await write(who, name, (tx) => tx.putBsos([{ id: 'a', payload: 'upper' }]))
    await write(who, name.toLowerCase(), (tx) => tx.putBsos([{ id: 'a', payload: 'lower' }]))
    expect((await read(who, name, (tx) => tx.getBso('a')))?.payload).toBe('upper')
    expect((await read(who, name.toLowerCase(), (tx) => tx.getBso('a')))?.payload).toBe('lower')
  })

  test('collection names that differ only by trailing spaces stay two collections, or the write is refused', async () => {
    const who = user()
    const name = `pad${crypto.randomUUID().slice(0, 6)}`
    await write(who, name, (tx) => tx.putBsos([{ id: 'a', payload: 'plain' }]))
    const outcome = await write(who, `${name} `, (tx) => tx.putBsos([{ id: 'a', payload: 'spaced' }])).then(
      () => 'stored',
      (error: unknown) => {
        expect(error).toBeInstanceOf(SyncError)
        return 'refused'
      },
    )
    expect((await read(who, name, (tx) => tx.getBso('a')))?.payload).toBe('plain')
    expect((await read(who, `${name} `, (tx) => tx.getBso('a')))?.payload).toBe(outcome === 'stored' ? 'spaced' : undefined)
  })

  test('records written at T expire T + ttl later, and without a ttl practically never', async () => {
    const who = user()
    await write(who, 'keys', (tx) => tx.putBsos([{ id: 'day', payload: 'x', ttl: 86_400 }, { id: 'forever', payload: 'y' }]))
    // The whole clock moves (new Date() too): Spanner's gRPC client sets deadlines with one and checks them with the other.
    setSystemTime(new Date(Date.now() + 2 * DAY_MS))
    try {
      expect(await read(who, 'keys', (tx) => tx.getBsoIds(EVERYTHING))).toEqual(['forever'])
    } finally {
      setSystemTime()
    }
  })
})
