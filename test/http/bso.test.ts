import { describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { serverForSuite } from '../support/server.ts'

describe.each(backends)('BSO endpoints on $name', (backend) => {
  const server = serverForSuite(backend)

  test('PUT answers the write timestamp, equal to X-Last-Modified and X-Weave-Timestamp', async () => {
    const client = server.client()
    const response = await client.put('/storage/bookmarks/abc', { payload: 'hello' })
    expect(response.status).toBe(200)
    const body = await response.text()
    expect(body).toMatch(/^\d+\.\d{2}$/)
    expect(response.headers.get('x-last-modified')).toBe(body)
    expect(response.headers.get('x-weave-timestamp')).toBe(body)
  })

  test('GET returns the record with id, two-decimal modified and payload only', async () => {
    const client = server.client()
    const written = await (await client.put('/storage/meta/global', { payload: '{"syncID":"x"}', modified: 1 })).text()
    const response = await client.get('/storage/meta/global')
    expect(response.status).toBe(200)
    const text = await response.text()
    expect(text).toBe(`{"id":"global","modified":${written},"payload":"{\\"syncID\\":\\"x\\"}"}`)
    expect(response.headers.get('x-last-modified')).toBe(written)
  })

  test('GET of a missing record answers 404 with body 0', async () => {
    const response = await server.client().get('/storage/meta/global')
    expect(response.status).toBe(404)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(await response.text()).toBe('0')
  })
})
