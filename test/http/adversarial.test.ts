import { describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { serverForSuite, type TestServer } from '../support/server.ts'
import type { SyncClient } from '../support/sync-client.ts'

/** Limits small enough that oversized bodies stay small (Bun.serve itself caps at max_request_bytes + 1024). */
const LIMITS = { max_post_bytes: 1000, max_record_payload_bytes: 500, max_request_bytes: 2000 }


/** A body stream in two chunks, so neither side knows its length up front. */
function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text)
  const middle = Math.floor(bytes.length / 2)
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes.slice(0, middle))
      controller.enqueue(bytes.slice(middle))
      controller.close()
    },
  })
}

/** Two collections with known contents; returns the user's client. */
async function seeded(server: TestServer): Promise<SyncClient> {
  const client = server.client()
  expect((await client.put('/storage/bookmarks/a', { payload: 'original', sortindex: 1 })).status).toBe(200)
  expect((await client.post('/storage/bookmarks', [{ id: 'b', payload: 'second' }])).status).toBe(200)
  expect((await client.post('/storage/tabs', [{ id: 't', payload: 'tab', ttl: 3600 }])).status).toBe(200)
  return client
}

/** Everything a client can observe of the seeded user's storage, timestamps included. */
async function snapshot(client: SyncClient): Promise<string[]> {
  const views: string[] = []
  for (const path of ['/info/collections', '/info/collection_counts', '/info/quota', '/storage/bookmarks?full=1', '/storage/tabs?full=1']) {
    const response = await client.get(path)
    views.push(`${path} ${response.status} ${response.headers.get('x-last-modified')} ${await response.text()}`)
  }
  return views
}

/** Runs `attack` on a seeded user and asserts that nothing observable changed. */
async function expectUnchanged(server: TestServer, attack: (client: SyncClient) => Promise<void>): Promise<void> {
  const client = await seeded(server)
  const before = await snapshot(client)
  await attack(client)
  expect(await snapshot(client)).toEqual(before)
}

async function expectError(response: Response, status: number, body: string): Promise<void> {
  expect(response.status).toBe(status)
  expect(await response.text()).toBe(body)
}

