import { expect, test } from 'bun:test'
import { SyncError } from '../../../src/errors.ts'
import { describeContract, EVERYTHING } from './engines.ts'

/** The transaction contract of StorageBackend (src/db/types.ts), checked on every engine. */
describeContract('transaction contract', (contract) => {
  const { user, write, read, wipe } = contract

  test('a write reads its own writes before it commits', async () => {
    const who = user()
    await write(who, 'bookmarks', async (tx) => {
      await tx.putBsos([{ id: 'a', payload: 'one', sortindex: 2 }])
      expect(await tx.getBso('a')).toEqual({ id: 'a', modified: tx.timestamp, payload: 'one', sortindex: 2 })
      expect(await tx.getBsoIds(EVERYTHING)).toEqual(['a'])
      expect(await tx.bsoTimestamp('a')).toBe(tx.timestamp)
      expect(await tx.collectionTimestamp()).toBe(tx.timestamp)
      expect(await tx.storageTimestamp()).toBe(tx.timestamp)
      expect(await tx.collectionCounts()).toEqual(new Map([['bookmarks', 1]]))
      await tx.deleteBso('a')
      expect(await tx.getBso('a')).toBeNull()
    })
  })

  test('T is fixed when the transaction opens, a multiple of 10, and stamps every record and the collection', async () => {
    const who = user()
    const { opened, written } = await write(who, 'history', async (tx) => {
      const opened = tx.timestamp
      await tx.putBsos([{ id: 'a', payload: 'x' }])
      await Bun.sleep(25)
      await tx.putBsos([{ id: 'b', payload: 'y' }])
      return { opened, written: tx.timestamp }
    })
    expect(written).toBe(opened)
    expect(opened % 10).toBe(0)
    expect((await read(who, 'history', (tx) => tx.getBsos(EVERYTHING))).map((bso) => bso.modified)).toEqual([opened, opened])
    expect(await read(who, 'history', (tx) => tx.collectionTimestamp())).toBe(opened)
    expect(await read(who, undefined, (tx) => tx.collectionTimestamps())).toEqual(new Map([['history', opened]]))
  })

  test('each write gets a T later than the collection had, even within one clock tick', async () => {
    const who = user()
    const stamps: number[] = []
    for (let round = 0; round < 4; round++) {
      stamps.push(await write(who, 'forms', async (tx) => (await tx.putBsos([{ id: 'a', payload: String(round) }]), tx.timestamp)))
    }
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]!).toBeGreaterThan(stamps[i - 1]!)
  })

  test('concurrent writes to one collection are serialised: the later sees the earlier and gets a later T', async () => {
    const who = user()
    let releaseFirst!: () => void
    const firstHolds = new Promise<void>((resolve) => (releaseFirst = resolve))
    let firstStarted!: () => void
    const started = new Promise<void>((resolve) => (firstStarted = resolve))
    const first = write(who, 'tabs', async (tx) => {
      await tx.putBsos([{ id: 'a', payload: 'first' }])
      firstStarted()
      await firstHolds
      return tx.timestamp
    })
    await started
    const second = write(who, 'tabs', async (tx) => ({ seen: await tx.getBso('a'), at: tx.timestamp }))
    await Bun.sleep(50)
    releaseFirst()
    const firstAt = await first
    const { seen, at } = await second
    expect(seen?.payload).toBe('first')
    expect(at).toBeGreaterThan(firstAt)
  })

  test('a rollback leaves no record, timestamp, count or batch behind', async () => {
    const who = user()
    const keptAt = await write(who, 'prefs', async (tx) => (await tx.putBsos([{ id: 'kept', payload: 'k' }]), tx.timestamp))
    let batch = ''
    await expect(
      write(who, 'prefs', async (tx) => {
        await tx.putBsos([{ id: 'kept', payload: 'changed' }, { id: 'new', payload: 'n' }])
        batch = await tx.createBatch()
        await tx.appendToBatch(batch, [{ id: 'staged', payload: 's' }])
        throw new Error('injected')
      }),
    ).rejects.toThrow('injected')
    expect(await read(who, 'prefs', (tx) => tx.getBsos(EVERYTHING))).toEqual([{ id: 'kept', modified: keptAt, payload: 'k', sortindex: null }])
    expect(await read(who, 'prefs', (tx) => tx.collectionTimestamp())).toBe(keptAt)
    expect(await read(who, undefined, (tx) => tx.storageTimestamp())).toBe(keptAt)
    expect(await read(who, undefined, (tx) => tx.collectionCounts())).toEqual(new Map([['prefs', 1]]))
    expect(await write(who, 'prefs', (tx) => tx.batchIsOpen(batch))).toBe(false)
  })

  test('a collection created by a rolled-back write is not cached: later collections never merge', async () => {
    const who = user()
    const other = user()
    const custom = `rolled${crypto.randomUUID().slice(0, 8)}`
    await expect(
      write(who, custom, async () => {
        throw new Error('injected')
      }),
    ).rejects.toThrow('injected')
    await write(who, `${custom}b`, (tx) => tx.putBsos([{ id: 'b', payload: 'B' }]))
    await write(who, custom, (tx) => tx.putBsos([{ id: 'f', payload: 'F' }]))
    await write(other, custom, (tx) => tx.putBsos([{ id: 'g', payload: 'G' }]))
    expect(await read(who, custom, (tx) => tx.getBsoIds(EVERYTHING))).toEqual(['f'])
    expect(await read(who, `${custom}b`, (tx) => tx.getBsoIds(EVERYTHING))).toEqual(['b'])
    expect(await read(other, `${custom}b`, (tx) => tx.getBsoIds(EVERYTHING))).toEqual([])
    expect([...(await read(who, undefined, (tx) => tx.collectionTimestamps())).keys()].sort()).toEqual([custom, `${custom}b`])
  })

  test('the work of a write runs once, also when it fails', async () => {
    const who = user()
    let runs = 0
    await write(who, 'addons', async (tx) => {
      runs++
      await tx.putBsos([{ id: 'a', payload: 'x' }])
    })
    await expect(
      write(who, 'addons', async () => {
        runs++
        throw new Error('injected')
      }),
    ).rejects.toThrow('injected')
    expect(runs).toBe(2)
  })

  test('a SyncError thrown by the work reaches the caller unchanged, and rolls back', async () => {
    const who = user()
    const refusal = new SyncError('overQuota', 'over quota')
    const outcome = write(who, 'passwords', async (tx) => {
      await tx.putBsos([{ id: 'a', payload: 'x' }])
      throw refusal
    })
    await expect(outcome).rejects.toBe(refusal)
    expect(await read(who, 'passwords', (tx) => tx.getBsoIds(EVERYTHING))).toEqual([])
  })

  test('reads of an unknown collection find nothing and create nothing', async () => {
    const who = user()
    const unknown = `unknown${crypto.randomUUID().slice(0, 8)}`
    const seen = await read(who, unknown, async (tx) => ({
      records: await tx.getBsos(EVERYTHING),
      one: await tx.getBso('a'),
      at: await tx.collectionTimestamp(),
      bso: await tx.bsoTimestamp('a'),
    }))
    expect(seen).toEqual({ records: [], one: null, at: 0, bso: 0 })
    expect(await read(who, undefined, (tx) => tx.collectionTimestamps())).toEqual(new Map())
  })

  test('a wipe deletes everything of its user and nothing of another', async () => {
    const who = user()
    const other = user()
    await write(who, 'clients', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
    await write(who, 'keys', (tx) => tx.putBsos([{ id: 'b', payload: 'y' }]))
    const otherAt = await write(other, 'clients', async (tx) => (await tx.putBsos([{ id: 'a', payload: 'z' }]), tx.timestamp))
    await wipe(who, (tx) => tx.deleteStorage())
    expect(await read(who, undefined, (tx) => tx.storageTimestamp())).toBe(0)
    expect(await read(who, undefined, (tx) => tx.collectionTimestamps())).toEqual(new Map())
    expect(await read(who, 'clients', (tx) => tx.getBsos(EVERYTHING))).toEqual([])
    expect(await read(other, 'clients', (tx) => tx.getBsos(EVERYTHING))).toEqual([
      { id: 'a', modified: otherAt, payload: 'z', sortindex: null },
    ])
  })

  test('the backend answers its health check and reports its pool', async () => {
    expect(await contract.backend.check()).toBe(true)
    const status = contract.backend.poolStatus()
    expect(status.max).toBeGreaterThan(0)
    expect(status.active + status.idle).toBeLessThanOrEqual(status.max)
  })
})
