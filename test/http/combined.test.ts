import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { accessToken, primaryKey } from '../tokenserver/harness.ts'
import { backends } from '../support/backends.ts'
import { startTestServer, type TestServer } from '../support/server.ts'

interface TokenResponse {
  id: string
  key: string
  uid: number
  api_endpoint: string
  duration: number
  node_type: string
}

describe.each(backends)('storage and tokenserver in one server on $name', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    const databaseUrl = await backend.freshDatabaseUrl()
    server = await startTestServer(databaseUrl, {
      tokenserver: {
        enabled: true,
        database_url: (await backend.tokenserverDatabaseUrl?.()) ?? databaseUrl,
        fxa_oauth_primary_jwk: primaryKey.jwk,
        init_node_url: 'https://sync.example.com',
      },
    })
  })
  afterAll(() => server.stop())

  const fetchToken = async () =>
    fetch(`${server.url}/1.0/sync/1.5`, {
      headers: { authorization: `Bearer ${await accessToken()}`, 'x-keyid': '1234-qqo', accept: 'application/json' },
    })

  test('a token from /1.0/sync/1.5 authenticates storage requests for its uid', async () => {
    const response = await fetchToken()
    expect(response.status).toBe(200)
    const token = (await response.json()) as TokenResponse
    expect(token.api_endpoint).toBe(`https://sync.example.com/1.5/${token.uid}`)
    // The storage engine's name, as syncstorage-rs reports it (`spanner` on Spanner storage).
    expect(token.node_type).toBe(backend.name)
    const client = server.client(token.uid)
    const credentials = { id: token.id, key: token.key }
    expect((await client.put('/storage/tabs/a', { payload: 'x' }, { credentials })).status).toBe(200)
    expect(await client.json('GET', '/storage/tabs', { credentials })).toEqual(['a'])
  })

  test('tokenserver responses carry X-Weave-Timestamp in combined mode', async () => {
    const response = await fetchToken()
    expect(response.headers.get('x-weave-timestamp')).toMatch(/^\d+\.\d{2}$/)
    expect(response.headers.get('x-timestamp')).toMatch(/^\d+$/)
  })

  test('unknown tokenserver paths answer an empty 404, not the storage 0', async () => {
    const response = await fetch(`${server.url}/1.0/sync/1.5/extra`)
    expect(response.status).toBe(404)
    expect(await response.text()).toBe('')
  })

  test('heartbeat checks both databases', async () => {
    const body = (await (await fetch(`${server.url}/__heartbeat__`)).json()) as { database: string }
    expect(body.database).toBe('Ok')
  })
})
