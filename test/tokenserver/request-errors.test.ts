import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sqlBackends } from '../support/backends.ts'
import { accessToken, createHarness, errorBody, UNAUTHORIZED, type Harness, type TokenRequest } from './harness.ts'

/** Authorization, X-KeyID, X-Client-State and path errors (tokenserver.md §3, §5, §7, §11). */
describe.each(sqlBackends)('request errors on $name', (backend) => {
  let server: Harness
  beforeAll(async () => {
    server = await createHarness(backend)
  })
  afterAll(() => server.close())

  const expectError = async (request: TokenRequest, status: number, body: unknown) => {
    const response = await server.request(request)
    expect(response.status).toBe(status)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(response.headers.get('x-timestamp')).toBeNull()
    expect(await response.json()).toEqual(body)
  }

  const unauthorizedError = errorBody('error', 'body', '', 'Unauthorized')

  describe('Authorization (§3)', () => {
    test('a missing header answers 401 error "Unauthorized"', async () => {
      const response = await server.app.request('/1.0/sync/1.5', { headers: { 'x-keyid': '1234-qqo' } })
      expect(response.status).toBe(401)
      expect(await response.json()).toEqual(unauthorizedError)
    })

    test('a header without a space answers 401 error "Unauthorized"', async () => {
      await expectError({ headers: { authorization: 'Bearer' } }, 401, unauthorizedError)
    })

    test('a header that is not visible ASCII answers 401 error "Unauthorized"', async () => {
      await expectError({ headers: { authorization: 'Bearer t\u00f6ken' } }, 401, unauthorizedError)
    })

    test('another scheme answers 401 error "Unsupported"', async () => {
      await expectError({ headers: { authorization: 'BrowserID assertion' } }, 401, errorBody('error', 'body', '', 'Unsupported'))
    })

    test('the scheme is case-insensitive', async () => {
      expect((await server.request({ headers: { authorization: `bearer ${await accessToken()}` } })).status).toBe(200)
    })

    test('a token nobody vouches for answers 401 invalid-credentials', async () => {
      await expectError({ token: 'not.a.jwt' }, 401, UNAUTHORIZED('invalid-credentials'))
    })

    test('credentials are checked before X-KeyID', async () => {
      await expectError({ token: 'not.a.jwt', keyId: null }, 401, UNAUTHORIZED('invalid-credentials'))
    })
  })

  describe('X-KeyID (§5)', () => {
    test('a missing header answers 401 invalid-key-id "Missing X-KeyID header"', async () => {
      await expectError({ keyId: null }, 401, errorBody('invalid-key-id', 'header', '', 'Missing X-KeyID header'))
    })

    test('a header that is not visible ASCII answers 401 invalid-key-id "Invalid X-KeyID header"', async () => {
      await expectError({ keyId: '1234-qq\u00f6' }, 401, errorBody('invalid-key-id', 'header', '', 'Invalid X-KeyID header'))
    })

    test.each([
      ['without a dash', '1234qqo'],
      ['with padded base64', '1234-qqo='],
      ['with a non-base64 client state', '1234-q*o'],
      ['with a non-integer keys_changed_at', 'abcd-qqo'],
      ['with a keys_changed_at past 64 bits', '99999999999999999999-qqo'],
    ])('a header %s answers 401 invalid-credentials', async (_name, keyId) => {
      await expectError({ keyId }, 401, UNAUTHORIZED('invalid-credentials'))
    })
  })

  describe('X-Client-State (§5)', () => {
    test('a malformed value answers 400 with location header', async () => {
      await expectError({ clientState: 'not valid!' }, 400, errorBody('error', 'header', 'X-Client-State', 'Invalid client state value'))
    })

    test('a value other than the X-KeyID state answers 401 invalid-client-state (location body)', async () => {
      await expectError({ clientState: 'bbbb' }, 401, UNAUTHORIZED('invalid-client-state'))
    })

    test('the same value as X-KeyID is accepted', async () => {
      expect((await server.request({ clientState: 'aaaa' })).status).toBe(200)
    })

    test('the X-KeyID base64 is checked before X-Client-State', async () => {
      await expectError({ keyId: '1234-qqo=', clientState: 'not valid!' }, 401, UNAUTHORIZED('invalid-credentials'))
    })
  })

  describe('application and version (§7)', () => {
    test('another version of sync answers 404 naming the version', async () => {
      await expectError(
        { path: '/1.0/sync/1.1' },
        404,
        errorBody('error', 'url', '1.1', 'Unsupported application version'),
      )
    })

    test('another application answers 404 naming "application"', async () => {
      await expectError({ path: '/1.0/aitc/1.0' }, 404, errorBody('error', 'url', 'application', 'Unsupported application'))
    })

    test('credentials are checked before the application', async () => {
      await expectError({ path: '/1.0/aitc/1.0', keyId: null }, 401, errorBody('invalid-key-id', 'header', '', 'Missing X-KeyID header'))
    })
  })
})
