import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { SyncClient } from '../support/sync-client.ts'

/**
 * Two servers on one database, as a load balancer sees two processes: each has its own pool,
 * caches and clock reads, and one user's requests alternate between them.
 */
const SHARED_SECRET = 'the secret both servers share, long enough'

describe.each(backends)('two servers on one $name database', (backend) => {
  let first: TestServer
  let second: TestServer
  beforeAll(async () => {
    const url = await backend.freshDatabaseUrl()
    first = await startTestServer(url, { master_secret: SHARED_SECRET })
    second = await startTestServer(url, { master_secret: SHARED_SECRET })
  })
  afterAll(async () => {
    await first.stop()
    await second.stop()
  })

  /** The same user (same token) talking to either server. */
  const clients = () => {
    const a = first.client()
    const b = new SyncClient(second.url, SHARED_SECRET, a.uid)
    return [a, b] as const
  }

  test('a batch created on one server, appended on the other and committed on the first is complete', async () => {
    const [a, b] = clients()
    const created = await a.post('/storage/history?batch=true', [{ id: 'r1', payload: 'one' }])
    expect(created.status).toBe(202)
    const { batch } = (await created.json()) as { batch: string }
    expect((await b.post(`/storage/history?batch=${batch}`, [{ id: 'r2', payload: 'two' }])).status).toBe(202)
    const committed = await a.post(`/storage/history?batch=${batch}&commit=true`, [{ id: 'r3', payload: 'three' }])
    expect(committed.status).toBe(200)
    expect(await b.json('GET', '/storage/history?sort=oldest')).toEqual(['r1', 'r2', 'r3'])
  })

  test('alternating writes see each other and keep timestamps strictly increasing', async () => {
    const [a, b] = clients()
    const stamps: number[] = []
    for (let i = 0; i < 6; i++) {
      const client = i % 2 === 0 ? a : b
      const response = await client.put(`/storage/tabs/t${i}`, { payload: String(i) })
      expect(response.status).toBe(200)
      stamps.push(Number(await response.text()))
    }
    expect(stamps).toEqual([...stamps].sort((x, y) => x - y))
    expect(new Set(stamps).size).toBe(stamps.length)
    expect(await a.json('GET', '/storage/tabs?sort=oldest')).toEqual(['t0', 't1', 't2', 't3', 't4', 't5'])
  })

  test('a new custom collection created through one server is found through the other', async () => {
    const [a, b] = clients()
    await a.put('/storage/new-engine/x', { payload: 'x' })
    expect(await b.json('GET', '/storage/new-engine')).toEqual(['x'])
    await b.put('/storage/new-engine/y', { payload: 'y' })
    expect(await a.json('GET', '/storage/new-engine?sort=oldest')).toEqual(['x', 'y'])
  })
})
