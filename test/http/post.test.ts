import { describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { serverForSuite } from '../support/server.ts'
import type { StoredBso, SyncClient } from '../support/sync-client.ts'

interface PostResult {
  modified: number
  success: string[]
  failed: Record<string, string>
}



async function postJson(client: SyncClient, path: string, body: unknown, headers?: Record<string, string>) {
  const response = await client.post(path, body, { headers })
  expect(response.status).toBe(200)
  return (await response.json()) as PostResult
}

const listing = (client: SyncClient, collection: string) =>
  client.json<StoredBso[]>('GET', `/storage/${collection}?full=1&sort=oldest`)

const CRYPTO_ZERO_IV = JSON.stringify({ ciphertext: 'abc', IV: 'AAAAAAAAAAAAAAAAAAAAAA==', hmac: 'def' })

describe.each(backends)('POST /storage/{collection} on $name', (backend) => {
  const server = serverForSuite(backend)

  test('POST answers 200 with modified, success in request order and an empty failed object', async () => {
    const response = await server.client().post('/storage/bookmarks', [
      { id: 'b', payload: 'one' },
      { id: 'a', payload: 'two' },
    ])
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(await response.text()).toMatch(/^\{"modified":\d+\.\d{2},"success":\["b","a"\],"failed":\{\}\}$/)
  })

  test('POST modified equals X-Last-Modified and X-Weave-Timestamp', async () => {
    const response = await server.client().post('/storage/bookmarks', [{ id: 'a', payload: 'x' }])
    const body = (await response.json()) as PostResult
    expect(response.headers.get('x-last-modified')).toBe(body.modified.toFixed(2))
    expect(response.headers.get('x-weave-timestamp')).toBe(body.modified.toFixed(2))
  })

  test('POSTed records read back with the request timestamp as modified', async () => {
    const client = server.client()
    const result = await postJson(client, '/storage/bookmarks', [
      { id: 'a', payload: 'one', sortindex: 3 },
      { id: 'b', payload: 'two' },
    ])
    expect(await listing(client, 'bookmarks')).toEqual([
      { id: 'a', modified: result.modified, payload: 'one', sortindex: 3 },
      { id: 'b', modified: result.modified, payload: 'two' },
    ])
  })

  test('a record with an unknown field fails with "unknown field <name>" and the others are written', async () => {
    const client = server.client()
    const result = await postJson(client, '/storage/bookmarks', [
      { id: 'good', payload: 'x' },
      { id: 'bad', payload: 'y', parentid: 'p' },
    ])
    expect(result.success).toEqual(['good'])
    expect(result.failed).toEqual({ bad: 'unknown field parentid' })
    expect((await listing(client, 'bookmarks')).map((bso) => bso.id)).toEqual(['good'])
  })

  test('an unknown field is reported before a wrong field type', async () => {
    const result = await postJson(server.client(), '/storage/bookmarks', [{ id: 'a', payload: 5, extra: true }])
    expect(result.failed).toEqual({ a: 'unknown field extra' })
  })

  test.each([
    ['a non-string payload', { payload: 5 }],
    ['a string sortindex', { sortindex: '5' }],
    ['a fractional sortindex', { sortindex: 1.5 }],
    ['a sortindex beyond i32', { sortindex: 2 ** 31 }],
    ['a string ttl', { ttl: '10' }],
    ['a negative ttl', { ttl: -1 }],
    ['a ttl beyond u32', { ttl: 2 ** 32 }],
    ['an object payload', { payload: { nested: true } }],
  ])('a record with %s fails with "invalid json"', async (_, fields) => {
    const client = server.client()
    const result = await postJson(client, '/storage/bookmarks', [{ id: 'bad', ...fields }, { id: 'ok' }])
    expect(result.failed).toEqual({ bad: 'invalid json' })
    expect(result.success).toEqual(['ok'])
    expect((await listing(client, 'bookmarks')).map((bso) => bso.id)).toEqual(['ok'])
  })

  test.each([
    ['an empty id', { id: '' }],
    ['an id of 65 characters', { id: 'x'.repeat(65) }],
    ['an id with a newline', { id: 'a\nb' }],
    ['an id with a tab', { id: 'a\tb' }],
    ['a non-ASCII id', { id: 'café' }],
    ['a sortindex above 999,999,999', { id: 'big', sortindex: 1_000_000_000 }],
    ['a sortindex below -999,999,999', { id: 'small', sortindex: -1_000_000_000 }],
    ['a ttl above 999,999,999', { id: 'long', ttl: 1_000_000_000 }],
  ])('a record with %s fails with an "invalid bso" reason', async (_, record) => {
    const client = server.client()
    const result = await postJson(client, '/storage/bookmarks', [record, { id: 'ok' }])
    expect(result.success).toEqual(['ok'])
    expect(Object.keys(result.failed)).toEqual([record.id])
    expect(result.failed[record.id]).toStartWith('invalid bso')
    expect((await listing(client, 'bookmarks')).map((bso) => bso.id)).toEqual(['ok'])
  })

  test('an id of 64 printable characters and range-boundary values are valid', async () => {
    const client = server.client()
    const id = ' !"#$%&\'()*+,-.0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~'.padEnd(64, 'z')
    const result = await postJson(client, '/storage/bookmarks', [
      { id, sortindex: 999_999_999, ttl: 999_999_999 },
      { id: 'low', sortindex: -999_999_999 },
    ])
    expect(result.failed).toEqual({})
    expect(result.success).toEqual([id, 'low'])
  })

  test.each([
    ['a JSON object', '{"id":"a"}'],
    ['a JSON string', '"records"'],
    ['an empty body', ''],
    ['invalid JSON', '[{"id":"a","payload":'],
    ['an array holding a number', '[1]'],
    ['an array holding null', '[null]'],
    ['an array holding an array', '[["a"]]'],
    ['a record without id', '[{"id":"ok"},{"payload":"x"}]'],
    ['a record with a numeric id', '[{"id":1,"payload":"x"}]'],
    ['a record with a null id', '[{"id":null,"payload":"x"}]'],
    ['two records with the same id', '[{"id":"a","payload":"x"},{"id":"a","payload":"y"}]'],
  ])('POST whose body is %s answers 400 with body 8 and writes nothing', async (_, body) => {
    const client = server.client()
    const response = await client.post('/storage/bookmarks', body)
    expect(response.status).toBe(400)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(await response.text()).toBe('8')
    expect(await client.json('GET', '/info/collections')).toEqual({})
  })

  test('a whole-request error wins over per-record failures', async () => {
    const response = await server.client().post('/storage/bookmarks', [{ id: 'a', bogus: 1 }, { id: 'a' }])
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('8')
  })

  test('POST of an empty array answers 200 and still creates the collection with T', async () => {
    const client = server.client()
    const result = await postJson(client, '/storage/bookmarks', [])
    expect(result).toEqual({ modified: result.modified, success: [], failed: {} })
    expect(await client.json('GET', '/info/collections')).toEqual({ bookmarks: result.modified })
  })

  test('application/newlines takes one record per line, with or without a final newline', async () => {
    const client = server.client()
    const lines = ['{"id":"a","payload":"one"}', '{"id":"b","payload":"two"}']
    const first = await postJson(client, '/storage/history', lines.join('\n') + '\n', { 'content-type': 'application/newlines' })
    expect(first.success).toEqual(['a', 'b'])
    const second = await client.post('/storage/tabs', '{"id":"c","payload":"three"}', { contentType: 'application/newlines' })
    expect(((await second.json()) as PostResult).success).toEqual(['c'])
    expect((await listing(client, 'history')).map((bso) => bso.payload)).toEqual(['one', 'two'])
  })

  test('application/newlines accepts CRLF line breaks', async () => {
    const client = server.client()
    const response = await client.post('/storage/history', '{"id":"a"}\r\n{"id":"b"}\r\n', { contentType: 'application/newlines' })
    expect(response.status).toBe(200)
    expect(((await response.json()) as PostResult).success).toEqual(['a', 'b'])
  })

  test('an empty application/newlines body is zero records and answers 200', async () => {
    const client = server.client()
    const response = await client.post('/storage/history', '', { contentType: 'application/newlines' })
    expect(response.status).toBe(200)
    const result = (await response.json()) as PostResult
    expect(result.success).toEqual([])
    expect(await client.json('GET', '/info/collections')).toEqual({ history: result.modified })
  })

  test.each([
    ['a single newline', '\n'],
    ['the line {}', '{}'],
    ['the line []', '[]'],
    ['a line of invalid JSON', '{"id":"a"}\n{"id":'],
    ['an empty line between records', '{"id":"a"}\n\n{"id":"b"}'],
    ['a line holding a string', '{"id":"a"}\n"b"'],
  ])('an application/newlines body of %s answers 400 with body 8', async (_, body) => {
    const client = server.client()
    const response = await client.post('/storage/history', body, { contentType: 'application/newlines' })
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('8')
    expect(await client.json('GET', '/info/collections')).toEqual({})
  })

  test('text/plain bodies are read as JSON', async () => {
    const client = server.client()
    const response = await client.post('/storage/bookmarks', [{ id: 'a', payload: 'x' }], { contentType: 'text/plain' })
    expect(response.status).toBe(200)
    expect((await listing(client, 'bookmarks')).map((bso) => bso.id)).toEqual(['a'])
  })

  test('Content-Type parameters are ignored', async () => {
    const response = await server
      .client()
      .post('/storage/bookmarks', [{ id: 'a' }], { contentType: 'application/json; charset=utf-8' })
    expect(response.status).toBe(200)
  })

  test.each(['application/xml', 'application/x-www-form-urlencoded', 'text/html', 'garbage'])(
    'POST with Content-Type %s answers 415 with body 0',
    async (contentType) => {
      const client = server.client()
      const response = await client.post('/storage/bookmarks', [{ id: 'a' }], { contentType })
      expect(response.status).toBe(415)
      expect(await response.text()).toBe('0')
      expect(await client.json('GET', '/info/collections')).toEqual({})
    },
  )

  test('POST without Content-Type answers 415 with body 0', async () => {
    const client = server.client()
    const response = await client.raw('POST', '/storage/bookmarks', new TextEncoder().encode('[{"id":"a"}]'))
    expect(response.status).toBe(415)
    expect(await response.text()).toBe('0')
  })

  test('a known-bad all-zero IV in the crypto collection answers 400 with body 8', async () => {
    const client = server.client()
    const response = await client.post('/storage/crypto', [
      { id: 'fine', payload: 'x' },
      { id: 'keys', payload: CRYPTO_ZERO_IV },
    ])
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('8')
    expect(await client.json('GET', '/storage/crypto')).toEqual([])
  })

  test('the all-zero IV is accepted in collections other than crypto', async () => {
    const result = await postJson(server.client(), '/storage/bookmarks', [{ id: 'keys', payload: CRYPTO_ZERO_IV }])
    expect(result.success).toEqual(['keys'])
  })

  test('a non-zero IV in the crypto collection is accepted', async () => {
    const payload = JSON.stringify({ ciphertext: 'abc', IV: 'AAAAAAAAAAAAAAAAAAAAAQ==', hmac: 'def' })
    const result = await postJson(server.client(), '/storage/crypto', [{ id: 'keys', payload }])
    expect(result.success).toEqual(['keys'])
  })

  test('an all-zero IV in a crypto record that already failed validation does not reject the request', async () => {
    const result = await postJson(server.client(), '/storage/crypto', [{ id: 'keys', payload: CRYPTO_ZERO_IV, bogus: 1 }])
    expect(result.failed).toEqual({ keys: 'unknown field bogus' })
  })

  test('a ttl-only update keeps the record modified but moves the collection', async () => {
    const client = server.client()
    const first = await postJson(client, '/storage/clients', [{ id: 'a', payload: 'x', sortindex: 1 }])
    const second = await postJson(client, '/storage/clients', [{ id: 'a', ttl: 3600 }])
    expect(second.modified).toBeGreaterThan(first.modified)
    const response = await client.get('/storage/clients/a')
    expect(await response.json()).toEqual({ id: 'a', modified: first.modified, payload: 'x', sortindex: 1 })
    expect((await client.get('/storage/clients')).headers.get('x-last-modified')).toBe(second.modified.toFixed(2))
  })

  test('a record written with ttl 0 is invisible at once', async () => {
    const client = server.client()
    const result = await postJson(client, '/storage/tabs', [{ id: 'gone', payload: 'x', ttl: 0 }, { id: 'kept' }])
    expect(result.success).toEqual(['gone', 'kept'])
    expect((await client.get('/storage/tabs/gone')).status).toBe(404)
    expect(await client.json('GET', '/storage/tabs')).toEqual(['kept'])
    expect(await client.json('GET', '/info/collection_counts')).toEqual({ tabs: 1 })
  })

  test('a record expires ttl seconds after it was written', async () => {
    const client = server.client()
    await postJson(client, '/storage/tabs', [{ id: 'short', payload: 'x', ttl: 1 }, { id: 'long', payload: 'y', ttl: 60 }])
    expect(await client.json('GET', '/storage/tabs?sort=oldest')).toEqual(['long', 'short'])
    await Bun.sleep(1100)
    expect((await client.get('/storage/tabs/short')).status).toBe(404)
    expect(await client.json('GET', '/storage/tabs')).toEqual(['long'])
  })

  test('null payload, sortindex and ttl are treated as absent on update', async () => {
    const client = server.client()
    const first = await postJson(client, '/storage/forms', [{ id: 'a', payload: 'x', sortindex: 5, ttl: 3600 }])
    await postJson(client, '/storage/forms', [{ id: 'a', payload: null, sortindex: null, ttl: null }])
    expect(await client.json('GET', '/storage/forms/a')).toEqual({ id: 'a', modified: first.modified, payload: 'x', sortindex: 5 })
  })

  test('null fields take the defaults on insert', async () => {
    const client = server.client()
    const result = await postJson(client, '/storage/forms', [{ id: 'a', payload: null, sortindex: null, ttl: null }])
    expect(result.success).toEqual(['a'])
    expect(await client.json('GET', '/storage/forms/a')).toEqual({ id: 'a', modified: result.modified, payload: '' })
  })

  test('a payload-only update keeps the sortindex and moves modified', async () => {
    const client = server.client()
    await postJson(client, '/storage/bookmarks', [{ id: 'a', payload: 'old', sortindex: 7 }])
    const second = await postJson(client, '/storage/bookmarks', [{ id: 'a', payload: 'new' }])
    expect(await client.json('GET', '/storage/bookmarks/a')).toEqual({ id: 'a', modified: second.modified, payload: 'new', sortindex: 7 })
  })

  test('a sortindex-only update keeps the payload and moves modified', async () => {
    const client = server.client()
    await postJson(client, '/storage/bookmarks', [{ id: 'a', payload: 'kept', sortindex: 7 }])
    const second = await postJson(client, '/storage/bookmarks', [{ id: 'a', sortindex: 2 }])
    expect(await client.json('GET', '/storage/bookmarks/a')).toEqual({ id: 'a', modified: second.modified, payload: 'kept', sortindex: 2 })
  })

  test('client-supplied modified and collection fields are accepted and ignored', async () => {
    const client = server.client()
    const result = await postJson(client, '/storage/bookmarks', [{ id: 'a', payload: 'x', modified: 12, collection: 'other' }])
    expect(result.success).toEqual(['a'])
    expect(await client.json('GET', '/storage/bookmarks/a')).toEqual({ id: 'a', modified: result.modified, payload: 'x' })
    expect(await client.json('GET', '/storage/other')).toEqual([])
  })

  test('POST in which every record failed still answers 200 and moves the collection to T', async () => {
    const client = server.client()
    const result = await postJson(client, '/storage/bookmarks', [{ id: 'a', bogus: 1 }])
    expect(result).toEqual({ modified: result.modified, success: [], failed: { a: 'unknown field bogus' } })
    expect(await client.json('GET', '/info/collections')).toEqual({ bookmarks: result.modified })
    expect(await client.json('GET', '/storage/bookmarks')).toEqual([])
  })

  test('POST with X-If-Modified-Since not older than the collection answers 304 and writes nothing', async () => {
    const client = server.client()
    const first = await postJson(client, '/storage/bookmarks', [{ id: 'a' }])
    const response = await client.post('/storage/bookmarks', [{ id: 'b' }], { headers: { 'x-if-modified-since': first.modified.toFixed(2) } })
    expect(response.status).toBe(304)
    expect(response.headers.get('x-last-modified')).toBe(first.modified.toFixed(2))
    expect(await client.json('GET', '/storage/bookmarks')).toEqual(['a'])
  })

  test('POST with X-If-Unmodified-Since older than the collection answers 412 and writes nothing', async () => {
    const client = server.client()
    const first = await postJson(client, '/storage/bookmarks', [{ id: 'a' }])
    const second = await postJson(client, '/storage/bookmarks', [{ id: 'b' }])
    const response = await client.post('/storage/bookmarks', [{ id: 'c' }], { headers: { 'x-if-unmodified-since': first.modified.toFixed(2) } })
    expect(response.status).toBe(412)
    expect(response.headers.get('x-last-modified')).toBe(second.modified.toFixed(2))
    expect(await client.json('GET', '/storage/bookmarks?sort=oldest')).toEqual(['a', 'b'])
  })

  // Which error wins (storage-api.md §3): query, then body, then crypto, then batch parameters and
  // X-Weave-* headers, then preconditions.

  test('an invalid query parameter is reported before an unsupported Content-Type', async () => {
    const response = await server.client().post('/storage/bookmarks?commit=false', '[]', { contentType: 'application/xml' })
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('0')
  })

  test('an invalid body is reported before commit without batch', async () => {
    const response = await server.client().post('/storage/bookmarks?commit=true', '{}')
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('8')
  })

  test('an unsupported Content-Type is reported before a malformed batch id', async () => {
    const response = await server.client().post('/storage/bookmarks?batch=sammich', '[]', { contentType: 'application/xml' })
    expect(response.status).toBe(415)
  })

  test('a known-bad crypto payload is reported before an X-Weave-Records over the limit', async () => {
    const response = await server
      .client()
      .post('/storage/crypto', [{ id: 'keys', payload: CRYPTO_ZERO_IV }], { headers: { 'x-weave-records': '1000' } })
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('8')
  })

  test('an X-Weave-Records over the limit is reported before a failing precondition', async () => {
    const client = server.client()
    await postJson(client, '/storage/bookmarks', [{ id: 'a' }])
    const response = await client.post('/storage/bookmarks', [{ id: 'b' }], {
      headers: { 'x-weave-records': '1000', 'x-if-unmodified-since': '1.00' },
    })
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('17')
  })

  test('an invalid X-If-Unmodified-Since answers 400 with body 0 and writes nothing', async () => {
    const client = server.client()
    const response = await client.post('/storage/bookmarks', [{ id: 'a' }], { headers: { 'x-if-unmodified-since': 'yesterday' } })
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('0')
    expect(await client.json('GET', '/info/collections')).toEqual({})
  })

  test('info/quota reports the exact live usage in KiB, counted in UTF-8 bytes', async () => {
    const client = server.client()
    await postJson(client, '/storage/bookmarks', [{ id: 'a', payload: 'x'.repeat(500) }])
    expect(await (await client.get('/info/quota')).text()).toBe('[0.48828125,null]')
    await postJson(client, '/storage/history', [
      { id: 'b', payload: 'é'.repeat(262) }, // 524 bytes
      { id: 'c', payload: 'y'.repeat(4096), ttl: 0 },
    ])
    expect(await (await client.get('/info/quota')).text()).toBe('[1,null]')
  })
})

describe.each(backends)('POST limits on $name', (backend) => {
  const server = serverForSuite(backend, {
      syncstorage: {
        limits: {
          max_post_records: 3,
          max_post_bytes: 100,
          max_record_payload_bytes: 50,
          max_request_bytes: 1000,
          max_total_records: 20,
          max_total_bytes: 500,
        },
      },
    })

  test('a payload over max_record_payload_bytes fails with "retry bytes"', async () => {
    const client = server.client()
    const result = await postJson(client, '/storage/bookmarks', [
      { id: 'fits', payload: 'x'.repeat(50) },
      { id: 'big', payload: 'x'.repeat(51) },
    ])
    expect(result.success).toEqual(['fits'])
    expect(result.failed).toEqual({ big: 'retry bytes' })
    expect((await listing(client, 'bookmarks')).map((bso) => bso.id)).toEqual(['fits'])
  })

  test('payload size is counted in UTF-8 bytes, not characters', async () => {
    const result = await postJson(server.client(), '/storage/bookmarks', [{ id: 'wide', payload: 'é'.repeat(26) }])
    expect(result.failed).toEqual({ wide: 'retry bytes' })
  })

  test('records past the running max_post_bytes total fail with "retry bytes"', async () => {
    const result = await postJson(server.client(), '/storage/bookmarks', [
      { id: 'a', payload: 'x'.repeat(50) },
      { id: 'b', payload: 'x'.repeat(50) },
      { id: 'c', payload: 'x' },
    ])
    expect(result.success).toEqual(['a', 'b'])
    expect(result.failed).toEqual({ c: 'retry bytes' })
  })

  test('a record refused for its own size still counts toward the running total', async () => {
    const result = await postJson(server.client(), '/storage/bookmarks', [
      { id: 'big', payload: 'x'.repeat(60) },
      { id: 'b', payload: 'x'.repeat(40) },
      { id: 'c', payload: 'x' },
    ])
    expect(result.success).toEqual(['b'])
    expect(result.failed).toEqual({ big: 'retry bytes', c: 'retry bytes' })
  })

  test('valid records past max_post_records fail with "retry bso", last ones first', async () => {
    const client = server.client()
    const result = await postJson(client, '/storage/bookmarks', ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id })))
    expect(result.success).toEqual(['a', 'b', 'c'])
    expect(result.failed).toEqual({ d: 'retry bso', e: 'retry bso' })
    expect((await listing(client, 'bookmarks')).map((bso) => bso.id)).toEqual(['a', 'b', 'c'])
  })

  test('failed records do not count toward max_post_records', async () => {
    const result = await postJson(server.client(), '/storage/bookmarks', [
      { id: 'bad', nope: 1 },
      { id: 'a' },
      { id: 'b' },
      { id: 'c' },
    ])
    expect(result.success).toEqual(['a', 'b', 'c'])
    expect(result.failed).toEqual({ bad: 'unknown field nope' })
  })

  test('a Content-Length over max_request_bytes answers 413 with body 17 and writes nothing', async () => {
    const client = server.client()
    const body = JSON.stringify([{ id: 'a', payload: 'x'.repeat(1200) }])
    const response = await client.post('/storage/bookmarks', body)
    expect(response.status).toBe(413)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(await response.text()).toBe('17')
    expect(await client.json('GET', '/info/collections')).toEqual({})
  })

  test('an unsupported Content-Type is reported before a Content-Length over max_request_bytes', async () => {
    const response = await server.client().post('/storage/bookmarks', 'x'.repeat(1500), { contentType: 'application/xml' })
    expect(response.status).toBe(415)
  })

  // Far over the limit: the server itself must answer, not Bun's body cap.
  test('a Content-Length far over max_request_bytes answers 413 with body 17', async () => {
    const response = await server.client().post('/storage/bookmarks', JSON.stringify([{ id: 'a', payload: 'x'.repeat(100_000) }]))
    expect(response.status).toBe(413)
    expect(await response.text()).toBe('17')
  })

  test.each([
    ['x-weave-records', '4'],
    ['x-weave-bytes', '101'],
    ['x-weave-total-records', '21'],
    ['x-weave-total-bytes', '501'],
  ])('%s over its limit answers 400 with body 17', async (header, value) => {
    const client = server.client()
    const response = await client.post('/storage/bookmarks', [{ id: 'a' }], { headers: { [header]: value } })
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('17')
    expect(await client.json('GET', '/info/collections')).toEqual({})
  })

  test('X-Weave-* headers exactly at their limits are accepted', async () => {
    const response = await server.client().post('/storage/bookmarks', [{ id: 'a' }], {
      headers: { 'x-weave-records': '3', 'x-weave-bytes': '100', 'x-weave-total-records': '20', 'x-weave-total-bytes': '500' },
    })
    expect(response.status).toBe(200)
  })

  test.each([
    ['x-weave-records', 'abc'],
    ['x-weave-records', '-1'],
    ['x-weave-bytes', '1.5'],
    ['x-weave-total-records', '4294967296'],
    ['x-weave-total-bytes', '1e3'],
  ])('%s of %s (not an integer) answers 400 with body 0', async (header, value) => {
    const client = server.client()
    const response = await client.post('/storage/bookmarks', [{ id: 'a' }], { headers: { [header]: value } })
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('0')
    expect(await client.json('GET', '/info/collections')).toEqual({})
  })
})

