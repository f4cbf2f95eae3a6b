import { beforeEach, describe, expect, test } from 'bun:test'
import { TokenVerifier } from '../../src/auth/token.ts'
import type { TokenserverDb } from '../../src/db/tokenserver-types.ts'
import { silentLogger } from '../../src/http/logger.ts'
import { createTokenserverApi } from '../../src/tokenserver/api.ts'
import { metricsHashes } from '../../src/tokenserver/hashes.ts'
import { sqlBackends } from '../support/backends.ts'
import {
  accessToken,
  errorBody,
  harnessPerTest,
  KEY_ID,
  MASTER_SECRET,
  newFxaUid,
  NODE_URL,
  type Harness,
  type TokenBody,
} from './harness.ts'

describe.each(sqlBackends)('token issuing (tokenserver.md §10) on $name', (backend) => {
  const open = harnessPerTest(backend)
  let server: Harness
  beforeEach(async () => {
    server = await open()
  })

  test('a valid request answers 200 with exactly the documented keys', async () => {
    const fxaUid = newFxaUid()
    const response = await server.request({ token: await accessToken({ sub: fxaUid }) })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/json')
    const body = (await response.json()) as TokenBody
    expect(Object.keys(body).sort()).toEqual(['api_endpoint', 'duration', 'hashalg', 'hashed_fxa_uid', 'id', 'key', 'node_type', 'uid'])
    expect(body).toMatchObject({
      api_endpoint: `${NODE_URL}/1.5/${body.uid}`,
      duration: 3600,
      hashalg: 'sha256',
      hashed_fxa_uid: metricsHashes(fxaUid, MASTER_SECRET).hashedFxaUid,
      node_type: 'mysql',
    })
    expect(typeof body.uid).toBe('number')
  })

  test('a 200 carries X-Timestamp in whole seconds and X-Content-Type-Options nosniff', async () => {
    const before = Math.floor(Date.now() / 1000)
    const response = await server.request()
    const timestamp = Number(response.headers.get('x-timestamp'))
    expect(timestamp).toBeGreaterThanOrEqual(before)
    expect(timestamp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000))
    expect(response.headers.get('x-timestamp')).toMatch(/^\d+$/)
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
  })

  test('the token verifies on the storage side with the same master secret', async () => {
    const fxaUid = newFxaUid()
    const response = await server.request({ token: await accessToken({ sub: fxaUid, generation: 1234 }), keyId: '1234-qqo' })
    const body = (await response.json()) as TokenBody
    const { payload, key } = new TokenVerifier(MASTER_SECRET).verify(body.id)
    expect(key).toBe(body.key)
    const hashes = metricsHashes(fxaUid, MASTER_SECRET)
    expect(payload).toMatchObject({
      uid: body.uid,
      node: NODE_URL,
      fxa_uid: fxaUid,
      fxa_kid: '0000000001234-qqo',
      hashed_fxa_uid: hashes.hashedFxaUid,
      hashed_device_id: hashes.hashedDeviceId,
      tokenserver_origin: 'rust',
    })
    expect(payload.salt).toMatch(/^[0-9a-f]{6}$/)
    expect(payload.expires).toBe(Number(response.headers.get('x-timestamp')) + 3600)
  })

  test('a token from another master secret does not verify', async () => {
    const body = await server.token()
    expect(() => new TokenVerifier('another secret').verify(body.id)).toThrow()
  })

  test('hashed_device_id is in the token but not in the body', async () => {
    const body = await server.token()
    expect(Object.keys(body)).not.toContain('hashed_device_id')
    expect(new TokenVerifier(MASTER_SECRET).verify(body.id).payload.hashed_device_id).toMatch(/^[0-9a-f]{32}$/)
  })

  test.each([
    ['a shorter duration is honoured', '60', 60],
    ['the maximum itself is honoured', '3600', 3600],
    ['a longer duration is ignored', '3601', 3600],
    ['a negative duration is ignored', '-5', 3600],
    ['a non-number is ignored', 'soon', 3600],
    ['a fraction is ignored', '1.5', 3600],
  ])('?duration: %s', async (_name, duration, expected) => {
    const response = await server.request({ path: `/1.0/sync/1.5?duration=${duration}` })
    expect(response.status).toBe(200)
    const body = (await response.json()) as TokenBody
    expect(body.duration).toBe(expected)
    const { payload } = new TokenVerifier(MASTER_SECRET).verify(body.id)
    expect(payload.expires).toBe(Number(response.headers.get('x-timestamp')) + expected)
  })

  test('the same account keeps its uid across requests', async () => {
    const fxaUid = newFxaUid()
    const first = await server.token({ token: await accessToken({ sub: fxaUid }) })
    const second = await server.token({ token: await accessToken({ sub: fxaUid }) })
    expect(second.uid).toBe(first.uid)
    expect(second.id).not.toBe(first.id)
  })

  test('another method on the token path answers 405', async () => {
    expect((await server.request({ method: 'POST' })).status).toBe(405)
  })
})

describe.each(sqlBackends)('node_type and token_duration settings on $name', (backend) => {
  const open = harnessPerTest(backend)

  test('node_type and token_duration come from the settings', async () => {
    const server = await open({ tokenserver: { node_type: 'postgres', token_duration: 600 } })
    const body = await server.token({ path: '/1.0/sync/1.5?duration=900' })
    expect(body.node_type).toBe('postgres')
    expect(body.duration).toBe(600)
  })
})

describe.each(sqlBackends)('database_request_timeout (tokenserver.md §9.3) on $name', (backend) => {
  const open = harnessPerTest(backend)

  test('a database call slower than the timeout answers 504 elapsed', async () => {
    const server = await open()
    const slowDb = Object.create(server.db, {
      getUsers: { value: async (...args: Parameters<TokenserverDb['getUsers']>) => (await Bun.sleep(200), server.db.getUsers(...args)) },
    }) as TokenserverDb
    const tokenserver = { ...server.settings.tokenserver, database_request_timeout: 0.02 }
    const app = createTokenserverApi({ db: slowDb, settings: { ...server.settings, tokenserver }, logger: silentLogger })
    const response = await app.request('/1.0/sync/1.5', { headers: { authorization: `Bearer ${await accessToken()}`, 'x-keyid': KEY_ID } })
    expect(response.status).toBe(504)
    expect(await response.json()).toEqual(errorBody('elapsed', 'body', '', 'Elapsed'))
  })
})
