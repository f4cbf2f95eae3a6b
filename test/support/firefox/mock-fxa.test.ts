import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHmac } from 'node:crypto'
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose'
import {
  createAccount,
  deriveOldsyncKey,
  FIREFOX_CLIENT_ID,
  OLDSYNC_SCOPE,
  sessionTokenHawkId,
  startMockFxa,
  type Account,
  type MockFxa,
} from './mock-fxa.ts'

/** RFC 5869 written out with HMAC only, so the check does not trust node's hkdf. */
function rfc5869(ikm: Buffer, info: string, length: number): Buffer {
  const prk = createHmac('sha256', Buffer.alloc(32)).update(ikm).digest()
  const blocks: Buffer[] = []
  let previous = Buffer.alloc(0)
  for (let i = 1; blocks.length * 32 < length; i++) {
    previous = createHmac('sha256', prk).update(Buffer.concat([previous, Buffer.from(info), Buffer.from([i])])).digest()
    blocks.push(previous)
  }
  return Buffer.concat(blocks).subarray(0, length)
}

const hawkHeader = (account: Account): string =>
  `Hawk id="${sessionTokenHawkId(account.sessionToken)}", ts="${Math.floor(Date.now() / 1000)}", nonce="abc", mac="unchecked"`

describe('oldsync scoped key', () => {
  test('matches the test vector of Firefox test_FxAccountsKeys.js', () => {
    const key = deriveOldsyncKey('eaf9570b7219a4187d3d6bf3cec2770c2e0719b7cc0dfbb38243d6f1881675e9', 1510726317123)
    expect(key).toEqual({
      kty: 'oct',
      kid: '1510726317123-IqQv4onc7VcVE1kTQkyyOw',
      k: 'DW_ll5GwX6SJ5GPqJVAuMUP2t6kDqhUulc2cbt26xbTcaKGQl-9l29FHAQ7kUiJETma4s9fIpEHrt909zgFang',
      scope: OLDSYNC_SCOPE,
    })
  })

  test('kid has the X-KeyID shape the tokenserver parses', () => {
    const { kid } = deriveOldsyncKey('00'.repeat(32), 1795752880253)
    expect(kid).toMatch(/^\d{13}-[A-Za-z0-9_-]{22}$/)
  })
})

test('sessionToken Hawk id is the first half of HKDF(sessionToken)', () => {
  const sessionToken = 'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf'
  const expected = rfc5869(Buffer.from(sessionToken, 'hex'), 'identity.mozilla.com/picl/v1/sessionToken', 96)
  expect(sessionTokenHawkId(sessionToken)).toBe(expected.subarray(0, 32).toString('hex'))
})

describe('mock FxA server', () => {
  let fxa: MockFxa
  let account: Account

  beforeAll(async () => {
    fxa = await startMockFxa()
    account = fxa.createAccount()
  })
  afterAll(() => fxa.stop())

  const requestToken = (scope: string, who: Account = account): Promise<Response> =>
    fetch(`${fxa.url}/v1/oauth/token`, {
      method: 'POST',
      headers: { Authorization: hawkHeader(who), 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: FIREFOX_CLIENT_ID, grant_type: 'fxa-credentials', scope, ttl: 21600 }),
    })

  test('account fields have the sizes Firefox expects', () => {
    expect(account.uid).toMatch(/^[0-9a-f]{32}$/)
    expect(account.sessionToken).toMatch(/^[0-9a-f]{64}$/)
    expect(account.kB).toMatch(/^[0-9a-f]{64}$/)
    expect(account.generation).toBeGreaterThanOrEqual(account.keysChangedAt)
    expect(account.scopedKeys[OLDSYNC_SCOPE]).toEqual(deriveOldsyncKey(account.kB, account.keysChangedAt))
  })

  test('oauth/token answers a JWT that verifies with the published JWK', async () => {
    const response = await requestToken(OLDSYNC_SCOPE)
    expect(response.status).toBe(200)
    expect(response.headers.get('date')).toBeTruthy()
    const body = (await response.json()) as { access_token: string; token_type: string; expires_in: number }
    expect(body.token_type).toBe('bearer')
    expect(body.expires_in).toBe(21600)

    const jwks = (await (await fetch(`${fxa.url}/v1/jwks`)).json()) as { keys: Record<string, string>[] }
    expect(jwks.keys).toEqual([fxa.jwk as Record<string, string>])
    expect(fxa.jwk).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' })
    const { payload } = await jwtVerify(body.access_token, await importJWK(fxa.jwk, 'RS256'), { typ: 'at+jwt' })
    expect(decodeProtectedHeader(body.access_token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt', kid: fxa.jwk.kid })
    expect(payload).toMatchObject({ sub: account.uid, scope: OLDSYNC_SCOPE, 'fxa-generation': account.generation })
    expect(payload.exp! - payload.iat!).toBe(21600)
  })

  test('oauth/token refuses an unknown session', async () => {
    const stranger = createAccount()
    const response = await requestToken(OLDSYNC_SCOPE, stranger)
    expect(response.status).toBe(401)
    expect(((await response.json()) as { errno: number }).errno).toBe(110)
  })

  test('verify answers user, scope list and generation for a token it issued', async () => {
    const { access_token } = (await (await requestToken(OLDSYNC_SCOPE)).json()) as { access_token: string }
    const response = await fetch(`${fxa.url}/v1/verify`, { method: 'POST', body: JSON.stringify({ token: access_token }) })
    expect(await response.json()).toMatchObject({ user: account.uid, scope: [OLDSYNC_SCOPE], generation: account.generation })
    const forged = await fetch(`${fxa.url}/v1/verify`, { method: 'POST', body: JSON.stringify({ token: 'x.y.z' }) })
    expect(forged.status).toBe(400)
  })

  test('profile accepts a profile-scoped bearer token', async () => {
    const { access_token } = (await (await requestToken('profile')).json()) as { access_token: string }
    const response = await fetch(`${fxa.url}/profile/v1/profile`, { headers: { Authorization: `Bearer ${access_token}` } })
    expect(await response.json()).toMatchObject({ uid: account.uid, email: account.email })
  })

  test('a registered device is echoed with an id and then listed', async () => {
    const headers = { Authorization: hawkHeader(account) }
    const posted = { name: 'e2e', type: 'desktop', availableCommands: {} }
    const device = (await (await fetch(`${fxa.url}/v1/account/device`, { method: 'POST', headers, body: JSON.stringify(posted) })).json()) as {
      id: string
    }
    expect(device).toMatchObject({ ...posted, id: expect.any(String), createdAt: expect.any(Number) })
    const listed = (await (await fetch(`${fxa.url}/v1/account/devices?filterIdleDevicesTimestamp=0`, { headers })).json()) as { id: string }[]
    expect(listed.map((d) => d.id)).toEqual([device.id])
  })

  test('unknown paths answer {} and are reported as unhandled', async () => {
    const response = await fetch(`${fxa.url}/v1/nope`)
    expect(await response.json()).toEqual({})
    expect(fxa.unhandled()).toContainEqual({ method: 'GET', path: '/v1/nope', status: 200 })
  })
})