describe.each(backends)('per-collection limit overrides on $name', (backend) => {
  const server = serverForSuite(backend, {
      syncstorage: {
        limits: { collections: '{"tabs":{"max_record_payload_bytes":10,"max_post_bytes":25,"max_request_bytes":600}}' },
      },
    })

  test('an overridden max_record_payload_bytes applies to its collection only', async () => {
    const client = server.client()
    const records = [{ id: 'a', payload: 'x'.repeat(11) }]
    expect((await postJson(client, '/storage/tabs', records)).failed).toEqual({ a: 'retry bytes' })
    expect((await postJson(client, '/storage/bookmarks', records)).success).toEqual(['a'])
  })

  test('an overridden max_post_bytes bounds the running total of its collection', async () => {
    const client = server.client()
    const records = ['a', 'b', 'c'].map((id) => ({ id, payload: 'x'.repeat(10) }))
    const tabs = await postJson(client, '/storage/tabs', records)
    expect(tabs.success).toEqual(['a', 'b'])
    expect(tabs.failed).toEqual({ c: 'retry bytes' })
    expect((await postJson(client, '/storage/bookmarks', records)).success).toEqual(['a', 'b', 'c'])
  })

  test('an overridden max_request_bytes answers 413 with body 17 on its collection only', async () => {
    const client = server.client()
    const body = JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ id: `record-${i}` })))
    expect(body.length).toBeGreaterThan(600)
    const tabs = await client.post('/storage/tabs', body)
    expect(tabs.status).toBe(413)
    expect(await tabs.text()).toBe('17')
    expect((await client.post('/storage/bookmarks', body)).status).toBe(200)
  })

  test('X-Weave-Bytes is compared with the collection\'s overridden max_post_bytes', async () => {
    const client = server.client()
    const tabs = await client.post('/storage/tabs', [{ id: 'a' }], { headers: { 'x-weave-bytes': '26' } })
    expect(tabs.status).toBe(400)
    expect(await tabs.text()).toBe('17')
    expect((await client.post('/storage/bookmarks', [{ id: 'a' }], { headers: { 'x-weave-bytes': '26' } })).status).toBe(200)
  })
})

