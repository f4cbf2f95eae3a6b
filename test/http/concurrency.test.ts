import { describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { serverForSuite } from '../support/server.ts'
import type { StoredBso, SyncClient } from '../support/sync-client.ts'

interface Outcome {
  status: number
  body: { modified?: number; batch?: string; success?: string[] } | number
  retryAfter: string | null
}

async function outcome(response: Promise<Response>): Promise<Outcome> {
  const settled = await response
  return { status: settled.status, body: (await settled.json()) as Outcome['body'], retryAfter: settled.headers.get('retry-after') }
}

/** A write may lose the race for its collection: then it must be a 503 with Retry-After and body 0. */
function expectSuccessOrRetry(result: Outcome, successStatus: number): void {
  if (result.status === successStatus) return
  expect(result).toEqual({ status: 503, body: 0, retryAfter: expect.stringMatching(/^\d+$/) })
}

const modifiedOf = (result: Outcome) => (result.body as { modified: number }).modified

const listing = (client: SyncClient, collection: string) =>
  client.json<StoredBso[]>('GET', `/storage/${collection}?full=1&sort=oldest`)

async function createBatch(client: SyncClient, collection: string, records: unknown[]): Promise<string> {
  const response = await client.post(`/storage/${collection}?batch=true`, records)
  expect(response.status).toBe(202)
  return ((await response.json()) as { batch: string }).batch
}

describe.each(backends)('concurrent writes on $name', (backend) => {
  const server = serverForSuite(backend)

  test('concurrent POSTs to one collection each succeed with a distinct timestamp or answer 503, and lose no record', async () => {
    const client = server.client()
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) => outcome(client.post('/storage/history', [{ id: `r${i}`, payload: `p${i}` }]))),
    )
    results.forEach((result) => expectSuccessOrRetry(result, 200))
    const written = results.flatMap((result, i) => (result.status === 200 ? [{ id: `r${i}`, modified: modifiedOf(result), payload: `p${i}` }] : []))
    expect(written.length).toBeGreaterThan(0)
    expect(new Set(written.map((record) => record.modified)).size).toBe(written.length)
    const stored = await listing(client, 'history')
    expect(stored).toEqual(written.sort((a, b) => a.modified - b.modified))
    const latest = Math.max(...written.map((record) => record.modified))
    expect((await client.get('/storage/history')).headers.get('x-last-modified')).toBe(latest.toFixed(2))
  })

  test('back-to-back writes to one collection get strictly increasing timestamps', async () => {
    const client = server.client()
    const stamps: number[] = []
    for (let i = 0; i < 15; i++) {
      const response = await client.post('/storage/history', [{ id: `r${i}` }])
      expect(response.status).toBe(200)
      stamps.push(((await response.json()) as { modified: number }).modified)
    }
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1] as number)
  })

  test('concurrent POSTs of one id leave the version with the latest timestamp', async () => {
    const client = server.client()
    const results = await Promise.all(
      Array.from({ length: 15 }, (_, i) => outcome(client.post('/storage/prefs', [{ id: 'shared', payload: `v${i}` }]))),
    )
    results.forEach((result) => expectSuccessOrRetry(result, 200))
    const winners = results.map((result, i) => ({ result, i })).filter(({ result }) => result.status === 200)
    const last = winners.reduce((a, b) => (modifiedOf(b.result) > modifiedOf(a.result) ? b : a))
    expect(await client.json('GET', '/storage/prefs/shared')).toEqual({ id: 'shared', modified: modifiedOf(last.result), payload: `v${last.i}` })
  })

  test('concurrent writes by different users all succeed and stay apart', async () => {
    const clients = Array.from({ length: 10 }, () => server.client())
    const results = await Promise.all(clients.map((client, i) => outcome(client.post('/storage/tabs', [{ id: `u${i}` }]))))
    expect(results.map((result) => result.status)).toEqual(clients.map(() => 200))
    for (const [i, client] of clients.entries()) expect(await client.json('GET', '/storage/tabs')).toEqual([`u${i}`])
  })

  test('concurrent POSTs to different collections of one user all succeed', async () => {
    const client = server.client()
    const collections = ['bookmarks', 'history', 'tabs', 'forms', 'prefs', 'passwords']
    const results = await Promise.all(collections.map((name) => outcome(client.post(`/storage/${name}`, [{ id: name }]))))
    expect(results.map((result) => result.status)).toEqual(collections.map(() => 200))
    expect(Object.keys(await client.json<Record<string, number>>('GET', '/info/collections')).sort()).toEqual([...collections].sort())
  })
})

