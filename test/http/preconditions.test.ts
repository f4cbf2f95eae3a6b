import { describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { serverForSuite } from '../support/server.ts'

describe.each(backends)('X-If-Modified-Since and X-If-Unmodified-Since on $name', (backend) => {
  const server = serverForSuite(backend)

  test('GET collection answers 304 with an empty body and no Content-Type when not modified', async () => {
    const client = server.client()
    const ts = await (await client.put('/storage/tabs/a', { payload: 'x' })).text()
    const response = await client.get('/storage/tabs', { headers: { 'x-if-modified-since': ts } })
    expect(response.status).toBe(304)
    expect(response.headers.get('content-type')).toBeNull()
    expect(response.headers.get('x-last-modified')).toBe(ts)
    expect(response.headers.get('x-weave-timestamp')).not.toBeNull()
    expect(await response.text()).toBe('')
  })

  test('GET collection answers 200 when modified after X-If-Modified-Since', async () => {
    const client = server.client()
    const ts = Number(await (await client.put('/storage/tabs/a', { payload: 'x' })).text())
    const response = await client.get('/storage/tabs', { headers: { 'x-if-modified-since': (ts - 0.01).toFixed(2) } })
    expect(response.status).toBe(200)
  })

  test('PUT older than X-If-Unmodified-Since answers 412 and writes nothing', async () => {
    const client = server.client()
    const first = Number(await (await client.put('/storage/tabs/a', { payload: 'one' })).text())
    await client.put('/storage/tabs/a', { payload: 'two' })
    const response = await client.put('/storage/tabs/a', { payload: 'three' }, { headers: { 'x-if-unmodified-since': first.toFixed(2) } })
    expect(response.status).toBe(412)
    expect(await response.text()).toBe('')
    expect(response.headers.get('content-type')).toBeNull()
    expect(((await client.json('GET', '/storage/tabs/a')) as { payload: string }).payload).toBe('two')
  })

  test('POST guarded by an older collection timestamp answers 412 after another record moved the collection', async () => {
    const client = server.client()
    const first = await (await client.put('/storage/forms/a', { payload: 'x' })).text()
    await client.put('/storage/forms/b', { payload: 'y' })
    const response = await client.post('/storage/forms', [{ id: 'c', payload: 'z' }], { headers: { 'x-if-unmodified-since': first } })
    expect(response.status).toBe(412)
    expect(await client.json('GET', '/storage/forms?sort=oldest')).toEqual(['a', 'b'])
  })

  test('DELETE ?ids= guarded by an older collection timestamp answers 412', async () => {
    const client = server.client()
    const first = await (await client.put('/storage/forms/a', { payload: 'x' })).text()
    await client.put('/storage/forms/b', { payload: 'y' })
    const response = await client.delete('/storage/forms?ids=a', { headers: { 'x-if-unmodified-since': first } })
    expect(response.status).toBe(412)
    expect(response.headers.get('x-last-modified')).not.toBe(first)
  })

  test('X-If-Unmodified-Since: 0 creates a record that does not exist, even in a newer collection', async () => {
    const client = server.client()
    await client.put('/storage/meta/other', { payload: 'x' })
    const created = await client.put('/storage/meta/global', { payload: 'g' }, { headers: { 'x-if-unmodified-since': '0' } })
    expect(created.status).toBe(200)
    const again = await client.put('/storage/meta/global', { payload: 'h' }, { headers: { 'x-if-unmodified-since': '0' } })
    expect(again.status).toBe(412)
  })

  test('X-If-Unmodified-Since equal to the current timestamp succeeds on every method', async () => {
    const client = server.client()
    let ts = await (await client.put('/storage/tabs/a', { payload: 'x' })).text()
    ts = await (await client.put('/storage/tabs/a', { payload: 'y' }, { headers: { 'x-if-unmodified-since': ts } })).text()
    const posted = await client.post('/storage/tabs', [{ id: 'b', payload: 'z' }], { headers: { 'x-if-unmodified-since': ts } })
    expect(posted.status).toBe(200)
    const collectionTs = posted.headers.get('x-last-modified')!
    expect((await client.get('/storage/tabs', { headers: { 'x-if-unmodified-since': collectionTs } })).status).toBe(200)
    expect((await client.delete('/storage/tabs?ids=b', { headers: { 'x-if-unmodified-since': collectionTs } })).status).toBe(200)
  })

  test('a 412 reports X-Last-Modified equal to what a later GET of the record reports', async () => {
    const client = server.client()
    await client.put('/storage/tabs/a', { payload: 'x' })
    const failed = await client.put('/storage/tabs/a', { payload: 'y' }, { headers: { 'x-if-unmodified-since': '1.00' } })
    const later = await client.get('/storage/tabs/a')
    expect(failed.headers.get('x-last-modified')).toBe(later.headers.get('x-last-modified'))
  })

  test('X-If-Modified-Since on a write answers 304 and writes nothing', async () => {
    const client = server.client()
    const ts = await (await client.put('/storage/tabs/a', { payload: 'x' })).text()
    const response = await client.put('/storage/tabs/a', { payload: 'y' }, { headers: { 'x-if-modified-since': ts } })
    expect(response.status).toBe(304)
    expect(((await client.json('GET', '/storage/tabs/a')) as { payload: string }).payload).toBe('x')
  })

  test('both precondition headers at once answer 400 with body 0', async () => {
    const response = await server.client().get('/storage/tabs', {
      headers: { 'x-if-modified-since': '1', 'x-if-unmodified-since': '1' },
    })
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('0')
  })

  test('a malformed or negative precondition value answers 400 with body 0', async () => {
    const client = server.client()
    for (const value of ['abc', '-3', 'NaN']) {
      const response = await client.get('/info/collections', { headers: { 'x-if-modified-since': value } })
      expect({ value, status: response.status, body: await response.text() }).toEqual({ value, status: 400, body: '0' })
    }
  })

  test('fractional values such as 1699999999.1199999 are accepted', async () => {
    const response = await server.client().get('/storage/tabs', { headers: { 'x-if-unmodified-since': '1699999999.1199999' } })
    expect(response.status).toBe(200)
  })

  test('DELETE of a record guarded by its own timestamp compares the record, not the collection', async () => {
    const client = server.client()
    const a = await (await client.put('/storage/tabs/a', { payload: 'x' })).text()
    await client.put('/storage/tabs/b', { payload: 'y' })
    const response = await client.delete('/storage/tabs/a', { headers: { 'x-if-unmodified-since': a } })
    expect(response.status).toBe(200)
  })
})
