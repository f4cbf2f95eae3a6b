import { describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { serverForSuite } from '../support/server.ts'

describe.each(backends)('info endpoints on $name', (backend) => {
  const server = serverForSuite(backend)

  test('info/collections of a new user is {} with X-Last-Modified 0.00', async () => {
    const response = await server.client().get('/info/collections')
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('{}')
    expect(response.headers.get('x-last-modified')).toBe('0.00')
    expect(response.headers.get('x-weave-records')).toBe('0')
  })

  test('info/collections maps each written collection to its last-modified, with two decimals', async () => {
    const client = server.client()
    const tabs = await (await client.put('/storage/tabs/a', { payload: 'x' })).text()
    const history = await (await client.post('/storage/history', [{ id: 'h', payload: 'y' }])).json()
    const response = await client.get('/info/collections')
    const text = await response.text()
    expect(text).toContain(`"tabs":${tabs}`)
    expect(text).toContain(`"history":${(history as { modified: number }).modified.toFixed(2)}`)
    expect(response.headers.get('x-weave-records')).toBe('2')
    expect(response.headers.get('x-last-modified')).toBe(Math.max(Number(tabs), (history as { modified: number }).modified).toFixed(2))
  })

  test('info/collections keeps a collection whose records were all deleted', async () => {
    const client = server.client()
    await client.put('/storage/forms/a', { payload: 'x' })
    await client.delete('/storage/forms/a')
    const body = (await client.json('GET', '/info/collections')) as Record<string, number>
    expect(Object.keys(body)).toEqual(['forms'])
  })

  test('info/collections drops a deleted collection but the storage timestamp moves forward', async () => {
    const client = server.client()
    const written = Number(await (await client.put('/storage/prefs/a', { payload: 'x' })).text())
    const deleted = await client.delete('/storage/prefs')
    expect(deleted.status).toBe(200)
    const response = await client.get('/info/collections')
    expect(await response.text()).toBe('{}')
    expect(Number(response.headers.get('x-last-modified'))).toBeGreaterThan(written)
  })

  test('info/collection_counts counts live records per collection only', async () => {
    const client = server.client()
    await client.post('/storage/bookmarks', [{ id: 'a', payload: 'x' }, { id: 'b', payload: 'y' }, { id: 'c', payload: 'z', ttl: 0 }])
    await client.put('/storage/empty/a', { payload: 'x', ttl: 0 })
    const response = await client.get('/info/collection_counts')
    expect(await response.json()).toEqual({ bookmarks: 2 })
    expect(response.headers.get('x-weave-records')).toBe('1')
    expect(response.headers.get('x-last-modified')).not.toBeNull()
  })

  test('info/collection_usage reports KiB of live payload bytes, counted in UTF-8', async () => {
    const client = server.client()
    await client.put('/storage/passwords/a', { payload: 'é'.repeat(256) }) // 512 bytes
    await client.put('/storage/passwords/b', { payload: 'x'.repeat(512) })
    expect(await client.json('GET', '/info/collection_usage')).toEqual({ passwords: 1 })
  })

  test('info/quota answers [usage KiB, null] computed from live records', async () => {
    const client = server.client()
    await client.put('/storage/clients/a', { payload: 'x'.repeat(500) })
    const response = await client.get('/info/quota')
    expect(await response.text()).toBe('[0.48828125,null]')
  })

  test('info/configuration needs no authentication and publishes every limit', async () => {
    const client = server.client()
    const response = await client.get('/info/configuration', { unsigned: true })
    expect(response.status).toBe(200)
    expect(response.headers.get('x-last-modified')).toBe('0.00')
    expect(await response.json()).toEqual({
      max_post_bytes: 2621440,
      max_post_records: 100,
      max_record_payload_bytes: 2621440,
      max_request_bytes: 2625536,
      // Spanner caps what one commit may carry (spanner.md §4.7).
      max_total_bytes: backend.name === 'spanner' ? 100_000_000 : 262144000,
      max_total_records: backend.name === 'spanner' ? 9_984 : 10000,
      max_quota_limit: 2097152000,
    })
  })

  test('info views answer 304 to X-If-Modified-Since at or after the storage timestamp', async () => {
    const client = server.client()
    const ts = await (await client.put('/storage/tabs/a', { payload: 'x' })).text()
    for (const view of ['collections', 'collection_counts', 'collection_usage', 'quota']) {
      const response = await client.get(`/info/${view}`, { headers: { 'x-if-modified-since': ts } })
      expect(response.status).toBe(304)
      expect(response.headers.get('content-type')).toBeNull()
      expect(response.headers.get('x-last-modified')).toBe(ts)
      expect(await response.text()).toBe('')
    }
  })
})

describe.each(backends)('configured limits on $name', (backend) => {
  const server = serverForSuite(backend, {
      syncstorage: {
        limits: { max_post_records: 7, max_post_bytes: 1000, collections: '{"history": {"max_post_bytes": 500}}' },
      },
    })

  test('info/configuration publishes configured values, derived defaults and per-collection overrides', async () => {
    const body = (await server.client().json('GET', '/info/configuration')) as Record<string, unknown>
    expect(body.max_post_records).toBe(7)
    expect(body.max_post_bytes).toBe(1000)
    expect(body.max_request_bytes).toBe(5096)
    expect(body.max_total_bytes).toBe(100000)
    expect(body.collections).toEqual({ history: { max_post_bytes: 500 } })
  })
})
