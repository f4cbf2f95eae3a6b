import { describe, expect, test } from 'bun:test'
import mysql from 'mysql2/promise'
import { backends } from '../support/backends.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { freshUid, type SyncClient } from '../support/sync-client.ts'

/**
 * Regression tests for the data-corruption defects of issue 9, over HTTP on every engine: each
 * failed on the code before its fix.
 */

const idsOf = async (client: SyncClient, collection: string): Promise<unknown> => {
  const response = await client.get(`/storage/${collection}`)
  expect(response.status).toBe(200)
  return response.json()
}

const collectionNames = async (client: SyncClient): Promise<string[]> =>
  Object.keys(await client.json<Record<string, number>>('GET', '/info/collections')).sort()

describe.each(backends)('a rolled-back write leaves no trace on $name', (backend) => {
  /** Each test gets its own database: the defect lives in ids shared by all users. */
  async function server(): Promise<{ url: string; first: TestServer }> {
    const url = await backend.freshDatabaseUrl()
    return { url, first: await startTestServer(url) }
  }

  /** Steps 1–3 of the repro: a write to a new collection that rolls back, then two creations. */
  async function reproduce(client: SyncClient): Promise<void> {
    expect((await client.delete('/storage/foo/x')).status).toBe(404)
    expect((await client.post('/storage/bar', [{ id: 'b', payload: 'B' }])).status).toBe(200)
    expect((await client.post('/storage/foo', [{ id: 'f', payload: 'F' }])).status).toBe(200)
  }

  async function expectSeparate(client: SyncClient): Promise<void> {
    expect(await idsOf(client, 'bar')).toEqual(['b'])
    expect(await idsOf(client, 'foo')).toEqual(['f'])
    expect(await collectionNames(client)).toEqual(['bar', 'foo'])
  }

  test('two collections created after a rolled-back creation stay two, also after a restart', async () => {
    const { url, first } = await server()
    const uid = freshUid()
    try {
      await reproduce(first.client(uid))
      await expectSeparate(first.client(uid))
    } finally {
      await first.stop()
    }
    const second = await startTestServer(url)
    try {
      await expectSeparate(second.client(uid))
      // Another user's writes land in the collection they name, not in a merged one.
      const other = second.client()
      expect((await other.post('/storage/foo', [{ id: 'g', payload: 'G' }])).status).toBe(200)
      expect(await idsOf(other, 'foo')).toEqual(['g'])
      expect(await idsOf(other, 'bar')).toEqual([])
    } finally {
      await second.stop()
    }
  })

  test('a PUT answered 304 (X-If-Modified-Since) on a new collection creates nothing', async () => {
    const { first } = await server()
    try {
      const client = first.client()
      const refused = await client.put('/storage/alpha/x', { payload: 'A' }, { headers: { 'x-if-modified-since': '2000000000.00' } })
      expect(refused.status).toBe(304)
      expect((await client.put('/storage/beta/y', { payload: 'B' })).status).toBe(200)
      expect((await client.put('/storage/alpha/z', { payload: 'Z' })).status).toBe(200)
      expect(await idsOf(client, 'alpha')).toEqual(['z'])
      expect(await idsOf(client, 'beta')).toEqual(['y'])
    } finally {
      await first.stop()
    }
  })

  test('a POST with an unknown batch id on a new collection creates nothing', async () => {
    const { first } = await server()
    try {
      const client = first.client()
      const refused = await client.post('/storage/gamma?batch=MTIzNDU2Nzg5&commit=true', [{ id: 'x', payload: 'X' }])
      expect(refused.status).toBe(400)
      expect((await client.post('/storage/delta', [{ id: 'd', payload: 'D' }])).status).toBe(200)
      expect((await client.post('/storage/gamma', [{ id: 'g', payload: 'G' }])).status).toBe(200)
      expect(await idsOf(client, 'gamma')).toEqual(['g'])
      expect(await idsOf(client, 'delta')).toEqual(['d'])
    } finally {
      await first.stop()
    }
  })
})

