import { describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { serverForSuite } from '../support/server.ts'
import type { SyncClient } from '../support/sync-client.ts'

interface Record {
  id: string
  modified: number
  payload: string
  sortindex?: number
}

/** Writes records one request each, so every record has its own timestamp; returns them. */
async function writeSeparately(client: SyncClient, collection: string, ids: string[]): Promise<number[]> {
  const stamps: number[] = []
  for (const [index, id] of ids.entries()) {
    const response = await client.put(`/storage/${collection}/${id}`, { payload: `p-${id}`, sortindex: index })
    stamps.push(Number(await response.text()))
  }
  return stamps
}

/** Follows X-Weave-Next-Offset until the listing ends; returns every page's items in order. */
async function pageThrough(client: SyncClient, path: string): Promise<unknown[]> {
  const items: unknown[] = []
  let offset: string | null = null
  for (let pages = 0; pages < 100; pages++) {
    const response = await client.get(offset === null ? path : `${path}&offset=${encodeURIComponent(offset)}`)
    expect(response.status).toBe(200)
    items.push(...((await response.json()) as unknown[]))
    offset = response.headers.get('x-weave-next-offset')
    if (offset === null) return items
  }
  throw new Error('pagination did not end')
}

describe.each(backends)('GET and DELETE of collections on $name', (backend) => {
  const server = serverForSuite(backend)

  test('an unknown collection lists [] with X-Last-Modified 0.00, never 404', async () => {
    const response = await server.client().get('/storage/meta')
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('[]')
    expect(response.headers.get('x-last-modified')).toBe('0.00')
    expect(response.headers.get('x-weave-records')).toBe('0')
  })

  test('without full the listing is ids, newest first', async () => {
    const client = server.client()
    await writeSeparately(client, 'tabs', ['a', 'b', 'c'])
    const response = await client.get('/storage/tabs')
    expect(await response.json()).toEqual(['c', 'b', 'a'])
    expect(response.headers.get('x-weave-records')).toBe('3')
  })

  test('full=1 lists whole records; sortindex appears only when set', async () => {
    const client = server.client()
    await client.post('/storage/forms', [{ id: 'a', payload: 'x', sortindex: 5 }, { id: 'b', payload: 'y' }])
    const records = (await client.json('GET', '/storage/forms?full=1&sort=index')) as Record[]
    expect(records.map((r) => Object.keys(r))).toEqual([['id', 'modified', 'payload', 'sortindex'], ['id', 'modified', 'payload']])
  })

  test('newer and older are strict bounds on modified', async () => {
    const client = server.client()
    const [, second] = await writeSeparately(client, 'history', ['a', 'b', 'c'])
    expect(await client.json('GET', `/storage/history?newer=${second!.toFixed(2)}`)).toEqual(['c'])
    expect(await client.json('GET', `/storage/history?older=${second!.toFixed(2)}`)).toEqual(['a'])
  })

  test('ids filters the listing, and ids=test-0%2Ctest-1 names two ids', async () => {
    const client = server.client()
    await writeSeparately(client, 'clients', ['test-0', 'test-1', 'test-2'])
    expect(await client.json('GET', '/storage/clients?ids=test-0%2Ctest-1&sort=oldest')).toEqual(['test-0', 'test-1'])
    expect(await client.json('GET', '/storage/clients?ids=test-2, nothing')).toEqual(['test-2'])
  })

  test('sort=oldest, newest and index order the listing', async () => {
    const client = server.client()
    await writeSeparately(client, 'bookmarks', ['a', 'b', 'c'])
    await client.put('/storage/bookmarks/b', { sortindex: 100 })
    expect(await client.json('GET', '/storage/bookmarks?sort=oldest')).toEqual(['a', 'c', 'b'])
    expect(await client.json('GET', '/storage/bookmarks?sort=newest')).toEqual(['b', 'c', 'a'])
    expect(await client.json('GET', '/storage/bookmarks?sort=index')).toEqual(['b', 'c', 'a'])
  })

  test('records with no sortindex come last in sort=index', async () => {
    const client = server.client()
    await client.post('/storage/addons', [{ id: 'none', payload: 'x' }, { id: 'low', payload: 'x', sortindex: -5 }])
    expect(await client.json('GET', '/storage/addons?sort=index')).toEqual(['low', 'none'])
  })

  for (const sort of ['newest', 'oldest', 'index', 'none']) {
    test(`paging with limit and offset under sort=${sort} returns the unpaged sequence`, async () => {
      const client = server.client()
      // One POST gives many records the same timestamp: pages must still split them exactly.
      await client.post('/storage/history', Array.from({ length: 7 }, (_, i) => ({ id: `same${i}`, payload: 'x', sortindex: i % 3 })))
      await writeSeparately(client, 'history', ['x1', 'x2', 'x3'])
      const whole = await client.json('GET', `/storage/history?full=1&sort=${sort}`)
      expect(await pageThrough(client, `/storage/history?full=1&sort=${sort}&limit=3`)).toEqual(whole as unknown[])
      const ids = await client.json('GET', `/storage/history?sort=${sort}`)
      expect(await pageThrough(client, `/storage/history?sort=${sort}&limit=4`)).toEqual(ids as unknown[])
    })
  }

  test('a page that has more sets X-Weave-Next-Offset and the last page does not', async () => {
    const client = server.client()
    await writeSeparately(client, 'prefs', ['a', 'b'])
    const first = await client.get('/storage/prefs?limit=1')
    expect(first.headers.get('x-weave-next-offset')).toMatch(/^[0-9:]+$/)
    const last = await client.get('/storage/prefs?limit=2')
    expect(last.headers.get('x-weave-next-offset')).toBeNull()
  })

  test('limit=0 answers [] and offset 0 when records match', async () => {
    const client = server.client()
    await writeSeparately(client, 'prefs', ['a'])
    const response = await client.get('/storage/prefs?full=1&limit=0')
    expect(await response.text()).toBe('[]')
    expect(response.headers.get('x-weave-next-offset')).toBe('0')
  })

  test('Accept: application/newlines gives one JSON record per line', async () => {
    const client = server.client()
    await client.post('/storage/tabs', [{ id: 'a', payload: 'line\nbreak' }])
    const response = await client.get('/storage/tabs?full=1', { headers: { accept: 'application/newlines' } })
    expect(response.headers.get('content-type')).toBe('application/newlines')
    const text = await response.text()
    expect(text.endsWith('\n')).toBe(true)
    expect(text.split('\n')).toHaveLength(2)
    expect((JSON.parse(text.split('\n')[0]!) as Record).payload).toBe('line\nbreak')
  })

  test('Accept negotiation: q-values order choices, text/plain alone is 406', async () => {
    const client = server.client()
    await client.put('/storage/tabs/a', { payload: 'x' })
    const preferNewlines = await client.get('/storage/tabs', { headers: { accept: 'application/json;q=0.5, application/newlines' } })
    expect(preferNewlines.headers.get('content-type')).toBe('application/newlines')
    const plain = await client.get('/storage/tabs', { headers: { accept: 'text/plain' } })
    expect(plain.status).toBe(406)
    expect(await plain.text()).toBe('0')
    const anything = await client.get('/storage/tabs', { headers: { accept: '*/*' } })
    expect(anything.headers.get('content-type')).toBe('application/json')
  })

  test('bad query parameters answer 400 with body 0', async () => {
    const client = server.client()
    for (const query of ['limit=-1', 'limit=abc', 'newer=abc', 'older=-3', 'sort=random', 'offset=x', 'offset=1:2:3']) {
      const response = await client.get(`/storage/tabs?${query}`)
      expect({ query, status: response.status, body: await response.text() }).toEqual({ query, status: 400, body: '0' })
    }
  })

  test('unknown query parameters and empty pairs are ignored', async () => {
    const client = server.client()
    await writeSeparately(client, 'tabs', ['a', 'b', 'c'])
    expect(await client.json('GET', '/storage/tabs?&limit=2&blabla=1')).toHaveLength(2)
  })

  test('a T:N offset before newer is refused with 400', async () => {
    const response = await server.client().get('/storage/tabs?newer=100&offset=50000:1')
    expect(response.status).toBe(400)
  })

  test('DELETE of a collection answers the storage timestamp and removes its records', async () => {
    const client = server.client()
    await client.put('/storage/tabs/a', { payload: 'x' })
    const before = await client.put('/storage/forms/a', { payload: 'x' })
    const response = await client.delete('/storage/forms')
    expect(response.status).toBe(200)
    const body = await response.text()
    expect(body).toMatch(/^\d+\.\d{2}$/)
    expect(response.headers.get('x-last-modified')).toBe(await before.text())
    expect(await client.json('GET', '/storage/forms')).toEqual([])
    expect(Object.keys((await client.json('GET', '/info/collections')) as object)).toEqual(['tabs'])
    expect((await client.get('/info/collections')).headers.get('x-last-modified')).toBe(body)
  })

  test('DELETE of a collection that never existed answers 200 with the storage timestamp', async () => {
    const response = await server.client().delete('/storage/nothing')
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('0.00')
  })

  test('DELETE with ids removes only those records and moves the collection timestamp', async () => {
    const client = server.client()
    await writeSeparately(client, 'passwords', ['a', 'b', 'c'])
    const response = await client.delete('/storage/passwords?ids=a,c')
    const stamp = await response.text()
    expect(response.headers.get('x-last-modified')).toBe(stamp)
    expect(await client.json('GET', '/storage/passwords')).toEqual(['b'])
    expect(((await client.json('GET', '/info/collections')) as { passwords: number }).passwords.toFixed(2)).toBe(stamp)
  })

  test('DELETE with empty ids= deletes the whole collection', async () => {
    const client = server.client()
    await writeSeparately(client, 'passwords', ['a', 'b'])
    await client.delete('/storage/passwords?ids=')
    expect(await client.json('GET', '/info/collections')).toEqual({})
  })

  test('DELETE of all storage answers null and resets the storage timestamp to 0', async () => {
    const client = server.client()
    await writeSeparately(client, 'tabs', ['a'])
    for (const path of ['', '/storage']) {
      await client.put('/storage/tabs/b', { payload: 'x' })
      const response = await client.delete(path)
      expect(response.status).toBe(200)
      expect(await response.text()).toBe('null')
      const info = await client.get('/info/collections')
      expect(await info.text()).toBe('{}')
      expect(info.headers.get('x-last-modified')).toBe('0.00')
    }
  })

  test('custom collection names are per user and get their own listing', async () => {
    const client = server.client()
    const other = server.client()
    await client.put('/storage/my.custom-coll_1/a', { payload: 'x' })
    expect(await client.json('GET', '/storage/my.custom-coll_1')).toEqual(['a'])
    expect(await other.json('GET', '/storage/my.custom-coll_1')).toEqual([])
  })
})
