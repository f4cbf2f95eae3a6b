import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import { join } from 'node:path'
import { parseSettings } from '../../src/config/load.ts'
import { resolveSettings } from '../../src/config/settings.ts'
import { migrateAll } from '../../src/db/migrate-all.ts'
import { parseDatabaseUrl } from '../../src/db/url.ts'
import { sqlBackends } from '../support/backends.ts'
import { startTestServer } from '../support/server.ts'
import { accessToken, primaryKey } from '../tokenserver/harness.ts'

const FIXTURES = join(import.meta.dir, '../fixtures/syncstorage-rs')
const FXA_UID = '0123456789abcdef0123456789abcdef'

/** Runs a syncstorage-rs schema-and-data script on the engine of `url`, with its own driver. */
async function loadFixture(url: string): Promise<void> {
  const location = parseDatabaseUrl(url)
  const script = await Bun.file(join(FIXTURES, `${location.engine}.sql`)).text()
  switch (location.engine) {
    case 'sqlite': {
      const db = new Database(location.path)
      db.exec(script)
      db.close()
      return
    }
    case 'postgres': {
      const sql = postgres(url, { max: 1, onnotice: () => {} })
      await sql.unsafe(script)
      await sql.end()
      return
    }
    case 'mysql': {
      const connection = await mysql.createConnection({ uri: url, multipleStatements: true })
      await connection.query(script)
      await connection.end()
      return
    }
    case 'spanner':
      throw new Error('no Spanner fixture')
  }
}

const settingsTree = (url: string) => ({
  master_secret: 'the adopted deployment secret, long enough',
  syncstorage: { database_url: url, run_migrations: false },
  tokenserver: {
    enabled: true,
    database_url: url,
    run_migrations: false,
    fxa_oauth_primary_jwk: primaryKey.jwk,
    init_node_url: 'https://sync.example.com',
  },
})

describe.each(sqlBackends)('adopting a syncstorage-rs database on $name', (backend) => {
  test('migrate records our baseline without touching data, and every record reads back through the API', async () => {
    const url = await backend.freshDatabaseUrl()
    await loadFixture(url)
    const report = await migrateAll(await resolveSettings(parseSettings(settingsTree(url))))
    expect(report.join('\n')).toContain('adopted')

    // run_migrations=false: serve refuses a database with pending migrations, so this also
    // proves migrate left nothing pending.
    const server = await startTestServer(url, settingsTree(url))
    try {
      const client = server.client(42)
      const info = await client.get('/info/collections')
      expect(info.status).toBe(200)
      expect(await info.text()).toBe('{"meta":1700000000.00,"bookmarks":1700000001.23,"custom-engine":1700000002.00}')
      expect(await (await client.get('/storage/meta/global')).text()).toBe(
        '{"id":"global","modified":1700000000.00,"payload":"{\\"syncID\\":\\"abcdefghijkl\\",\\"storageVersion\\":5}"}',
      )
      expect(await (await client.get('/storage/bookmarks?full=1&sort=newest')).text()).toBe(
        '[{"id":"bookmark-one","modified":1700000001.23,"payload":"{\\"ciphertext\\":\\"one\\"}","sortindex":5},' +
          '{"id":"bookmark-two","modified":1700000001.00,"payload":"{\\"ciphertext\\":\\"two\\"}"}]',
      )
      expect(await client.json('GET', '/storage/custom-engine?full=1')).toEqual([
        { id: 'thing', modified: 1700000002, payload: 'custom payload' },
      ])
      // New writes land beside the adopted data, in a new custom collection id too.
      expect((await client.put('/storage/another-engine/x', { payload: 'new' })).status).toBe(200)
      expect(Object.keys((await client.json('GET', '/info/collections')) as object)).toContain('another-engine')

      if (backend.name !== 'sqlite') {
        // The adopted tokenserver row: same uid and node, so Firefox keeps syncing where it was.
        const response = await fetch(`${server.url}/1.0/sync/1.5`, {
          headers: { authorization: `Bearer ${await accessToken({ sub: FXA_UID, generation: 1234 })}`, 'x-keyid': '1234-qqo' },
        })
        expect(response.status).toBe(200)
        const token = (await response.json()) as { uid: number; api_endpoint: string }
        expect(token.uid).toBe(42)
        expect(token.api_endpoint).toBe('https://sync.example.com/1.5/42')
      }
    } finally {
      await server.stop()
    }
  })

  test('migrate on a fresh database applies our migrations, and a second run changes nothing', async () => {
    const url = await backend.freshDatabaseUrl()
    const settings = await resolveSettings(parseSettings(settingsTree(url)))
    expect((await migrateAll(settings)).join('\n')).toContain('applied')
    expect((await migrateAll(settings)).every((line) => line.endsWith('up to date'))).toBe(true)
  })
})