describe.each(backends)('record ids are compared byte for byte on $name', (backend) => {
  let server: TestServer
  let databaseUrl: string
  const start = async () => {
    databaseUrl ??= await backend.freshDatabaseUrl()
    server ??= await startTestServer(databaseUrl)
    return server
  }

  /** Engines whose key collation ignores trailing spaces refuse such ids (docs/storage-engines.md). */
  const refusesTrailingSpaces = backend.name === 'mysql'

  test('ids that differ only by trailing spaces never become one record', async () => {
    const client = (await start()).client()
    expect((await client.put('/storage/tabs/x', { payload: 'plain' })).status).toBe(200)
    const spaced = await client.put('/storage/tabs/x%20', { payload: 'spaced' })
    if (refusesTrailingSpaces) {
      expect(spaced.status).toBe(400)
      expect(await client.json('GET', '/storage/tabs?full=1')).toEqual([expect.objectContaining({ id: 'x', payload: 'plain' })])
      expect((await client.get('/storage/tabs/x%20')).status).toBe(404)
    } else {
      expect(spaced.status).toBe(200)
      expect((await client.json<{ payload: string }>('GET', '/storage/tabs/x%20')).payload).toBe('spaced')
      expect((await client.json<{ payload: string }>('GET', '/storage/tabs/x')).payload).toBe('plain')
      expect(((await idsOf(client, 'tabs')) as string[]).sort()).toEqual(['x', 'x '])
    }
  })

  test('a POST and a batch with a trailing-space id do not touch the plain id', async () => {
    const client = (await start()).client()
    expect((await client.post('/storage/tabs', [{ id: 'y', payload: 'plain' }])).status).toBe(200)
    const posted = await client.post('/storage/tabs', [{ id: 'y ', payload: 'spaced' }])
    const batch = await client.post('/storage/tabs?batch=true', [{ id: 'y  ', payload: 'batched' }])
    if (refusesTrailingSpaces) {
      expect(posted.status).toBe(400)
      expect(batch.status).toBe(400)
    } else {
      expect(posted.status).toBe(200)
      expect(batch.status).toBe(202)
    }
    expect((await client.json<{ payload: string }>('GET', '/storage/tabs/y')).payload).toBe('plain')
  })

  /** Stores `trail ` for a new user: over HTTP, or (where HTTP refuses it) as a syncstorage-rs database could hold it. */
  async function storeTrailingSpaceId(client: SyncClient): Promise<void> {
    if (!refusesTrailingSpaces) {
      expect((await client.put('/storage/tabs/trail%20', { payload: 'spaced' })).status).toBe(200)
      return
    }
    expect((await client.put('/storage/tabs/other', { payload: 'O' })).status).toBe(200)
    const connection = await mysql.createConnection({ uri: databaseUrl })
    try {
      await connection.query(
        "INSERT INTO bso (userid, collection, id, payload, modified, ttl) SELECT userid, collection, 'trail ', 'spaced', modified, ttl FROM bso WHERE userid = ?",
        [client.uid],
      )
    } finally {
      await connection.end()
    }
  }

  test('?ids=, GET and DELETE of a plain id neither return nor delete the trailing-space id', async () => {
    const client = (await start()).client()
    await storeTrailingSpaceId(client)
    expect(await client.json('GET', '/storage/tabs?ids=trail')).toEqual([])
    expect((await client.get('/storage/tabs/trail')).status).toBe(404)
    expect((await client.delete('/storage/tabs/trail')).status).toBe(404)
    expect((await client.delete('/storage/tabs?ids=trail')).status).toBe(200)
    expect((await client.json<{ payload: string }>('GET', '/storage/tabs/trail%20')).payload).toBe('spaced')
    await server.stop()
  })
})

describe.each(backends)('payload bytes are the UTF-8 bytes the client sent on $name', (backend) => {
  test('U+0000 and U+0001 count one byte each in usage, quota and its enforcement', async () => {
    const server = await startTestServer(await backend.freshDatabaseUrl(), {
      syncstorage: { enable_quota: true, enforce_quota: true, limits: { max_quota_limit: 2048 } },
    })
    try {
      const client = server.client()
      const payload = '\u0000\u0001'.repeat(512)
      expect((await client.put('/storage/forms/a', { payload })).status).toBe(200)
      expect((await client.json<{ payload: string }>('GET', '/storage/forms/a')).payload).toBe(payload)
      expect(await client.json('GET', '/info/collection_usage')).toEqual({ forms: 1 })
      expect(await client.json('GET', '/info/quota')).toEqual([1, null])
      // 1,024 bytes stored of 2,048: a second write is still under quota (it would not be at 2 bytes each).
      expect((await client.put('/storage/forms/b', { payload })).status).toBe(200)
      expect((await client.put('/storage/forms/c', { payload: 'x' })).status).toBe(403)
    } finally {
      await server.stop()
    }
  })
})