describe.each(backends)('hostile requests change nothing on $name', (backend) => {
  const server = serverForSuite(backend, { syncstorage: { limits: LIMITS } })

  test('malformed JSON in a POST answers 400 with body 8', async () => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.post('/storage/bookmarks', '[{"id":"a","payload":"changed"'), 400, '8')
    })
  })

  test('malformed JSON in a PUT answers 400 with body 8', async () => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.put('/storage/bookmarks/a', '{"payload":"changed",}'), 400, '8')
    })
  })

  test.each([
    ['a numeric payload', { payload: 5 }],
    ['a string sortindex', { payload: 'changed', sortindex: '2' }],
    ['a fractional sortindex', { payload: 'changed', sortindex: 2.5 }],
    ['a negative ttl', { payload: 'changed', ttl: -5 }],
    ['an unknown field', { payload: 'changed', parentid: 'x' }],
    ['an array body', [{ payload: 'changed' }]],
    ['a string body', 'changed'],
    ['a null body', null],
  ])('a PUT with %s answers 400 with body 8', async (_, body) => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.put('/storage/bookmarks/a', JSON.stringify(body)), 400, '8')
    })
  })

  test('a POST record with wrong types fails and leaves the stored record untouched', async () => {
    const client = await seeded(server)
    const before = await client.json('GET', '/storage/bookmarks/a')
    const response = await client.post('/storage/bookmarks', [{ id: 'a', payload: 'changed', sortindex: 'high' }])
    expect(((await response.json()) as { failed: object }).failed).toEqual({ a: 'invalid json' })
    expect(await client.json('GET', '/storage/bookmarks/a')).toEqual(before)
  })

  test('deeply nested JSON answers 400 with body 8', async () => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.post('/storage/bookmarks', `[${'['.repeat(900)}${']'.repeat(900)}]`), 400, '8')
    })
  })

  test('an escaped lone surrogate in a POST payload answers 400 with body 8 instead of storing U+FFFD', async () => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.post('/storage/bookmarks', '[{"id":"a","payload":"\\ud800x"}]'), 400, '8')
    })
  })

  test('an escaped lone surrogate in a PUT payload answers 400 with body 8', async () => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.put('/storage/bookmarks/a', '{"payload":"x\\udc00"}'), 400, '8')
    })
  })

  test('an escaped surrogate pair is a valid character and round-trips', async () => {
    const client = server.client()
    expect((await client.post('/storage/bookmarks', '[{"id":"a","payload":"\\ud83d\\ude00"}]')).status).toBe(200)
    expect(((await client.json('GET', '/storage/bookmarks/a')) as { payload: string }).payload).toBe('😀')
  })

  test('a NUL character in a payload round-trips unchanged', async () => {
    const client = server.client()
    expect((await client.put('/storage/bookmarks/a', { payload: 'x\u0000y' })).status).toBe(200)
    expect(((await client.json('GET', '/storage/bookmarks/a')) as { payload: string }).payload).toBe('x\u0000y')
  })

  test('a POST with Content-Length over max_request_bytes answers 413 with body 17', async () => {
    await expectUnchanged(server, async (client) => {
      const body = JSON.stringify([{ id: 'a', payload: 'x'.repeat(2100) }])
      await expectError(await client.post('/storage/bookmarks', body), 413, '17')
    })
  })

  test('a PUT with Content-Length over max_request_bytes answers 413 with body 17', async () => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.put('/storage/bookmarks/a', { payload: 'x'.repeat(2100) }), 413, '17')
    })
  })

  test('a PUT payload over max_record_payload_bytes answers 400 with body 8', async () => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.put('/storage/bookmarks/a', { payload: 'x'.repeat(501) }), 400, '8')
    })
  })

  test('an oversized POST record fails with "retry bytes" and the stored record is untouched', async () => {
    const client = await seeded(server)
    const before = await client.json('GET', '/storage/bookmarks/a')
    const response = await client.post('/storage/bookmarks', [{ id: 'a', payload: 'x'.repeat(501) }])
    expect(((await response.json()) as { failed: object }).failed).toEqual({ a: 'retry bytes' })
    expect(await client.json('GET', '/storage/bookmarks/a')).toEqual(before)
  })

  test.each([
    ['a non-ASCII character', 'caf%C3%A9'],
    ['a newline', 'a%0Ab'],
    ['a tab', 'a%09b'],
    ['DEL', 'a%7F'],
    ['65 characters', 'x'.repeat(65)],
  ])('a path id with %s answers 400 with body 0 on GET, PUT and DELETE', async (_, id) => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.get(`/storage/bookmarks/${id}`), 400, '0')
      await expectError(await client.put(`/storage/bookmarks/${id}`, { payload: 'x' }), 400, '0')
      await expectError(await client.delete(`/storage/bookmarks/${id}`), 400, '0')
    })
  })

  test('a path id with a slash is an unknown route (404)', async () => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.put('/storage/bookmarks/a/b', { payload: 'x' }), 404, '0')
    })
  })

  test('POST records whose ids hold control or non-ASCII characters fail and are not stored', async () => {
    const client = server.client()
    const bad = ['a\u0000b', 'a\u007fb', 'line\nbreak', 'ünï']
    const response = await client.post('/storage/bookmarks', [...bad.map((id) => ({ id, payload: 'x' })), { id: 'ok' }])
    const result = (await response.json()) as { success: string[]; failed: Record<string, string> }
    expect(result.success).toEqual(['ok'])
    expect(Object.keys(result.failed).sort()).toEqual([...bad].sort())
    expect(await client.json('GET', '/storage/bookmarks')).toEqual(['ok'])
  })

  test.each([
    ['an id with a newline', { id: 'a\nb', payload: 'changed' }],
    ['a numeric id', { id: 7, payload: 'changed' }],
    ['an id of 65 characters', { id: 'x'.repeat(65), payload: 'changed' }],
  ])('a PUT body with %s answers 400 with body 8', async (_, body) => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.put('/storage/bookmarks/a', body), 400, '8')
    })
  })

  test('GET with 101 ids answers 400 with body 0', async () => {
    const client = await seeded(server)
    const ids = ['a', ...Array.from({ length: 100 }, (_, i) => `id${i}`)].join(',')
    await expectError(await client.get(`/storage/bookmarks?ids=${ids}`), 400, '0')
  })

  test('DELETE with 101 ids answers 400 with body 0 and deletes nothing', async () => {
    await expectUnchanged(server, async (client) => {
      const ids = ['a', 'b', ...Array.from({ length: 99 }, (_, i) => `id${i}`)].join(',')
      await expectError(await client.delete(`/storage/bookmarks?ids=${ids}`), 400, '0')
    })
  })

  test('GET and DELETE with exactly 100 ids are accepted', async () => {
    const client = await seeded(server)
    const ids = ['a', ...Array.from({ length: 99 }, (_, i) => `id${i}`)].join(',')
    expect(await client.json('GET', `/storage/bookmarks?ids=${ids}`)).toEqual(['a'])
    expect((await client.delete(`/storage/bookmarks?ids=${ids}`)).status).toBe(200)
    expect(await client.json('GET', '/storage/bookmarks')).toEqual(['b'])
  })

  test('DELETE with one invalid id among the ids answers 400 and deletes nothing', async () => {
    await expectUnchanged(server, async (client) => {
      await expectError(await client.delete('/storage/bookmarks?ids=a,caf%C3%A9'), 400, '0')
    })
  })

  test('a chunked POST body within the limit is read like any other', async () => {
    const client = server.client()
    const response = await client.raw('POST', '/storage/bookmarks', chunked('[{"id":"a","payload":"x"}]'), {
      'content-type': 'application/json',
    })
    expect(response.status).toBe(200)
    expect(await client.json('GET', '/storage/bookmarks')).toEqual(['a'])
  })

  test('a chunked POST body over the limit without Content-Length answers 400 with body 0', async () => {
    await expectUnchanged(server, async (client) => {
      const body = chunked(JSON.stringify([{ id: 'a', payload: 'x'.repeat(2100) }]))
      await expectError(await client.raw('POST', '/storage/bookmarks', body, { 'content-type': 'application/json' }), 400, '0')
    })
  })

  test('a chunked PUT body over the limit without Content-Length answers 400 with body 8', async () => {
    await expectUnchanged(server, async (client) => {
      const body = chunked(JSON.stringify({ payload: 'x'.repeat(2100) }))
      await expectError(await client.raw('PUT', '/storage/bookmarks/a', body, { 'content-type': 'application/json' }), 400, '8')
    })
  })

  // Far over the limit: the server itself must answer, not Bun's body cap.
  test('a chunked POST body far over the limit answers 400 with body 0', async () => {
    const client = server.client()
    const body = chunked(JSON.stringify([{ id: 'a', payload: 'x'.repeat(50_000) }]))
    await expectError(await client.raw('POST', '/storage/bookmarks', body, { 'content-type': 'application/json' }), 400, '0')
  })

  test.each([
    ['a stray 0xFF byte', [0x5b, 0xff, 0x5d]],
    ['a truncated sequence', [0x5b, 0x22, 0xc3, 0x22, 0x5d]],
    ['an encoded surrogate', [0x5b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d]],
    ['an overlong encoding', [0x5b, 0x22, 0xc0, 0xaf, 0x22, 0x5d]],
  ])('a POST body with invalid UTF-8 (%s) answers 400 with body 0', async (_, bytes) => {
    await expectUnchanged(server, async (client) => {
      const response = await client.raw('POST', '/storage/bookmarks', new Uint8Array(bytes), { 'content-type': 'application/json' })
      await expectError(response, 400, '0')
    })
  })

  test('an application/newlines POST body with invalid UTF-8 answers 400 with body 0', async () => {
    await expectUnchanged(server, async (client) => {
      const body = new Uint8Array([...new TextEncoder().encode('{"id":"a","payload":"'), 0xff, 0x22, 0x7d])
      await expectError(await client.raw('POST', '/storage/bookmarks', body, { 'content-type': 'application/newlines' }), 400, '0')
    })
  })

  test('a PUT body with invalid UTF-8 answers 400 with body 8', async () => {
    await expectUnchanged(server, async (client) => {
      const body = new Uint8Array([...new TextEncoder().encode('{"payload":"'), 0xff, 0x22, 0x7d])
      await expectError(await client.raw('PUT', '/storage/bookmarks/a', body, { 'content-type': 'application/json' }), 400, '8')
    })
  })
})

