import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { RETIRED_GENERATION } from '../../src/db/tokenserver-types.ts'
import { OAuthVerifier, OLDSYNC_SCOPE } from '../../src/tokenserver/verify.ts'
import { sqlBackends } from '../support/backends.ts'
import { accessToken, errorBody, harnessPerTest, newFxaUid, primaryKey, secondaryKey, strangerKey, UNAUTHORIZED, type Harness, type HarnessOptions } from './harness.ts'
import { startMockAccounts, type MockAccounts } from './mock-accounts.ts'

const invalidCredentials = UNAUTHORIZED('invalid-credentials')
const verifyAnswer = (answer: Record<string, unknown>) => ({ status: 200, body: JSON.stringify(answer) })

describe.each(sqlBackends)('OAuth verification (tokenserver.md §4) on $name', (backend) => {
  let fxa: MockAccounts
  const open = harnessPerTest(backend)
  beforeAll(() => {
    fxa = startMockAccounts()
  })
  afterAll(() => fxa.stop())
  beforeEach(() => {
    fxa.calls.length = 0
    fxa.verifyBodies.length = 0
    fxa.jwks = { status: 200, body: '{"keys":[]}' }
    fxa.verify = { status: 401, body: '{"code":401}' }
  })
  const start = (tokenserver: Record<string, unknown> = {}, options: HarnessOptions = {}) =>
    open({ ...options, tokenserver: { fxa_oauth_server_url: fxa.url, ...tokenserver } })
  const withoutJwks = { fxa_oauth_primary_jwk: undefined }
  const expectStatus = async (harness: Harness, token: string, status: number, body?: unknown) => {
    const response = await harness.request({ token })
    expect(response.status).toBe(status)
    if (body !== undefined) expect(await response.json()).toEqual(body)
  }

  describe('local JWKs (§4.1)', () => {
    test('a token signed by the primary key is accepted without calling FxA', async () => {
      await expectStatus(await start(), await accessToken(), 200)
      expect(fxa.calls).toEqual([])
    })

    test('during rotation a token signed by the secondary key is accepted', async () => {
      const harness = await start({ fxa_oauth_secondary_jwk: secondaryKey.jwk })
      await expectStatus(harness, await accessToken({ key: secondaryKey }), 200)
      await expectStatus(harness, await accessToken({ key: primaryKey }), 200)
    })

    test('a key that is no longer configured is refused without remote fallback', async () => {
      const harness = await start({ fxa_oauth_primary_jwk: secondaryKey.jwk })
      await expectStatus(harness, await accessToken({ key: primaryKey }), 401, invalidCredentials)
      expect(fxa.calls).toEqual([])
    })

    test('a token signed by an unknown key is refused without remote fallback', async () => {
      await expectStatus(await start(), await accessToken({ key: strangerKey }), 401, invalidCredentials)
      expect(fxa.calls).toEqual([])
    })

    test('an expired token is refused without remote fallback', async () => {
      await expectStatus(await start(), await accessToken({ expiresIn: -120 }), 401, invalidCredentials)
      expect(fxa.calls).toEqual([])
    })

    test('a token expired less than the 60 s leeway ago is accepted', async () => {
      await expectStatus(await start(), await accessToken({ expiresIn: -30 }), 200)
    })

    test('an expired token signed by an unknown key is refused without remote fallback', async () => {
      await expectStatus(await start(), await accessToken({ key: strangerKey, expiresIn: -3600 }), 401, invalidCredentials)
      expect(fxa.calls).toEqual([])
    })

    test.each([
      ['missing', null],
      ['JWT', 'JWT'],
      ['application/jwt', 'application/jwt'],
    ])('typ %s is refused', async (_name, typ) => {
      await expectStatus(await start(), await accessToken({ typ }), 401, invalidCredentials)
      expect(fxa.calls).toEqual([])
    })

    test.each([['at+jwt'], ['AT+JWT'], ['application/at+jwt']])('typ %s is accepted', async (typ) => {
      await expectStatus(await start(), await accessToken({ typ }), 200)
    })

    test.each([
      ['space-separated', `profile ${OLDSYNC_SCOPE}`],
      ['comma-separated', `profile,${OLDSYNC_SCOPE}`],
    ])('a %s scope list containing oldsync is accepted', async (_name, scope) => {
      await expectStatus(await start(), await accessToken({ scope }), 200)
    })

    test.each([
      ['another scope', 'profile'],
      ['a longer scope sharing the prefix', `${OLDSYNC_SCOPE}x`],
      ['an empty scope', ''],
    ])('%s is refused', async (_name, scope) => {
      await expectStatus(await start(), await accessToken({ scope }), 401, invalidCredentials)
    })
  })

  describe('the accounts server key set (§4.2)', () => {
    test('with no JWK configured, keys come from /v1/jwks and are fetched once', async () => {
      fxa.jwks = { status: 200, body: JSON.stringify({ keys: [{ ...primaryKey.jwk, kid: 'k1', alg: 'RS256', use: 'sig' }] }) }
      const harness = await start(withoutJwks)
      await expectStatus(harness, await accessToken(), 200)
      await expectStatus(harness, await accessToken(), 200)
      expect(fxa.count('/v1/jwks')).toBe(1)
      expect(fxa.count('/v1/verify')).toBe(0)
    })

    test('an unusable key set falls back to /v1/verify', async () => {
      fxa.jwks = { status: 200, body: '{"keys":[{"fake":"RSA key"}]}' }
      fxa.verify = verifyAnswer({ user: newFxaUid(), scope: [OLDSYNC_SCOPE], generation: 1234 })
      await expectStatus(await start(withoutJwks), await accessToken(), 200)
      expect(fxa.count('/v1/verify')).toBe(1)
    })

    test('a failing /v1/jwks falls back to /v1/verify', async () => {
      fxa.jwks = { status: 500, body: '{}' }
      fxa.verify = verifyAnswer({ user: newFxaUid(), scope: [OLDSYNC_SCOPE] })
      await expectStatus(await start(withoutJwks), await accessToken(), 200)
    })

    test('a token signed by a new FxA key refetches the set, at most once a minute', async () => {
      let clock = 1_000_000
      const verifier = new OAuthVerifier({ serverUrl: fxa.url, timeoutMs: 5000, jwks: [], now: () => clock })
      fxa.jwks = { status: 200, body: JSON.stringify({ keys: [primaryKey.jwk] }) }
      const harness = await start(withoutJwks, { verifier })
      await expectStatus(harness, await accessToken(), 200)
      fxa.jwks = { status: 200, body: JSON.stringify({ keys: [primaryKey.jwk, secondaryKey.jwk] }) }
      clock += 30_000
      await expectStatus(harness, await accessToken({ key: secondaryKey }), 401, invalidCredentials)
      expect(fxa.count('/v1/jwks')).toBe(1)
      clock += 31_000
      await expectStatus(harness, await accessToken({ key: secondaryKey }), 200)
      expect(fxa.count('/v1/jwks')).toBe(2)
      expect(fxa.count('/v1/verify')).toBe(0)
    })

    test('the key set is refetched after an hour', async () => {
      let clock = 1_000_000
      const verifier = new OAuthVerifier({ serverUrl: fxa.url, timeoutMs: 5000, jwks: [], now: () => clock })
      fxa.jwks = { status: 200, body: JSON.stringify({ keys: [primaryKey.jwk] }) }
      const harness = await start(withoutJwks, { verifier })
      await expectStatus(harness, await accessToken(), 200)
      clock += 3_600_000
      await expectStatus(harness, await accessToken(), 200)
      expect(fxa.count('/v1/jwks')).toBe(2)
    })
  })

  describe('remote verification (§4.2)', () => {
    const opaqueToken = '{"user": "opaque", "scope": ["https://identity.mozilla.com/apps/oldsync"]}'

    test('a token that is not a JWT goes to /v1/verify byte-for-byte, even with a primary JWK', async () => {
      const fxaUid = newFxaUid()
      fxa.verify = verifyAnswer({ user: fxaUid, scope: [OLDSYNC_SCOPE], generation: 1234, client_id: '5882386c6d801776' })
      const harness = await start()
      const body = await harness.token({ token: opaqueToken })
      expect(fxa.calls).toEqual(['/v1/verify'])
      expect(JSON.parse(fxa.verifyBodies[0] as string)).toEqual({ token: opaqueToken })
      expect(await harness.rows(fxaUid)).toMatchObject([{ uid: body.uid, generation: 1234n }])
    })

    test('a non-2xx answer is invalid-credentials', async () => {
      fxa.verify = { status: 401, body: '{"code":401,"errno":108}' }
      await expectStatus(await start(), opaqueToken, 401, invalidCredentials)
    })

    test('an answer without the oldsync scope is invalid-credentials', async () => {
      fxa.verify = verifyAnswer({ user: newFxaUid(), scope: ['profile'], generation: 1234 })
      await expectStatus(await start(), opaqueToken, 401, invalidCredentials)
    })

    test('an answer that is not JSON is invalid-credentials', async () => {
      fxa.verify = { status: 200, body: 'ok' }
      await expectStatus(await start(), opaqueToken, 401, invalidCredentials)
    })

    test('an answer without a user is invalid-credentials', async () => {
      fxa.verify = verifyAnswer({ scope: [OLDSYNC_SCOPE] })
      await expectStatus(await start(), opaqueToken, 401, invalidCredentials)
    })

    test.each([
      ['null', null],
      ['0', 0],
    ])('a generation of %s counts as absent', async (_name, generation) => {
      const fxaUid = newFxaUid()
      fxa.verify = verifyAnswer({ user: fxaUid, scope: [OLDSYNC_SCOPE], generation })
      const harness = await start()
      await harness.token({ token: opaqueToken, keyId: '0-qqo' })
      expect(await harness.rows(fxaUid)).toMatchObject([{ generation: 0n, keysChangedAt: null }])
    })

    test('a missing generation counts as absent', async () => {
      const fxaUid = newFxaUid()
      fxa.verify = verifyAnswer({ user: fxaUid, scope: [OLDSYNC_SCOPE] })
      const harness = await start()
      await harness.token({ token: opaqueToken })
      // A new user stores 0 for an absent generation (§9.4).
      expect(await harness.rows(fxaUid)).toMatchObject([{ generation: 0n, keysChangedAt: 1234n }])
    })

    test('generation 9223372036854775807 is read exactly and stored exactly', async () => {
      const fxaUid = newFxaUid()
      fxa.verify = { status: 200, body: `{"user":"${fxaUid}","scope":["${OLDSYNC_SCOPE}"],"generation":9223372036854775807}` }
      const harness = await start()
      await harness.token({ token: opaqueToken })
      expect((await harness.rows(fxaUid))[0]?.generation).toBe(RETIRED_GENERATION)
    })

    test('an FxA that answers slower than fxa_oauth_request_timeout gives 503 "Resource is not available"', async () => {
      fxa.verify = { ...verifyAnswer({ user: newFxaUid(), scope: [OLDSYNC_SCOPE] }), delayMs: 1500 }
      const harness = await start({ fxa_oauth_request_timeout: 1 })
      await expectStatus(harness, opaqueToken, 503, errorBody('error', 'body', '', 'Resource is not available'))
    })
  })

  test('a JWT generation of 9223372036854775807 round-trips exactly', async () => {
    const fxaUid = newFxaUid()
    const harness = await start()
    await harness.token({ token: await accessToken({ sub: fxaUid, generation: RETIRED_GENERATION }) })
    expect((await harness.rows(fxaUid))[0]?.generation).toBe(RETIRED_GENERATION)
    // The stored value compares equal to the next request's, so the user is let in again.
    await harness.token({ token: await accessToken({ sub: fxaUid, generation: RETIRED_GENERATION }) })
  })
})
