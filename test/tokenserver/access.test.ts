import { describe, expect, test } from 'bun:test'
import { createLogger } from '../../src/http/logger.ts'
import { sqlBackends } from '../support/backends.ts'
import { accessToken, emailOf, errorBody, harnessPerTest, newFxaUid, NODE_URL } from './harness.ts'

const newUsersDisabled = errorBody('new-users-disabled', 'body', '', 'New users are not allowed')
const accountNotAllowed = errorBody('account-not-allowed', 'body', '', 'This account may not use this server')

/** Who may get a token at all: allow_new_users (§8) and our allow-list. */
describe.each(sqlBackends)('access control on $name', (backend) => {
  const open = harnessPerTest(backend)
  const start = (tokenserver: Record<string, unknown>) => open({ tokenserver })

  describe('allow_new_users = false', () => {
    test('an unknown user answers 403 new-users-disabled and gets no row', async () => {
      const harness = await start({ allow_new_users: false })
      const fxaUid = newFxaUid()
      const response = await harness.request({ token: await accessToken({ sub: fxaUid }) })
      expect(response.status).toBe(403)
      expect(await response.json()).toEqual(newUsersDisabled)
      expect(await harness.rows(fxaUid)).toEqual([])
    })

    test('a known user still gets a token', async () => {
      const harness = await start({ allow_new_users: false })
      const fxaUid = newFxaUid()
      const known = { service: harness.service, email: emailOf(fxaUid), generation: 1234n, clientState: 'aaaa', keysChangedAt: 1234n }
      const row = await harness.db.allocateUser({ ...known, createdAt: BigInt(Date.now()) }, { releaseRate: 0.1 })
      const body = await harness.token({ token: await accessToken({ sub: fxaUid }) })
      expect(body.uid).toBe(row.uid)
      expect(body.api_endpoint).toBe(`${NODE_URL}/1.5/${row.uid}`)
    })
  })

  describe('allow-list (ours)', () => {
    test('an account on allowed_fxa_uids gets a token', async () => {
      const fxaUid = newFxaUid()
      const harness = await start({ allowed_fxa_uids: [fxaUid] })
      expect((await harness.request({ token: await accessToken({ sub: fxaUid }) })).status).toBe(200)
    })

    test('an account whose derived email is on allowed_emails gets a token', async () => {
      const fxaUid = newFxaUid()
      const harness = await start({ allowed_emails: emailOf(fxaUid) })
      expect((await harness.request({ token: await accessToken({ sub: fxaUid }) })).status).toBe(200)
    })

    test('an account whose token claims an allowed email gets a token', async () => {
      const harness = await start({ allowed_emails: ['Me@Example.com'] })
      const token = await accessToken({ extraClaims: { 'fxa-email': 'me@example.com' } })
      expect((await harness.request({ token })).status).toBe(200)
    })

    test('any other account answers 403 account-not-allowed before a row is allocated', async () => {
      const harness = await start({ allowed_fxa_uids: [newFxaUid()], allowed_emails: ['me@example.com'] })
      const fxaUid = newFxaUid()
      const response = await harness.request({ token: await accessToken({ sub: fxaUid, extraClaims: { email: 'you@example.com' } }) })
      expect(response.status).toBe(403)
      expect(await response.json()).toEqual(accountNotAllowed)
      expect(await harness.rows(fxaUid)).toEqual([])
      expect(await harness.node(NODE_URL)).toMatchObject({ currentLoad: 0 })
    })

    test('a refused sign-in logs the FxA uid and the exact setting line that would allow it', async () => {
      const lines: string[] = []
      const logger = createLogger({ human: false, write: (line) => lines.push(line) })
      const allowed = newFxaUid()
      const harness = await open({ tokenserver: { allowed_emails: ['me@example.com'], allowed_fxa_uids: [allowed] }, logger })
      const fxaUid = newFxaUid()
      expect((await harness.request({ token: await accessToken({ sub: fxaUid }) })).status).toBe(403)
      const fields = lines.map((line) => JSON.parse(line).Fields).find((f) => f.fxa_uid === fxaUid)
      expect(fields.msg).toBe(`sign-in refused: Firefox Account ${fxaUid} is not on the allow-list`)
      expect(fields.to_allow).toBe(
        `[tokenserver] allowed_fxa_uids = ["${allowed}", "${fxaUid}"]  or  SYNC_TOKENSERVER__ALLOWED_FXA_UIDS=${allowed},${fxaUid}`,
      )
      // The line it names works.
      const fixed = await open({ tokenserver: { allowed_fxa_uids: [allowed, fxaUid] } })
      expect((await fixed.request({ token: await accessToken({ sub: fxaUid }) })).status).toBe(200)
    })

    test('a sign-in refused for allow_new_users = false logs the uid and the setting', async () => {
      const lines: string[] = []
      const harness = await open({ tokenserver: { allow_new_users: false }, logger: createLogger({ human: true, write: (line) => lines.push(line) }) })
      const fxaUid = newFxaUid()
      expect((await harness.request({ token: await accessToken({ sub: fxaUid }) })).status).toBe(403)
      expect(lines.join('\n')).toContain(`fxa_uid=${fxaUid} to_allow=set [tokenserver] allow_new_users = true`)
    })

    test('credentials are still checked first', async () => {
      const harness = await start({ allowed_fxa_uids: [newFxaUid()] })
      expect((await harness.request({ keyId: null })).status).toBe(401)
    })
  })
})