describe.each(backends)('a commit that fails part-way on $name', (backend) => {
  const server = serverForSuite(backend, {
      syncstorage: { enable_quota: true, enforce_quota: true, limits: { max_quota_limit: 100 } },
    })

  test('a commit refused over quota after applying the staged records leaves nothing visible and keeps the batch', async () => {
    const client = server.client()
    const created = await client.post('/storage/bookmarks?batch=true', [{ id: 'staged', payload: 'x'.repeat(60) }])
    expect(created.status).toBe(202)
    const { batch } = (await created.json()) as { batch: string }
    // Usage is measured before each write, so this one may take the user to the limit.
    expect((await client.post('/storage/history', [{ id: 'h', payload: 'y'.repeat(100) }])).status).toBe(200)
    const before = await snapshot(client)

    const committed = await client.post(`/storage/bookmarks?batch=${batch}&commit=true`, [{ id: 'extra', payload: 'z' }])
    expect(committed.status).toBe(403)
    expect(await committed.text()).toBe('14')
    expect(await snapshot(client)).toEqual(before)
    expect(await client.json('GET', '/storage/bookmarks')).toEqual([])

    // The rolled-back commit did not delete the batch: once under quota, it commits in full.
    expect((await client.delete('/storage/history')).status).toBe(200)
    const retried = await client.post(`/storage/bookmarks?batch=${batch}&commit=true`, [{ id: 'extra', payload: 'z' }])
    expect(retried.status).toBe(200)
    expect(await client.json('GET', '/storage/bookmarks?sort=oldest')).toEqual(['extra', 'staged'])
  })
})
