import { describe, expect, test } from 'bun:test'
import { SignJWT } from 'jose'
import { RETIRED_GENERATION } from '../../src/db/tokenserver-types.ts'
import { sqlBackends } from '../support/backends.ts'
import { accessToken, errorBody, harnessPerTest, newFxaUid, primaryKey, secondaryKey, strangerKey, UNAUTHORIZED, type Harness, type KeyPair } from './harness.ts'

const CLIENT_ID = 'tokenserver-webhook'
const ISSUER = 'https://accounts.example.com'
const DELETE_USER = 'https://schemas.accounts.firefox.com/event/delete-user'
const PASSWORD_CHANGE = 'https://schemas.accounts.firefox.com/event/password-change'

interface SetOptions {
  sub: string
  events: unknown
  key?: KeyPair
  audience?: string
  issuer?: string
}

/** A Security Event Token as FxA sends it. */
const securityEvent = (options: SetOptions) =>
  new SignJWT({ events: options.events })
    .setProtectedHeader({ alg: 'RS256' })
    .setSubject(options.sub)
    .setAudience(options.audience ?? CLIENT_ID)
    .setIssuer(options.issuer ?? ISSUER)
    .setIssuedAt()
    .sign((options.key ?? primaryKey).privateKey)

const webhookSettings = {
  fxa_webhook_enabled: true,
  fxa_webhook_set_client_id: CLIENT_ID,
  fxa_webhook_set_issuer: ISSUER,
  fxa_oauth_secondary_jwk: secondaryKey.jwk,
}

/** POST /1.0/webhooks/fxa/events (tokenserver.md §13). */
describe.each(sqlBackends)('FxA webhook on $name', (backend) => {
  const open = harnessPerTest(backend)
  const start = (tokenserver: Record<string, unknown> = webhookSettings) => open({ tokenserver })
  const post = (harness: Harness, authorization: string) =>
    harness.app.request('/1.0/webhooks/fxa/events', { method: 'POST', headers: { authorization } })
  const deliver = async (harness: Harness, options: SetOptions) => post(harness, `Bearer ${await securityEvent(options)}`)
  const signUp = async (harness: Harness, fxaUid: string) => {
    await harness.token({ token: await accessToken({ sub: fxaUid, generation: 1234 }), keyId: '1234-qqo' })
  }

  test('delete-user retires the account: its rows get the retired generation and are replaced', async () => {
    const harness = await start()
    const fxaUid = newFxaUid()
    await signUp(harness, fxaUid)
    const response = await deliver(harness, { sub: fxaUid, events: { [DELETE_USER]: {} } })
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('')
    const [row] = await harness.rows(fxaUid)
    expect(row?.generation).toBe(RETIRED_GENERATION)
    expect(row?.replacedAt).not.toBeNull()
    const again = await harness.request({ token: await accessToken({ sub: fxaUid, generation: 5000 }), keyId: '1234-qqo' })
    expect(await again.json()).toEqual(UNAUTHORIZED('invalid-generation'))
  })

  test('password-change raises the generation to changeTime - 1, never lowers it', async () => {
    const harness = await start()
    const fxaUid = newFxaUid()
    await signUp(harness, fxaUid)
    await deliver(harness, { sub: fxaUid, events: { [PASSWORD_CHANGE]: { changeTime: 2000 } } })
    expect(await harness.rows(fxaUid)).toMatchObject([{ generation: 1999n, keysChangedAt: 1234n, replacedAt: null }])
    await deliver(harness, { sub: fxaUid, events: { [PASSWORD_CHANGE]: { changeTime: 1500 } } })
    expect(await harness.rows(fxaUid)).toMatchObject([{ generation: 1999n }])
  })

  test('a password-change without an integer changeTime and unknown events change nothing', async () => {
    const harness = await start()
    const fxaUid = newFxaUid()
    await signUp(harness, fxaUid)
    const events = { [PASSWORD_CHANGE]: { changeTime: 'soon' }, 'https://schemas.accounts.firefox.com/event/profile-change': {} }
    expect((await deliver(harness, { sub: fxaUid, events })).status).toBe(200)
    expect(await harness.rows(fxaUid)).toMatchObject([{ generation: 1234n, replacedAt: null }])
  })

  test('events that are not an object answer 200', async () => {
    expect((await deliver(await start(), { sub: newFxaUid(), events: 'nothing' })).status).toBe(200)
  })

  test('a token signed by the secondary key is accepted', async () => {
    const harness = await start()
    const fxaUid = newFxaUid()
    await signUp(harness, fxaUid)
    await deliver(harness, { sub: fxaUid, key: secondaryKey, events: { [DELETE_USER]: {} } })
    expect((await harness.rows(fxaUid))[0]?.generation).toBe(RETIRED_GENERATION)
  })

  test.each([
    ['an unknown key', { key: strangerKey }],
    ['another audience', { audience: 'someone-else' }],
    ['another issuer', { issuer: 'https://evil.example' }],
  ])('a token with %s answers 401 invalid-credentials and changes nothing', async (_name, override) => {
    const harness = await start()
    const fxaUid = newFxaUid()
    await signUp(harness, fxaUid)
    const response = await deliver(harness, { sub: fxaUid, events: { [DELETE_USER]: {} }, ...override })
    expect(response.status).toBe(401)
    expect(await response.json()).toEqual(UNAUTHORIZED('invalid-credentials'))
    expect(await harness.rows(fxaUid)).toMatchObject([{ generation: 1234n, replacedAt: null }])
  })

  test('without client id and issuer settings every call is invalid-credentials', async () => {
    const harness = await start({ fxa_webhook_enabled: true })
    const response = await deliver(harness, { sub: newFxaUid(), events: { [DELETE_USER]: {} } })
    expect(await response.json()).toEqual(UNAUTHORIZED('invalid-credentials'))
  })

  test('a missing or non-bearer Authorization is refused like a token request', async () => {
    const harness = await start()
    const missing = await harness.app.request('/1.0/webhooks/fxa/events', { method: 'POST' })
    expect(await missing.json()).toEqual(errorBody('error', 'body', '', 'Unauthorized'))
    expect(await (await post(harness, 'Basic abc')).json()).toEqual(errorBody('error', 'body', '', 'Unsupported'))
  })

  test('in metrics-only mode events are accepted but not applied', async () => {
    const harness = await start({ ...webhookSettings, fxa_webhook_metrics_only: true })
    const fxaUid = newFxaUid()
    await signUp(harness, fxaUid)
    expect((await deliver(harness, { sub: fxaUid, events: { [DELETE_USER]: {} } })).status).toBe(200)
    expect(await harness.rows(fxaUid)).toMatchObject([{ generation: 1234n, replacedAt: null }])
  })

  test('without fxa_webhook_enabled the route does not exist', async () => {
    const harness = await start({})
    expect((await deliver(harness, { sub: newFxaUid(), events: {} })).status).toBe(404)
  })
})
