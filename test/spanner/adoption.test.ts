import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Database } from '@google-cloud/spanner'
import { adminClients, openSpanner } from '../../src/db/spanner/client.ts'
import { isAccessControl } from '../../src/db/spanner/ddl.ts'
import { prepareSpanner, schemaStatements } from '../../src/db/spanner/prepare.ts'
import { parseSpannerUrl } from '../../src/db/spanner/settings.ts'
import { cellOf } from '../../src/db/spanner/values.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { backendNamed } from '../support/backends.ts'
import { emulatorHost } from '../support/spanner-emulator.ts'
import { freshUid, fxaIdentity } from '../support/sync-client.ts'

/**
 * A database syncstorage-rs prepared and wrote: its schema applied the way its
 * prepare-spanner.sh does (every statement the emulator accepts, in one CreateDatabase), and rows
 * as it writes them: no `collections` rows for standard collections, NULL quota counters, a
 * custom collection from 101, the tombstone (id 0), and a placeholder row (modified 0001-01-01)
 * under a batch it staged.
 */
describe.skipIf(backendNamed('spanner') === undefined)('a database written by syncstorage-rs, served on the emulator', () => {
  const url = `spanner://projects/test-project/instances/adoption-${process.pid}/databases/reference`
  const location = parseSpannerUrl(url)
  const uid = freshUid()
  const { fxa_uid, fxa_kid } = fxaIdentity(uid)
  const user = `'${fxa_uid}', '${fxa_kid}'`
  const batchId = 'f3c2d6b4a1e84b8c9d0e1f2a3b4c5d6e'
  let server: TestServer

  beforeAll(async () => {
    const host = await emulatorHost()
    const { instances, databases, close } = await adminClients('test-project', { emulatorHost: host, routeToLeader: false })
    const [instance] = await instances.createInstance({
      parent: 'projects/test-project',
      instanceId: location.instance,
      instance: { config: 'projects/test-project/instanceConfigs/emulator-config', nodeCount: 1, displayName: 'reference' },
    })
    await instance.promise()
    const [database] = await databases.createDatabase({
      parent: `projects/test-project/instances/${location.instance}`,
      createStatement: 'CREATE DATABASE `reference`',
      extraStatements: schemaStatements().filter((statement) => !isAccessControl(statement)),
    })
    await database.promise()
    await close()

    const rows = [
      "INSERT INTO collections (collection_id, name) VALUES (101, 'my-engine')",
      `INSERT INTO user_collections (fxa_uid, fxa_kid, collection_id, modified) VALUES
         (${user}, 0, '2026-01-01T00:00:00.50Z'),
         (${user}, 4, '2026-03-01T10:00:00.12Z'),
         (${user}, 9, '0001-01-01T00:00:00Z'),
         (${user}, 101, '2026-02-01T00:00:00.00Z')`,
      `INSERT INTO bsos (fxa_uid, fxa_kid, collection_id, bso_id, sortindex, payload, modified, expiry) VALUES
         (${user}, 4, 'h1', 5, 'first', '2026-03-01T09:00:00.00Z', '2093-07-19T00:00:00Z'),
         (${user}, 4, 'h2', NULL, 'second', '2026-03-01T10:00:00.12Z', '2093-07-19T00:00:00Z'),
         (${user}, 4, 'gone', NULL, 'expired', '2026-02-01T00:00:00Z', '2026-02-02T00:00:00Z'),
         (${user}, 101, 'm1', 1, 'mine', '2026-02-01T00:00:00.00Z', '2093-07-19T00:00:00Z')`,
      `INSERT INTO batches (fxa_uid, fxa_kid, collection_id, batch_id, expiry) VALUES (${user}, 9, '${batchId}', '2099-01-01T00:00:00Z')`,
      `INSERT INTO batch_bsos (fxa_uid, fxa_kid, collection_id, batch_id, batch_bso_id, sortindex, payload, ttl) VALUES
         (${user}, 9, '${batchId}', 't1', NULL, 'staged', NULL),
         (${user}, 9, '${batchId}', 't2', 3, 'staged two', 3600)`,
    ]
    await writeRows(url, rows)
    server = await startTestServer(url)
  }, 60_000)
  afterAll(() => server?.stop())

  test('prepare-spanner finds nothing to apply', async () => {
    const report = await prepareSpanner(location, { emulatorHost: await emulatorHost(), routeToLeader: false })
    expect(report.created).toEqual([])
    expect(report.applied).toEqual([])
  })

  test('info/collections names standard and custom collections, without tombstone or placeholder', async () => {
    const client = server.client(uid)
    expect(await client.json('GET', '/info/collections')).toEqual({
      history: Date.parse('2026-03-01T10:00:00.12Z') / 1000,
      'my-engine': Date.parse('2026-02-01T00:00:00Z') / 1000,
    })
    expect(await client.json('GET', '/info/collection_counts')).toEqual({ history: 2, 'my-engine': 1 })
  })

  test('records read back with their timestamps, sortindex and payload; expired ones stay hidden', async () => {
    const client = server.client(uid)
    expect(await client.json('GET', '/storage/history?full=1&sort=oldest')).toEqual([
      { id: 'h1', modified: Date.parse('2026-03-01T09:00:00Z') / 1000, payload: 'first', sortindex: 5 },
      { id: 'h2', modified: Date.parse('2026-03-01T10:00:00.12Z') / 1000, payload: 'second' },
    ])
    expect((await client.get('/storage/history/gone')).status).toBe(404)
  })

  test('a write to a custom collection keeps its id; a new custom collection gets the next one', async () => {
    const client = server.client(uid)
    expect((await client.put('/storage/my-engine/m2', { payload: 'two' })).status).toBe(200)
    expect((await client.put('/storage/another-engine/a', { payload: 'a' })).status).toBe(200)
    const names = await queryRows(url, 'SELECT collection_id, name FROM collections ORDER BY collection_id')
    expect(names).toEqual([
      ['101', 'my-engine'],
      ['102', 'another-engine'],
    ])
    expect(await client.json('GET', '/storage/my-engine?sort=oldest')).toEqual(['m1', 'm2'])
  })

  test('a batch the reference staged commits with its fields, under the placeholder row', async () => {
    const client = server.client(uid)
    const committed = await client.post(`/storage/tabs?batch=${batchId}&commit=true`, [])
    expect(committed.status).toBe(200)
    const records = (await client.json('GET', '/storage/tabs?full=1&sort=index')) as { id: string; sortindex?: number; payload: string }[]
    expect(records.map(({ id, sortindex, payload }) => ({ id, sortindex, payload }))).toEqual([
      { id: 't2', sortindex: 3, payload: 'staged two' },
      { id: 't1', sortindex: undefined, payload: 'staged' },
    ])
    expect(Object.keys((await client.json('GET', '/info/collections')) as object)).toContain('tabs')
  })

  test('the rows this server writes are the ones the reference reads: payload set, link NULL, quota counters untouched', async () => {
    const rows = await queryRows(url, "SELECT payload, payload_link, sortindex FROM bsos WHERE bso_id = 'm2'")
    expect(rows).toEqual([['two', null, null]])
  })

  test('a partial update of a record the reference offloaded keeps its payload link and its exact expiry', async () => {
    const owner = freshUid()
    const identity = fxaIdentity(owner)
    const key = `'${identity.fxa_uid}', '${identity.fxa_kid}'`
    await writeRows(url, [
      `INSERT INTO user_collections (fxa_uid, fxa_kid, collection_id, modified) VALUES (${key}, 3, '2026-03-01T08:00:00.00Z')`,
      `INSERT INTO bsos (fxa_uid, fxa_kid, collection_id, bso_id, sortindex, payload, payload_link, modified, expiry) VALUES
         (${key}, 3, 'f1', 1, '', 'offloaded/f1', '2026-03-01T08:00:00.00Z', '2093-07-19T00:00:00.123456Z')`,
    ])
    const stored = `SELECT sortindex, payload, payload_link, expiry FROM bsos WHERE fxa_uid = '${identity.fxa_uid}' AND bso_id = 'f1'`
    const [[, , , expiry]] = (await queryRows(url, stored)) as [(string | null)[]]
    expect(expiry).toContain('.123456')
    expect((await server.client(owner).post('/storage/forms', [{ id: 'f1', sortindex: 2 }])).status).toBe(200)
    expect(await queryRows(url, stored)).toEqual([['2', '', 'offloaded/f1', expiry ?? null]])
  })
})

async function onDatabase<T>(url: string, work: (database: Database) => Promise<T>): Promise<T> {
  const location = parseSpannerUrl(url)
  const spanner = await openSpanner(location.project, { emulatorHost: await emulatorHost(), routeToLeader: false })
  const database = spanner.instance(location.instance).database(location.database)
  try {
    return await work(database)
  } finally {
    await database.close()
    await spanner.close()
  }
}

const queryRows = (url: string, sql: string): Promise<(string | null)[][]> =>
  onDatabase(url, async (database) => {
    const [rows] = await database.run({ sql, json: false })
    return (rows as unknown as { value: unknown }[][]).map((row) => row.map((cell) => cellOf(cell.value)))
  })

const writeRows = (url: string, statements: string[]): Promise<void> =>
  onDatabase(url, (database) =>
    database.runTransactionAsync(async (transaction) => {
      for (const sql of statements) await transaction.runUpdate(sql)
      await transaction.commit()
    }),
  )