describe.each(backends)('concurrent batches on $name', (backend) => {
  const server = serverForSuite(backend)

  test('batches created concurrently on one collection get distinct ids', async () => {
    const client = server.client()
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => outcome(client.post('/storage/bookmarks?batch=true', [{ id: `b${i}` }]))),
    )
    results.forEach((result) => expectSuccessOrRetry(result, 202))
    const created = results.filter((result) => result.status === 202).map((result) => (result.body as { batch: string }).batch)
    expect(created.length).toBeGreaterThan(0)
    expect(new Set(created).size).toBe(created.length)
  })

  test('concurrent appends to two batches of one user never land in the other batch', async () => {
    const client = server.client()
    const first = await createBatch(client, 'bookmarks', [{ id: 'shared', payload: 'first' }])
    const second = await createBatch(client, 'bookmarks', [{ id: 'shared', payload: 'second' }])
    const appends = Array.from({ length: 10 }, (_, i) => [
      outcome(client.post(`/storage/bookmarks?batch=${first}`, [{ id: `a${i}`, payload: 'first' }])),
      outcome(client.post(`/storage/bookmarks?batch=${second}`, [{ id: `b${i}`, payload: 'second' }])),
    ]).flat()
    const results = await Promise.all(appends)
    expect(results.map((result) => result.status)).toEqual(appends.map(() => 202))

    expect((await client.post(`/storage/bookmarks?batch=${first}&commit=true`, [])).status).toBe(200)
    const afterFirst = await listing(client, 'bookmarks')
    expect(afterFirst.map((bso) => bso.id).sort()).toEqual(['shared', ...Array.from({ length: 10 }, (_, i) => `a${i}`)].sort())
    expect(afterFirst.every((bso) => bso.payload === 'first')).toBe(true)

    expect((await client.post(`/storage/bookmarks?batch=${second}&commit=true`, [])).status).toBe(200)
    const afterSecond = await listing(client, 'bookmarks')
    expect(afterSecond).toHaveLength(21)
    expect(afterSecond.filter((bso) => bso.id.startsWith('b')).every((bso) => bso.payload === 'second')).toBe(true)
    expect(afterSecond.find((bso) => bso.id === 'shared')?.payload).toBe('second')
  })

  test('concurrent commits of different batches each apply their own records with their own timestamp', async () => {
    const client = server.client()
    const batches: string[] = []
    for (let i = 0; i < 5; i++) batches.push(await createBatch(client, 'history', [{ id: `h${i}-1` }, { id: `h${i}-2` }]))
    const results = await Promise.all(batches.map((batch) => outcome(client.post(`/storage/history?batch=${batch}&commit=true`, []))))
    results.forEach((result) => expectSuccessOrRetry(result, 200))
    const committed = results.map((result, i) => ({ result, i })).filter(({ result }) => result.status === 200)
    expect(committed.length).toBeGreaterThan(0)
    expect(new Set(committed.map(({ result }) => modifiedOf(result))).size).toBe(committed.length)
    const stored = await listing(client, 'history')
    const expected = committed.flatMap(({ result, i }) => [
      { id: `h${i}-1`, modified: modifiedOf(result), payload: '' },
      { id: `h${i}-2`, modified: modifiedOf(result), payload: '' },
    ])
    expect(stored).toEqual(expected.sort((a, b) => a.modified - b.modified || a.id.localeCompare(b.id)))
  })

  test('committing one batch twice at once applies it once: one 200, one 400', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'forms', [{ id: 'a' }])
    const results = await Promise.all([
      outcome(client.post(`/storage/forms?batch=${batch}&commit=true`, [])),
      outcome(client.post(`/storage/forms?batch=${batch}&commit=true`, [])),
    ])
    expect(results.map((result) => result.status).sort()).toEqual([200, 400])
    const winner = results.find((result) => result.status === 200) as Outcome
    expect(await listing(client, 'forms')).toEqual([{ id: 'a', modified: modifiedOf(winner), payload: '' }])
  })

  test('a commit racing an append to the same batch either includes the append or refuses it', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'forms', [{ id: 'a' }])
    const [appended, committed] = await Promise.all([
      outcome(client.post(`/storage/forms?batch=${batch}`, [{ id: 'late' }])),
      outcome(client.post(`/storage/forms?batch=${batch}&commit=true`, [])),
    ])
    expect(committed.status).toBe(200)
    expect([202, 400]).toContain(appended.status)
    const ids = (await listing(client, 'forms')).map((bso) => bso.id)
    expect(ids).toEqual(appended.status === 202 ? ['a', 'late'] : ['a'])
  })
})
