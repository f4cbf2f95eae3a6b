import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { accessToken, primaryKey, UNREACHABLE_FXA } from '../../test/tokenserver/harness.ts'
import { startMockAccounts, type MockAccounts } from '../../test/tokenserver/mock-accounts.ts'
import { isSyncError } from '../errors.ts'
import { OAuthVerifier } from './verify.ts'

const failureKind = (promise: Promise<unknown>) =>
  promise.then(
    () => 'none',
    (error: unknown) => (isSyncError(error) ? error.kind : String(error)),
  )

describe('OAuthVerifier', () => {
  let fxa: MockAccounts
  beforeAll(() => {
    fxa = startMockAccounts()
  })
  afterAll(() => fxa.stop())
  beforeEach(() => {
    fxa.calls.length = 0
    fxa.verify = { status: 401, body: '{}' }
  })

  test('concurrent first verifications share one key-set fetch', async () => {
    fxa.jwks = { status: 200, body: JSON.stringify({ keys: [primaryKey.jwk] }) }
    const verifier = new OAuthVerifier({ serverUrl: fxa.url, timeoutMs: 5000, jwks: [] })
    const tokens = await Promise.all([accessToken(), accessToken(), accessToken()])
    await Promise.all(tokens.map((token) => verifier.verify(token)))
    expect(fxa.count('/v1/jwks')).toBe(1)
  })

  test('returns the subject and generation, with generation 0 as absent', async () => {
    const verifier = new OAuthVerifier({ serverUrl: UNREACHABLE_FXA, timeoutMs: 5000, jwks: [primaryKey.jwk] })
    expect(await verifier.verify(await accessToken({ sub: 'abc', generation: 42 }))).toEqual({ fxaUid: 'abc', generation: 42n, email: null })
    expect((await verifier.verify(await accessToken({ generation: 0 }))).generation).toBeNull()
  })

  test('an unreachable accounts server is invalid-credentials, not an outage', async () => {
    const verifier = new OAuthVerifier({ serverUrl: UNREACHABLE_FXA, timeoutMs: 5000, jwks: [] })
    expect(await failureKind(verifier.verify('opaque token'))).toBe('invalidCredentials')
  })

  test('a verification slower than the timeout is oauthTimeout', async () => {
    fxa.verify = { status: 200, body: '{}', delayMs: 300 }
    const verifier = new OAuthVerifier({ serverUrl: fxa.url, timeoutMs: 50, jwks: [primaryKey.jwk] })
    expect(await failureKind(verifier.verify('opaque token'))).toBe('oauthTimeout')
  })

  test('a JWT with a non-integer fxa-generation goes to the accounts server', async () => {
    const verifier = new OAuthVerifier({ serverUrl: fxa.url, timeoutMs: 5000, jwks: [primaryKey.jwk] })
    const token = await accessToken({ generation: null, extraClaims: { 'fxa-generation': 'soon' } })
    expect(await failureKind(verifier.verify(token))).toBe('invalidCredentials')
    expect(fxa.calls).toEqual(['/v1/verify'])
  })
})
