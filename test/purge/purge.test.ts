import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openStorage } from '../../src/db/open.ts'
import {
  BATCH_PURGE_GRACE_MS,
  expiredRowsOf,
  purgeExpired,
  SPANNER_PURGE_REFUSAL,
  type ExpiredRows,
  type PurgeProgress,
} from '../../src/db/purge.ts'
import { BATCH_LIFETIME_MS, nowMillis } from '../../src/db/timestamps.ts'
import type { BsoQuery, BsoWrite, StorageBackend, StorageTx, StorageUser } from '../../src/db/types.ts'
import { sqlBackends } from '../support/backends.ts'
import { newUser } from '../support/server-engine-suite.ts'

const everything: BsoQuery = { sort: 'oldest', skip: 0 }

/** `count` records with ids `prefix0…`; ttl 0 makes them expired the moment they are written. */
const records = (prefix: string, count: number, ttl?: number): BsoWrite[] =>
  Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, payload: `payload ${i}`, ...(ttl === undefined ? {} : { ttl }) }))

describe.each(sqlBackends)('purge on $name', (backend) => {
  let storage: StorageBackend
  let rows: ExpiredRows
  beforeAll(async () => {
    storage = await openStorage(await backend.freshDatabaseUrl(), { runMigrations: true })
    rows = expiredRowsOf(storage)
  })
  afterAll(() => storage.close())

  const write = <T>(who: StorageUser, collection: string, work: (tx: StorageTx) => Promise<T>) =>
    storage.withTransaction({ user: who, mode: 'write', collection }, work)
  const read = <T>(who: StorageUser, collection: string, work: (tx: StorageTx) => Promise<T>) =>
    storage.withTransaction({ user: who, mode: 'read', collection }, work)
  /** Counted by the engine itself, so expired rows that reads hide still show. */
  const storedExpired = () => rows.count('bsos', nowMillis())

  test('expired records go, live records and their collections stay', async () => {
    const who = newUser()
    await write(who, 'history', (tx) => tx.putBsos([...records('old', 7, 0), ...records('live', 3), ...records('later', 2, 3600)]))
    expect(await storedExpired()).toBeGreaterThanOrEqual(7)
    const before = await read(who, 'history', (tx) => tx.getBsos(everything))

    const report = await purgeExpired(rows, { mode: 'bsos', expiredBy: nowMillis(), chunkSize: 100 })

    expect(report.rows.bsos).toBeGreaterThanOrEqual(7)
    expect(await storedExpired()).toBe(0)
    const after = await read(who, 'history', (tx) => tx.getBsos(everything))
    expect(after).toEqual(before)
    expect(after.map((bso) => bso.id).sort()).toEqual(['later0', 'later1', 'live0', 'live1', 'live2'])
    expect((await read(who, 'history', (tx) => tx.collectionTimestamps())).has('history')).toBe(true)
  })

  test('expired batches go with their staged records; open batches keep theirs', async () => {
    const who = newUser()
    const stale = await write(who, 'tabs', async (tx) => {
      const id = await tx.createBatch()
      await tx.appendToBatch(id, records('staged', 5))
      return id
    })
    const staleCreatedBy = Date.now()
    await Bun.sleep(120)
    const open = await write(who, 'tabs', async (tx) => {
      const id = await tx.createBatch()
      await tx.appendToBatch(id, records('kept', 4))
      return id
    })
    // As if it were 2 h (and the grace period) after the first batch was made, but not the second.
    const expiredBy = staleCreatedBy + 50 + BATCH_LIFETIME_MS + BATCH_PURGE_GRACE_MS

    const report = await purgeExpired(rows, { mode: 'batches', expiredBy, chunkSize: 2 })

    expect(report.rows.batchItems).toBeGreaterThanOrEqual(5)
    expect(report.rows.batches).toBeGreaterThanOrEqual(1)
    expect(report.rows.bsos).toBe(0)
    const batchesExpiredBy = expiredBy - BATCH_PURGE_GRACE_MS
    expect(await rows.count('batchItems', batchesExpiredBy)).toBe(0)
    expect(await rows.count('batches', batchesExpiredBy)).toBe(0)
    expect(await write(who, 'tabs', (tx) => tx.batchIsOpen(stale))).toBe(false)
    await write(who, 'tabs', async (tx) => {
      expect(await tx.batchIsOpen(open)).toBe(true)
      await tx.commitBatch(open)
    })
    const committed = await read(who, 'tabs', (tx) => tx.getBsos(everything))
    expect(committed.map((bso) => bso.id).sort()).toEqual(['kept0', 'kept1', 'kept2', 'kept3'])
  })

  test('deletes in chunks of at most chunkSize rows, reporting progress after each', async () => {
    await purgeExpired(rows, { mode: 'bsos', expiredBy: nowMillis(), chunkSize: 1000 })
    await write(newUser(), 'forms', (tx) => tx.putBsos(records('gone', 25, 0)))
    const progress: PurgeProgress[] = []
    const rests: number[] = []

    const report = await purgeExpired(rows, {
      mode: 'bsos',
      expiredBy: nowMillis(),
      chunkSize: 10,
      onProgress: (step) => progress.push(step),
      rest: async (chunkMs) => void rests.push(chunkMs),
    })

    expect(progress).toEqual([
      { table: 'bsos', rows: 10, done: false },
      { table: 'bsos', rows: 20, done: false },
      { table: 'bsos', rows: 25, done: true },
    ])
    expect(report.chunks).toBe(3)
    expect(rests).toHaveLength(2)
    expect(await storedExpired()).toBe(0)
  })

  test('a dry run counts what would go and deletes nothing', async () => {
    await purgeExpired(rows, { mode: 'both', expiredBy: nowMillis(), chunkSize: 1000 })
    const who = newUser()
    await write(who, 'prefs', (tx) => tx.putBsos([...records('old', 6, 0), ...records('live', 2)]))

    const report = await purgeExpired(rows, { mode: 'both', expiredBy: nowMillis(), chunkSize: 2, dryRun: true })

    expect(report.dryRun).toBe(true)
    expect(report.rows.bsos).toBe(6)
    expect(report.chunks).toBe(0)
    expect(await storedExpired()).toBe(6)
    const afterDryRun = await purgeExpired(rows, { mode: 'bsos', expiredBy: nowMillis(), chunkSize: 100 })
    expect(afterDryRun.rows.bsos).toBe(6)
  })

  test('a writer running during a purge is never held up for long', async () => {
    const victims = Array.from({ length: 10 }, newUser)
    for (const who of victims) {
      for (let i = 0; i < 5; i++) await write(who, 'history', (tx) => tx.putBsos(records(`x${i}-`, 100, 0)))
    }
    const writer = newUser()
    let purging = true
    const latencies: number[] = []
    const writing = (async () => {
      for (let n = 0; purging; n++) {
        const started = performance.now()
        await write(writer, 'bookmarks', (tx) => tx.putBsos([{ id: `w${n % 20}`, payload: String(n) }]))
        latencies.push(performance.now() - started)
      }
    })()

    const report = await purgeExpired(rows, { mode: 'bsos', expiredBy: nowMillis(), chunkSize: 200 })
    purging = false
    await writing

    expect(report.rows.bsos).toBe(5000)
    expect(report.chunks).toBeGreaterThanOrEqual(25)
    // The writer got through several times while the purge ran (not a rate: PostgreSQL's shared
    // commits take ~50 ms each on a loaded machine, against ~20 ms per chunk).
    expect(latencies.length).toBeGreaterThanOrEqual(3)
    // Generous for a shared, busy machine; a purge in one statement would hold writers for its whole run.
    expect(Math.max(...latencies)).toBeLessThan(1000)
    expect(report.longestChunkMs).toBeLessThan(1000)
  })
})

describe('purge refusals', () => {
  test('Spanner is refused with the reason: its schema deletes expired rows itself', () => {
    const spanner = { engine: 'spanner' } as StorageBackend
    expect(() => expiredRowsOf(spanner)).toThrow(SPANNER_PURGE_REFUSAL)
    expect(SPANNER_PURGE_REFUSAL).toContain('row deletion policies')
  })

  test('a chunk size below one is refused before anything is deleted', async () => {
    const untouched: ExpiredRows = {
      count: () => Promise.reject(new Error('counted')),
      sweep: () => () => Promise.reject(new Error('deleted')),
    }
    await expect(purgeExpired(untouched, { mode: 'both', expiredBy: 0, chunkSize: 0 })).rejects.toThrow('chunk size')
  })
})
