import { afterEach, describe, expect, setSystemTime, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { servedByBinary, serverForSuite } from '../support/server.ts'
import type { StoredBso, SyncClient } from '../support/sync-client.ts'

interface BatchResult {
  batch?: string
  modified?: number
  success: string[]
  failed: Record<string, string>
}


const BATCH_LIFETIME_MS = 2 * 60 * 60 * 1000
/** Query-safe per storage-api.md §13.2: no `+`, `/`, `&`, `#`, `%` or spaces. */
const QUERY_SAFE = /^[A-Za-z0-9_-]+=*$/

async function post(client: SyncClient, path: string, body: unknown, headers?: Record<string, string>) {
  const response = await client.post(path, body, { headers })
  const text = await response.text()
  return { response, status: response.status, text, json: () => JSON.parse(text) as BatchResult }
}

/** POST ?batch=true; expects 202 and returns the new batch id. */
async function createBatch(client: SyncClient, collection: string, records: unknown[] = []): Promise<string> {
  const created = await post(client, `/storage/${collection}?batch=true`, records)
  expect(created.status).toBe(202)
  return created.json().batch as string
}

async function append(client: SyncClient, collection: string, batch: string, records: unknown[]) {
  const appended = await post(client, `/storage/${collection}?batch=${batch}`, records)
  expect(appended.status).toBe(202)
  return appended.json()
}

async function commit(client: SyncClient, collection: string, batch: string, records: unknown[] = []) {
  const committed = await post(client, `/storage/${collection}?batch=${batch}&commit=true`, records)
  expect(committed.status).toBe(200)
  return committed.json()
}

const listing = (client: SyncClient, collection: string) =>
  client.json<StoredBso[]>('GET', `/storage/${collection}?full=1&sort=oldest`)

const ids = async (client: SyncClient, collection: string) => (await listing(client, collection)).map((bso) => bso.id)

/** A well-formed batch id (base64 of the decimal batch number) that was never issued. */
const craftedBatchId = (ms: number) => Buffer.from(String(ms)).toString('base64')

describe.each(backends)('batch uploads on $name', (backend) => {
  const server = serverForSuite(backend)
  afterEach(() => {
    setSystemTime()
  })

  // §13.1, row by row.

  test('POST without batch or commit is a plain POST: 200 with modified and no batch key', async () => {
    const client = server.client()
    const posted = await post(client, '/storage/bookmarks', [{ id: 'a' }])
    expect(posted.status).toBe(200)
    expect(Object.keys(posted.json())).toEqual(['modified', 'success', 'failed'])
  })

  test('POST with commit but no batch answers 400 with body 0 and writes nothing', async () => {
    const client = server.client()
    const posted = await post(client, '/storage/bookmarks?commit=true', [{ id: 'a' }])
    expect(posted.status).toBe(400)
    expect(posted.text).toBe('0')
    expect(await client.json('GET', '/info/collections')).toEqual({})
  })

  test.each(['batch=true', 'batch=TRUE', 'batch=tRuE', 'batch', 'batch='])(
    'POST ?%s creates a batch: 202 with a batch id',
    async (query) => {
      const client = server.client()
      const created = await post(client, `/storage/bookmarks?${query}`, [{ id: 'a' }])
      expect(created.status).toBe(202)
      const body = created.json()
      expect(body.batch).toMatch(QUERY_SAFE)
      expect(body.success).toEqual(['a'])
    },
  )

  test.each(['batch=true&commit=true', 'batch=TRUE&commit=TRUE', 'batch&commit=true', 'batch=&commit=true'])(
    'POST ?%s behaves as a plain POST: 200, records visible, no batch key',
    async (query) => {
      const client = server.client()
      const posted = await post(client, `/storage/bookmarks?${query}`, [{ id: 'a', payload: 'x' }])
      expect(posted.status).toBe(200)
      const body = posted.json()
      expect(Object.keys(body)).toEqual(['modified', 'success', 'failed'])
      expect(posted.response.headers.get('x-last-modified')).toBe((body.modified as number).toFixed(2))
      expect(await listing(client, 'bookmarks')).toEqual([{ id: 'a', modified: body.modified as number, payload: 'x' }])
    },
  )

  test('POST ?batch=<id> appends: 202 with the same batch id', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const appended = await append(client, 'bookmarks', batch, [{ id: 'b' }])
    expect(appended).toEqual({ batch, success: ['b'], failed: {} })
  })

  test('POST ?batch=<id>&commit=true commits: 200 with modified and this request\'s success only', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const committed = await post(client, `/storage/bookmarks?batch=${batch}&commit=true`, [{ id: 'b' }, { id: 'c', nope: 1 }])
    expect(committed.status).toBe(200)
    expect(committed.text).toMatch(/^\{"modified":\d+\.\d{2},"success":\["b"\],"failed":\{"c":"unknown field nope"\}\}$/)
    expect(await ids(client, 'bookmarks')).toEqual(['a', 'b'])
  })

  test.each(['commit=false', 'commit=1', 'commit=yes', 'commit=', 'commit'])(
    'POST ?batch=true&%s (commit not "true") answers 400 with body 0',
    async (query) => {
      const client = server.client()
      const posted = await post(client, `/storage/bookmarks?batch=true&${query}`, [{ id: 'a' }])
      expect(posted.status).toBe(400)
      expect(posted.text).toBe('0')
      expect(await client.json('GET', '/info/collections')).toEqual({})
    },
  )

  test('POST ?batch=<id>&commit=false answers 400 with body 0 and the batch stays open', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const posted = await post(client, `/storage/bookmarks?batch=${batch}&commit=false`, [{ id: 'b' }])
    expect(posted.status).toBe(400)
    expect(posted.text).toBe('0')
    await commit(client, 'bookmarks', batch)
    expect(await ids(client, 'bookmarks')).toEqual(['a'])
  })

  test('POST ?commit=false without batch answers 400 with body 0', async () => {
    const posted = await post(server.client(), '/storage/bookmarks?commit=false', [{ id: 'a' }])
    expect(posted.status).toBe(400)
    expect(posted.text).toBe('0')
  })

  test('commit=TRUE commits, the value being case-insensitive', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const committed = await post(client, `/storage/bookmarks?batch=${batch}&commit=TRUE`, [])
    expect(committed.status).toBe(200)
    expect(await ids(client, 'bookmarks')).toEqual(['a'])
  })

  // Batch ids.

  test('batch ids use only query-safe characters and are never "true"', async () => {
    const client = server.client()
    const batches = [
      await createBatch(client, 'bookmarks'),
      await createBatch(client, 'bookmarks'),
      await createBatch(client, 'history'),
      await createBatch(server.client(), 'bookmarks'),
    ]
    for (const batch of batches) {
      expect(batch).toMatch(QUERY_SAFE)
      expect(batch.toLowerCase()).not.toBe('true')
    }
    expect(new Set(batches.slice(0, 2)).size).toBe(2)
  })

  test('a percent-encoded batch id names the same batch as the verbatim one', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const encoded = [...batch].map((char) => `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')
    const appended = await post(client, `/storage/bookmarks?batch=${encoded}`, [{ id: 'b' }])
    expect(appended.status).toBe(202)
    expect(appended.json().batch).toBe(batch)
    await commit(client, 'bookmarks', batch)
    expect(await ids(client, 'bookmarks')).toEqual(['a', 'b'])
  })

  // 202 responses and visibility.

  test('create and append answer 202 with batch, success, failed and leave X-Last-Modified unchanged', async () => {
    const client = server.client()
    const seeded = await client.json<{ modified: number }>('POST', '/storage/bookmarks', { body: [{ id: 'seed' }] })
    const before = seeded.modified.toFixed(2)
    const created = await post(client, '/storage/bookmarks?batch=true', [{ id: 'a' }, { id: 'bad', x: 1 }])
    expect(created.status).toBe(202)
    expect(created.text).toMatch(/^\{"batch":"[A-Za-z0-9_=-]+","success":\["a"\],"failed":\{"bad":"unknown field x"\}\}$/)
    expect(created.response.headers.get('x-last-modified')).toBe(before)
    const appended = await post(client, `/storage/bookmarks?batch=${created.json().batch}`, [{ id: 'b' }])
    expect(appended.status).toBe(202)
    expect(appended.response.headers.get('x-last-modified')).toBe(before)
    expect((await client.get('/storage/bookmarks')).headers.get('x-last-modified')).toBe(before)
    expect(await client.json('GET', '/info/collections')).toEqual({ bookmarks: seeded.modified })
  })

  test('creating a batch on a new collection answers X-Last-Modified 0.00 and does not create the collection', async () => {
    const client = server.client()
    const created = await post(client, '/storage/tabs?batch=true', [{ id: 'a' }])
    expect(created.status).toBe(202)
    expect(created.response.headers.get('x-last-modified')).toBe('0.00')
    expect(await client.json('GET', '/info/collections')).toEqual({})
  })

  test('staged records are invisible until commit', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'tabs', [{ id: 'a', payload: 'x'.repeat(100) }])
    await append(client, 'tabs', batch, [{ id: 'b', payload: 'y' }])
    expect(await client.json('GET', '/storage/tabs')).toEqual([])
    expect((await client.get('/storage/tabs/a')).status).toBe(404)
    expect(await client.json('GET', '/info/collection_counts')).toEqual({})
    expect(await client.json('GET', '/info/collection_usage')).toEqual({})
    expect(await (await client.get('/info/quota')).text()).toBe('[0,null]')
    await commit(client, 'tabs', batch)
    expect(await ids(client, 'tabs')).toEqual(['a', 'b'])
  })

  test('commit applies staged and request records with one timestamp T, equal to X-Last-Modified', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a', payload: 'one', sortindex: 1 }])
    await append(client, 'bookmarks', batch, [{ id: 'b', payload: 'two' }])
    const committed = await post(client, `/storage/bookmarks?batch=${batch}&commit=true`, [{ id: 'c', payload: 'three' }])
    const modified = committed.json().modified as number
    expect(committed.response.headers.get('x-last-modified')).toBe(modified.toFixed(2))
    expect(committed.response.headers.get('x-weave-timestamp')).toBe(modified.toFixed(2))
    expect(await listing(client, 'bookmarks')).toEqual([
      { id: 'a', modified, payload: 'one', sortindex: 1 },
      { id: 'b', modified, payload: 'two' },
      { id: 'c', modified, payload: 'three' },
    ])
    expect(await client.json('GET', '/info/collections')).toEqual({ bookmarks: modified })
  })

  test('a record both staged and in the commit request ends with the commit request\'s values', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a', payload: 'staged', sortindex: 4 }])
    const committed = await commit(client, 'bookmarks', batch, [{ id: 'a', payload: 'committed' }])
    expect(committed.success).toEqual(['a'])
    expect(await listing(client, 'bookmarks')).toEqual([
      { id: 'a', modified: committed.modified as number, payload: 'committed', sortindex: 4 },
    ])
  })

  test('a later append of the same id replaces the staged fields it carries and keeps the others', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a', payload: 'first', sortindex: 5 }, { id: 'b', payload: 'b1' }])
    await append(client, 'bookmarks', batch, [{ id: 'a', payload: 'second' }])
    const committed = await commit(client, 'bookmarks', batch)
    expect(await listing(client, 'bookmarks')).toEqual([
      { id: 'a', modified: committed.modified as number, payload: 'second', sortindex: 5 },
      { id: 'b', modified: committed.modified as number, payload: 'b1' },
    ])
  })

  test('records that fail validation are reported and never staged', async () => {
    const client = server.client()
    const created = await post(client, '/storage/bookmarks?batch=true', [{ id: 'ok' }, { id: 'bad', payload: 1 }])
    expect(created.json().failed).toEqual({ bad: 'invalid json' })
    await commit(client, 'bookmarks', created.json().batch as string)
    expect(await ids(client, 'bookmarks')).toEqual(['ok'])
  })

  test('a staged ttl-only record gets modified = T at commit', async () => {
    const client = server.client()
    const first = await client.json<{ modified: number }>('POST', '/storage/clients', { body: [{ id: 'a', payload: 'x', sortindex: 2 }] })
    const batch = await createBatch(client, 'clients', [{ id: 'a', ttl: 3600 }])
    const committed = await commit(client, 'clients', batch)
    expect(committed.modified).toBeGreaterThan(first.modified)
    expect(await client.json('GET', '/storage/clients/a')).toEqual({ id: 'a', modified: committed.modified, payload: 'x', sortindex: 2 })
  })

  test('a staged ttl-only record for a new id is created with an empty payload and T', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'clients', [{ id: 'fresh', ttl: 3600 }])
    const committed = await commit(client, 'clients', batch)
    expect(await client.json('GET', '/storage/clients/fresh')).toEqual({ id: 'fresh', modified: committed.modified, payload: '' })
  })

  test('a ttl-only record in the commit request itself keeps its modified, like a plain POST', async () => {
    const client = server.client()
    const first = await client.json<{ modified: number }>('POST', '/storage/clients', { body: [{ id: 'a', payload: 'x' }] })
    const batch = await createBatch(client, 'clients', [{ id: 'b', payload: 'y' }])
    const committed = await commit(client, 'clients', batch, [{ id: 'a', ttl: 3600 }])
    expect(committed.modified).toBeGreaterThan(first.modified)
    expect(await client.json('GET', '/storage/clients/a')).toEqual({ id: 'a', modified: first.modified, payload: 'x' })
  })

  test.skipIf(servedByBinary)('a staged ttl counts from the commit time, not from the upload', async () => {
    const client = server.client(undefined, { expiresInSeconds: 86_400 })
    const start = Date.now()
    const batch = await createBatch(client, 'tabs', [{ id: 'a', payload: 'x', ttl: 10 }])
    setSystemTime(new Date(start + 8_000))
    await commit(client, 'tabs', batch)
    // 15 s after the upload: expired if the ttl had counted from the upload.
    setSystemTime(new Date(start + 15_000))
    expect(await ids(client, 'tabs')).toEqual(['a'])
    setSystemTime(new Date(start + 19_000))
    expect(await ids(client, 'tabs')).toEqual([])
  })

  test('commit with an empty [] body commits the staged records', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const committed = await post(client, `/storage/bookmarks?batch=${batch}&commit=true`, '[]')
    expect(committed.status).toBe(200)
    expect(committed.json()).toEqual({ modified: committed.json().modified, success: [], failed: {} })
    expect(await ids(client, 'bookmarks')).toEqual(['a'])
  })

  test('commit with an empty application/newlines body commits the staged records', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const committed = await client.post(`/storage/bookmarks?batch=${batch}&commit=true`, '', { contentType: 'application/newlines' })
    expect(committed.status).toBe(200)
    expect(await ids(client, 'bookmarks')).toEqual(['a'])
  })

  test.each([
    ['an empty JSON body', '', 'application/json'],
    ['{}', '{}', 'application/json'],
    ['a newline body of "\\n"', '\n', 'application/newlines'],
    ['a newline body whose line is {}', '{}', 'application/newlines'],
    ['a newline body whose line is []', '[]', 'application/newlines'],
  ])('commit with %s answers 400 with body 8 and the batch stays open', async (_, body, contentType) => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const committed = await client.post(`/storage/bookmarks?batch=${batch}&commit=true`, body, { contentType })
    expect(committed.status).toBe(400)
    expect(await committed.text()).toBe('8')
    expect(await client.json('GET', '/storage/bookmarks')).toEqual([])
    await commit(client, 'bookmarks', batch)
    expect(await ids(client, 'bookmarks')).toEqual(['a'])
  })

  test('committing an empty batch still moves the collection timestamp to T', async () => {
    const client = server.client()
    const seeded = await client.json<{ modified: number }>('POST', '/storage/bookmarks', { body: [{ id: 'seed' }] })
    const batch = await createBatch(client, 'bookmarks')
    const committed = await commit(client, 'bookmarks', batch)
    expect(committed.modified).toBeGreaterThan(seeded.modified)
    expect((await client.get('/storage/bookmarks')).headers.get('x-last-modified')).toBe((committed.modified as number).toFixed(2))
    expect((await listing(client, 'bookmarks'))[0]?.modified).toBe(seeded.modified)
  })

  // Batches that cannot be used.

  test('an unknown but well-formed batch id answers 400 with body 0 on append and on commit', async () => {
    const client = server.client()
    const unknown = craftedBatchId(Date.now() - 1000)
    for (const query of [`batch=${unknown}`, `batch=${unknown}&commit=true`]) {
      const posted = await post(client, `/storage/bookmarks?${query}`, [{ id: 'a' }])
      expect(posted.status).toBe(400)
      expect(posted.text).toBe('0')
    }
    expect(await client.json('GET', '/info/collections')).toEqual({})
  })

  test('a committed batch id answers 400 with body 0 on append and on commit', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const committed = await commit(client, 'bookmarks', batch)
    for (const query of [`batch=${batch}`, `batch=${batch}&commit=true`]) {
      const posted = await post(client, `/storage/bookmarks?${query}`, [{ id: 'late' }])
      expect(posted.status).toBe(400)
      expect(posted.text).toBe('0')
    }
    expect(await ids(client, 'bookmarks')).toEqual(['a'])
    expect((await client.get('/storage/bookmarks')).headers.get('x-last-modified')).toBe((committed.modified as number).toFixed(2))
  })

  test('another user\'s batch id answers 400 and the batch stays usable by its owner', async () => {
    const owner = server.client()
    const intruder = server.client()
    const batch = await createBatch(owner, 'bookmarks', [{ id: 'a' }])
    for (const query of [`batch=${batch}`, `batch=${batch}&commit=true`]) {
      const posted = await post(intruder, `/storage/bookmarks?${query}`, [{ id: 'intruder' }])
      expect(posted.status).toBe(400)
      expect(posted.text).toBe('0')
    }
    await append(owner, 'bookmarks', batch, [{ id: 'b' }])
    await commit(owner, 'bookmarks', batch)
    expect(await ids(owner, 'bookmarks')).toEqual(['a', 'b'])
    expect(await intruder.json('GET', '/info/collections')).toEqual({})
  })

  test('a batch id used on another collection answers 400 and stays usable on its own collection', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    for (const query of [`batch=${batch}`, `batch=${batch}&commit=true`]) {
      const posted = await post(client, `/storage/history?${query}`, [{ id: 'elsewhere' }])
      expect(posted.status).toBe(400)
      expect(posted.text).toBe('0')
    }
    await append(client, 'bookmarks', batch, [{ id: 'b' }])
    await commit(client, 'bookmarks', batch)
    expect(await ids(client, 'bookmarks')).toEqual(['a', 'b'])
    expect(await client.json('GET', '/storage/history')).toEqual([])
  })

  test.each(['sammich', 'c2FtbWljaA==', 'MTIz!', '-5', '1.5', 'OTk5OTk5OTk5OTk5OTk5OTk5OTk5'])(
    'a malformed batch id %s answers 400 with body 0 and writes nothing',
    async (batch) => {
      const client = server.client()
      for (const query of [`batch=${batch}`, `batch=${batch}&commit=true`]) {
        const posted = await post(client, `/storage/bookmarks?${query}`, [{ id: 'a' }])
        expect(posted.status).toBe(400)
        expect(posted.text).toBe('0')
      }
      expect(await client.json('GET', '/info/collections')).toEqual({})
    },
  )

  test('a batch that is never committed never becomes visible', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'staged-1' }])
    await append(client, 'bookmarks', batch, [{ id: 'staged-2' }])
    await client.json('POST', '/storage/bookmarks', { body: [{ id: 'plain' }] })
    await client.json('PUT', '/storage/bookmarks/put', { body: { payload: 'x' } })
    await client.json('DELETE', '/storage/bookmarks?ids=plain')
    expect(await ids(client, 'bookmarks')).toEqual(['put'])
    expect(await client.json('GET', '/info/collection_counts')).toEqual({ bookmarks: 1 })
  })

  test('a well-formed id whose timestamp is more than 2 hours old answers 400', async () => {
    const client = server.client()
    const stale = craftedBatchId(Date.now() - BATCH_LIFETIME_MS - 60_000)
    const posted = await post(client, `/storage/bookmarks?batch=${stale}&commit=true`, [{ id: 'a' }])
    expect(posted.status).toBe(400)
    expect(posted.text).toBe('0')
  })

  test.skipIf(servedByBinary)('a batch older than 2 hours can no longer be appended to or committed, and nothing of it shows', async () => {
    const client = server.client(undefined, { expiresInSeconds: 86_400 })
    const start = Date.now()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    setSystemTime(new Date(start + BATCH_LIFETIME_MS + 1_000))
    for (const query of [`batch=${batch}`, `batch=${batch}&commit=true`]) {
      const posted = await post(client, `/storage/bookmarks?${query}`, [{ id: 'b' }])
      expect(posted.status).toBe(400)
      expect(posted.text).toBe('0')
    }
    expect(await client.json('GET', '/storage/bookmarks')).toEqual([])
  })

  test.skipIf(servedByBinary)('a batch just under 2 hours old still takes appends and commits', async () => {
    const client = server.client(undefined, { expiresInSeconds: 86_400 })
    const start = Date.now()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    setSystemTime(new Date(start + BATCH_LIFETIME_MS - 60_000))
    await append(client, 'bookmarks', batch, [{ id: 'b' }])
    await commit(client, 'bookmarks', batch)
    expect(await ids(client, 'bookmarks')).toEqual(['a', 'b'])
  })

  // Preconditions.

  test('append with X-If-Unmodified-Since equal to the collection timestamp answers 202', async () => {
    const client = server.client()
    const seeded = await client.json<{ modified: number }>('POST', '/storage/bookmarks', { body: [{ id: 'seed' }] })
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const appended = await post(client, `/storage/bookmarks?batch=${batch}`, [{ id: 'b' }], {
      'x-if-unmodified-since': seeded.modified.toFixed(2),
    })
    expect(appended.status).toBe(202)
  })

  test('append with X-If-Unmodified-Since older than the collection answers 412 and stages nothing', async () => {
    const client = server.client()
    const first = await client.json<{ modified: number }>('POST', '/storage/bookmarks', { body: [{ id: 'one' }] })
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const second = await client.json<{ modified: number }>('POST', '/storage/bookmarks', { body: [{ id: 'two' }] })
    const appended = await post(client, `/storage/bookmarks?batch=${batch}`, [{ id: 'b' }], {
      'x-if-unmodified-since': first.modified.toFixed(2),
    })
    expect(appended.status).toBe(412)
    expect(appended.text).toBe('')
    expect(appended.response.headers.get('x-last-modified')).toBe(second.modified.toFixed(2))
    await commit(client, 'bookmarks', batch)
    expect(await ids(client, 'bookmarks')).toEqual(['one', 'two', 'a'])
  })

  test('commit with X-If-Unmodified-Since older than the collection answers 412 and the batch stays usable', async () => {
    const client = server.client()
    const first = await client.json<{ modified: number }>('POST', '/storage/bookmarks', { body: [{ id: 'one' }] })
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const second = await client.json<{ modified: number }>('POST', '/storage/bookmarks', { body: [{ id: 'two' }] })
    const committed = await post(client, `/storage/bookmarks?batch=${batch}&commit=true`, [{ id: 'b' }], {
      'x-if-unmodified-since': first.modified.toFixed(2),
    })
    expect(committed.status).toBe(412)
    expect(await ids(client, 'bookmarks')).toEqual(['one', 'two'])
    const retried = await post(client, `/storage/bookmarks?batch=${batch}&commit=true`, [{ id: 'b' }], {
      'x-if-unmodified-since': second.modified.toFixed(2),
    })
    expect(retried.status).toBe(200)
    expect(await ids(client, 'bookmarks')).toEqual(['one', 'two', 'a', 'b'])
  })

  test('X-Weave-Total-Records over max_total_records on an append answers 400 with body 17', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a' }])
    const appended = await post(client, `/storage/bookmarks?batch=${batch}`, [{ id: 'b' }], { 'x-weave-total-records': '10001' })
    expect(appended.status).toBe(400)
    expect(appended.text).toBe('17')
    await commit(client, 'bookmarks', batch)
    expect(await ids(client, 'bookmarks')).toEqual(['a'])
  })
})

describe.each(backends)('batch uploads under an enforced quota on $name', (backend) => {
  const server = serverForSuite(backend, {
      syncstorage: { enable_quota: true, enforce_quota: true, limits: { max_quota_limit: 100 } },
    })

  test('creating a batch whose records reach max_quota_limit answers 403 with body 14', async () => {
    const client = server.client()
    const created = await post(client, '/storage/bookmarks?batch=true', [{ id: 'a', payload: 'x'.repeat(100) }])
    expect(created.status).toBe(403)
    expect(created.text).toBe('14')
  })

  test('an append that brings staged bytes to the limit answers 403 and stages nothing', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a', payload: 'x'.repeat(60) }])
    const appended = await post(client, `/storage/bookmarks?batch=${batch}`, [{ id: 'b', payload: 'y'.repeat(40) }])
    expect(appended.status).toBe(403)
    expect(appended.text).toBe('14')
    await commit(client, 'bookmarks', batch)
    expect(await ids(client, 'bookmarks')).toEqual(['a'])
  })

  test('re-sending a staged id counts its new size only', async () => {
    const client = server.client()
    const batch = await createBatch(client, 'bookmarks', [{ id: 'a', payload: 'x'.repeat(60) }])
    await append(client, 'bookmarks', batch, [{ id: 'a', payload: 'y'.repeat(60) }])
    await commit(client, 'bookmarks', batch)
    expect((await listing(client, 'bookmarks'))[0]?.payload).toBe('y'.repeat(60))
  })

  test('stored usage counts toward a batch\'s quota', async () => {
    const client = server.client()
    await client.json('POST', '/storage/history', { body: [{ id: 'h', payload: 'x'.repeat(70) }] })
    const created = await post(client, '/storage/bookmarks?batch=true', [{ id: 'a', payload: 'y'.repeat(30) }])
    expect(created.status).toBe(403)
    expect(created.text).toBe('14')
  })
})