describe.each(backends)('enforced quota on $name', (backend) => {
  const server = serverForSuite(backend, {
      syncstorage: { enable_quota: true, enforce_quota: true, limits: { max_quota_limit: 100 } },
    })

  test('writes below max_quota_limit succeed', async () => {
    const client = server.client()
    await postJson(client, '/storage/bookmarks', [{ id: 'a', payload: 'x'.repeat(50) }])
    await postJson(client, '/storage/bookmarks', [{ id: 'b', payload: 'x'.repeat(40) }])
    expect(await client.json('GET', '/storage/bookmarks?sort=oldest')).toEqual(['a', 'b'])
  })

  test('a write that crosses the limit is accepted, since usage is measured before the write', async () => {
    const client = server.client()
    const result = await postJson(client, '/storage/bookmarks', [{ id: 'a', payload: 'x'.repeat(150) }])
    expect(result.success).toEqual(['a'])
  })

  test('POST once usage reached max_quota_limit answers 403 with body 14 and writes nothing', async () => {
    const client = server.client()
    const first = await postJson(client, '/storage/bookmarks', [{ id: 'a', payload: 'x'.repeat(100) }])
    const response = await client.post('/storage/bookmarks', [{ id: 'b', payload: 'y' }])
    expect(response.status).toBe(403)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(await response.text()).toBe('14')
    expect(await client.json('GET', '/storage/bookmarks')).toEqual(['a'])
    expect((await client.get('/storage/bookmarks')).headers.get('x-last-modified')).toBe(first.modified.toFixed(2))
  })

  test('quota is per user: usage in one collection blocks writes to another', async () => {
    const client = server.client()
    await postJson(client, '/storage/bookmarks', [{ id: 'a', payload: 'x'.repeat(100) }])
    const response = await client.post('/storage/tabs', [{ id: 'b', payload: 'y' }])
    expect(response.status).toBe(403)
    expect(await response.text()).toBe('14')
    expect(await client.json('GET', '/info/collections')).not.toHaveProperty('tabs')
  })

  test('one user over quota does not block another user', async () => {
    const full = server.client()
    await postJson(full, '/storage/bookmarks', [{ id: 'a', payload: 'x'.repeat(100) }])
    expect((await full.post('/storage/bookmarks', [{ id: 'b' }])).status).toBe(403)
    expect((await server.client().post('/storage/bookmarks', [{ id: 'b', payload: 'y' }])).status).toBe(200)
  })

  test('deleting records brings a user back under quota', async () => {
    const client = server.client()
    await postJson(client, '/storage/bookmarks', [{ id: 'a', payload: 'x'.repeat(100) }])
    expect((await client.post('/storage/bookmarks', [{ id: 'b' }])).status).toBe(403)
    expect((await client.delete('/storage/bookmarks?ids=a')).status).toBe(200)
    expect((await client.post('/storage/bookmarks', [{ id: 'b', payload: 'y' }])).status).toBe(200)
  })
})

describe.each(backends)('quota enabled but not enforced on $name', (backend) => {
  const server = serverForSuite(backend, {
      syncstorage: { enable_quota: true, enforce_quota: false, limits: { max_quota_limit: 100 } },
    })

  test('POST over max_quota_limit still answers 200 and writes', async () => {
    const client = server.client()
    await postJson(client, '/storage/bookmarks', [{ id: 'a', payload: 'x'.repeat(150) }])
    const result = await postJson(client, '/storage/bookmarks', [{ id: 'b', payload: 'y'.repeat(150) }])
    expect(result.success).toEqual(['b'])
    expect(await client.json('GET', '/storage/bookmarks?sort=oldest')).toEqual(['a', 'b'])
    expect(await (await client.get('/info/quota')).text()).toBe(`[${300 / 1024},null]`)
  })
})
