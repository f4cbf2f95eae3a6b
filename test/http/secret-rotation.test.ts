/**
 * Rotating the master secret: `master_secret` signs every new token, `previous_master_secrets`
 * keep the tokens they signed valid, and a secret in neither is refused.
 */
import { describe, expect, test } from 'bun:test'
import { TokenVerifier } from '../../src/auth/token.ts'
import { loadSettings } from '../../src/config/load.ts'
import { backends } from '../support/backends.ts'
import { serverForSuite } from '../support/server.ts'
import { SyncClient } from '../support/sync-client.ts'
import { harnessPerTest } from '../tokenserver/harness.ts'

const NEWEST = 'the secret of this year, long enough'
const PREVIOUS = 'the secret of last year, long enough'
const RETIRED = 'the secret of two years ago'
const ROTATED = { master_secret: NEWEST, previous_master_secrets: [PREVIOUS] }

describe('previous_master_secrets setting', () => {
  test('is a list in TOML and comma-separated in the environment; empty by default', async () => {
    expect((await loadSettings({ env: {} })).previous_master_secrets).toEqual([])
    const fromEnv = await loadSettings({ env: { SYNC_MASTER_SECRET: NEWEST, SYNC_PREVIOUS_MASTER_SECRETS: 'one, two' } })
    expect(fromEnv).toMatchObject({ master_secret: NEWEST, previous_master_secrets: ['one', 'two'] })
  })
})

describe.each(backends)('master secret rotation on $name', (backend) => {
  const server = serverForSuite(backend, ROTATED)
  const newTokenserver = harnessPerTest(backend)

  test('a token signed with a previous secret still reads and writes', async () => {
    const client = new SyncClient(server.url, PREVIOUS)
    expect((await client.put('/storage/bookmarks/old-token', { payload: 'still signed in' })).status).toBe(200)
    expect(await client.json('GET', '/storage/bookmarks/old-token')).toMatchObject({ payload: 'still signed in' })
  })

  test('a token signed with the current secret works beside it', async () => {
    const client = new SyncClient(server.url, NEWEST)
    expect((await client.put('/storage/bookmarks/new-token', { payload: 'new token' })).status).toBe(200)
  })

  test('a token signed with a secret no longer listed answers 401', async () => {
    const client = new SyncClient(server.url, RETIRED)
    expect((await client.get('/info/collections')).status).toBe(401)
  })

  test('the tokenserver signs new tokens with master_secret only', async () => {
    const tokenserver = await newTokenserver({ settings: ROTATED })
    const body = await tokenserver.token()
    expect(new TokenVerifier(NEWEST).verify(body.id).key).toBe(body.key)
    expect(() => new TokenVerifier(PREVIOUS).verify(body.id)).toThrow('signature')
  })
})
