import { describe, expect, test } from 'bun:test'
import { hawkAuthorization } from '../../src/auth/hawk.ts'
import { mintToken } from '../../src/auth/token.ts'
import { backends } from '../support/backends.ts'
import { serverForSuite } from '../support/server.ts'

describe.each(backends)('Hawk authentication on $name', (backend) => {
  const server = serverForSuite(backend)

  const expectUnauthorized = async (response: Response) => {
    expect(response.status).toBe(401)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(await response.text()).toBe('0')
  }

  test('a request without Authorization answers 401 with body 0', async () => {
    await expectUnauthorized(await server.client().get('/storage/tabs', { unsigned: true }))
  })

  test('a non-Hawk or malformed Authorization answers 401', async () => {
    const client = server.client()
    for (const authorization of ['Bearer abc', 'hawk id="x"', 'Hawk id="x", ts="1", nonce="n"', 'Hawk garbage']) {
      await expectUnauthorized(await client.get('/storage/tabs', { headers: { authorization } }))
    }
  })

  test('an Authorization header that is not visible ASCII answers 401, wherever the character is', async () => {
    const client = server.client()
    const header = hawkAuthorization(client.credentials, { method: 'GET', url: client.url('/storage/tabs') })
    expect((await client.get('/storage/tabs', { headers: { authorization: header } })).status).toBe(200)
    const id = header.match(/id="([^"]+)"/)![1]!
    const altered = [
      header.replace(`id="${id}"`, `id="${id.slice(0, 20)}\u00e9${id.slice(20)}"`),
      header.replace(`id="${id}"`, `id="${id}\u00e9"`),
      // Signed with it, so that only the character can be what is refused.
      hawkAuthorization(client.credentials, { method: 'GET', url: client.url('/storage/tabs'), nonce: 'n\u00e9' }),
      `${header}, ext="caf\u00e9"`,
      `${header}, app="\u00e9"`,
      header.replace(', ts=', ',\u00a0ts='),
    ]
    for (const authorization of altered) await expectUnauthorized(await client.get('/storage/tabs', { headers: { authorization } }))
  })

  test('a tampered MAC answers 401', async () => {
    const client = server.client()
    const header = hawkAuthorization(client.credentials, { method: 'GET', url: client.url('/storage/tabs') })
    const tampered = header.replace(/mac="([^"]+)"/, (_, mac: string) => `mac="${mac.startsWith('A') ? 'B' : 'A'}${mac.slice(1)}"`)
    await expectUnauthorized(await client.get('/storage/tabs', { headers: { authorization: tampered } }))
  })

  test('a request signed for another path answers 401', async () => {
    const client = server.client()
    const header = hawkAuthorization(client.credentials, { method: 'GET', url: client.url('/storage/forms') })
    await expectUnauthorized(await client.get('/storage/tabs', { headers: { authorization: header } }))
  })

  test('a token minted with another master secret answers 401', async () => {
    const client = server.client()
    const foreign = mintToken('not the server secret', { uid: client.uid, node: server.url, expires: Date.now() / 1000 + 60, fxa_uid: '', fxa_kid: '' })
    await expectUnauthorized(await client.get('/storage/tabs', { credentials: foreign }))
  })

  test('a token for uid A used on uid B\'s URL answers 400 and reads nothing', async () => {
    const alice = server.client()
    const bob = server.client()
    await bob.put('/storage/tabs/secret', { payload: 'bob' })
    const response = await alice.send('GET', bob.url('/storage/tabs/secret'))
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('0')
  })

  test('an expired token answers 401, except on info/collections', async () => {
    const client = server.client(undefined, { expiresInSeconds: -10 })
    await expectUnauthorized(await client.get('/storage/tabs'))
    await expectUnauthorized(await client.get('/info/quota'))
    expect((await client.get('/info/collections')).status).toBe(200)
  })

  test('a Hawk timestamp beyond 52 weeks of skew answers 401', async () => {
    const client = server.client()
    const url = client.url('/storage/tabs')
    const ts = Math.floor(Date.now() / 1000) - 53 * 7 * 24 * 3600
    await expectUnauthorized(await client.get('/storage/tabs', { headers: { authorization: hawkAuthorization(client.credentials, { method: 'GET', url, ts }) } }))
  })

  test('the MAC covers the raw query exactly as sent, including a leading &', async () => {
    const client = server.client()
    await client.put('/storage/tabs/a', { payload: 'x' })
    const response = await client.get('/storage/tabs?&limit=2&ids=a%2Cb')
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual(['a'])
  })

  test('a client behind a proxy signs for X-Forwarded-Host and X-Forwarded-Proto', async () => {
    const client = server.client()
    const url = client.url('/storage/tabs')
    const authorization = hawkAuthorization(client.credentials, { method: 'GET', url, host: 'sync.example.com', port: 443 })
    const response = await client.get('/storage/tabs', {
      headers: { authorization, 'x-forwarded-host': 'sync.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-server': 'ignored' },
    })
    expect(response.status).toBe(200)
  })

  test('the Forwarded header names host and proto for the MAC', async () => {
    const client = server.client()
    const url = client.url('/storage/tabs')
    const authorization = hawkAuthorization(client.credentials, { method: 'GET', url, host: 'proxy.example', port: 8443 })
    const response = await client.get('/storage/tabs', { headers: { authorization, forwarded: 'host=proxy.example:8443;proto=https' } })
    expect(response.status).toBe(200)
  })

  test('a host header with a port that is not a number answers 400', async () => {
    const client = server.client()
    const response = await client.get('/storage/tabs', { headers: { 'x-forwarded-host': 'example.com:http' } })
    expect(response.status).toBe(400)
  })

  test('unknown routes answer 404 before authentication', async () => {
    const response = await server.client().get('/storage/tabs/a/b', { unsigned: true })
    expect(response.status).toBe(404)
    expect(await response.text()).toBe('0')
  })
})
