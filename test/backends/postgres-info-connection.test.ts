import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { openStorage } from '../../src/db/open.ts'
import type { StorageBackend, StorageUser } from '../../src/db/types.ts'
import { backendNamed } from '../support/backends.ts'

const backend = backendNamed('postgres')

/**
 * The info/* reads of all users share one connection of the pool (PostgresPool.rows): one
 * database process answers them all, and the pool never opens more than `poolMaxSize`.
 */
;(backend === undefined ? describe.skip : describe)('postgres info/* connection', () => {
  const POOL = 4
  const user = (uid: number): StorageUser => ({ uid, fxaUid: '', fxaKid: '' })
  const info = (storage: StorageBackend, uid: number) =>
    storage.withTransaction({ user: user(uid), mode: 'read' }, async (tx) => [await tx.storageTimestamp(), (await tx.collectionTimestamps()).get('tabs')])

  /** Database processes of this database opened by the server, by what they last ran. */
  async function serverBackends(admin: postgres.Sql, database: string): Promise<{ pid: number; query: string }[]> {
    return admin`SELECT pid, query FROM pg_stat_activity WHERE datname = ${database} AND application_name = 'syncserver'`
  }

  /** Storage on a fresh database, and a connection of the test's own to watch the server's. */
  async function withFreshStorage(work: (storage: StorageBackend, backends: () => Promise<{ pid: number; query: string }[]>) => Promise<void>): Promise<void> {
    const url = await backend!.freshDatabaseUrl()
    const database = new URL(url).pathname.slice(1)
    const storage = await openStorage(url, { runMigrations: true, poolMaxSize: POOL, connectionTimeoutSeconds: 5 })
    const admin = postgres(url, { max: 1, onnotice: () => {} })
    try {
      await work(storage, () => serverBackends(admin, database))
    } finally {
      await admin.end({ timeout: 5 })
      await storage.close()
    }
  }

  test('concurrent info reads of many users, in many turns, all run on one database process', () =>
    withFreshStorage(async (storage, backends) => {
      const uids = Array.from({ length: 24 }, (_, i) => 100 + i)
      for (const uid of uids.slice(0, 3)) {
        await storage.withTransaction({ user: user(uid), mode: 'write', collection: 'tabs' }, (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
      }
      // Each read starts in a turn of its own, so earlier statements are still in flight.
      const reads: Promise<unknown[]>[] = []
      for (const uid of uids) {
        reads.push(info(storage, uid))
        await new Promise((resolve) => setImmediate(resolve))
      }
      const answers = await Promise.all(reads)
      expect(answers.filter(([, tabs]) => tabs !== undefined)).toHaveLength(3)
      // pg_stat_activity shows each process's last statement: only one last ran the info read.
      const processes = await backends()
      expect(processes.filter((row) => row.query.includes('json_object_agg'))).toHaveLength(1)
      expect(processes.length).toBeLessThanOrEqual(POOL)
    }), 30_000)

  test('with the info connection and every transaction connection busy, the pool stays within poolMaxSize', () =>
    withFreshStorage(async (storage, backends) => {
      const writes = Array.from({ length: 12 }, (_, i) =>
        storage.withTransaction({ user: user(200 + i), mode: 'write', collection: 'tabs' }, (tx) => tx.putBsos([{ id: `w${i}`, payload: 'x' }])),
      )
      const reads = Array.from({ length: 12 }, (_, i) => info(storage, 200 + i))
      let most = 0
      const settled = Promise.all([...writes, ...reads])
      while (!(await Promise.race([settled.then(() => true), Bun.sleep(5).then(() => false)]))) {
        most = Math.max(most, (await backends()).length)
      }
      most = Math.max(most, (await backends()).length)
      expect(most).toBeGreaterThan(1)
      expect(most).toBeLessThanOrEqual(POOL)
    }), 30_000)
})
