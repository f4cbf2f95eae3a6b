import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { openStorage } from '../../src/db/open.ts'
import { expiredRowsOf, type ExpiredRows } from '../../src/db/purge.ts'
import { nowMillis } from '../../src/db/timestamps.ts'
import type { BsoWrite, StorageBackend } from '../../src/db/types.ts'
import { sqlBackends } from '../support/backends.ts'
import { newUser } from '../support/server-engine-suite.ts'
import { startTestServer } from '../support/server.ts'
import { eventually } from '../metrics/support.ts'

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts')

const expiredRecords = (count: number): BsoWrite[] =>
  Array.from({ length: count }, (_, i) => ({ id: `old${i}`, payload: 'x', ttl: 0 }))

/** `syncserver purge …` against `url`; its exit code and output. */
async function purgeCli(url: string, ...args: string[]) {
  const child = Bun.spawn(['bun', MAIN, 'purge', ...args], {
    env: { ...process.env, SYNC_SYNCSTORAGE__DATABASE_URL: url },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, stdout, stderr }
}

describe.each(sqlBackends)('purge command and background purge on $name', (backend) => {
  let url: string
  let storage: StorageBackend
  let rows: ExpiredRows
  beforeAll(async () => {
    url = await backend.freshDatabaseUrl()
    storage = await openStorage(url, { runMigrations: true })
    rows = expiredRowsOf(storage)
  })
  afterAll(() => storage.close())

  const seedExpired = (count: number) =>
    storage.withTransaction({ user: newUser(), mode: 'write', collection: 'history' }, (tx) =>
      tx.putBsos([...expiredRecords(count), { id: 'live', payload: 'y' }]),
    )

  test('--dry-run reports what would go and deletes nothing', async () => {
    await seedExpired(12)
    const { code, stdout } = await purgeCli(url, '--dry-run')
    expect(code).toBe(0)
    expect(stdout).toContain('expired records: would delete 12')
    expect(stdout).toContain('nothing was')
    expect(await rows.count('bsos', nowMillis())).toBe(12)
  })

  test('purge deletes in chunks and reports its progress and totals', async () => {
    const { code, stdout } = await purgeCli(url, '--chunk-size', '5', '--mode', 'bsos')
    expect(code).toBe(0)
    expect(stdout).toContain('expired records: deleted 12')
    expect(stdout).toMatch(/deleted 12 records, 0 batches and 0 staged records in [\d.]+ s \(3 statements, the longest \d+ ms\)/)
    expect(await rows.count('bsos', nowMillis())).toBe(0)
  })

  test('bad options are usage errors (exit 2) and delete nothing', async () => {
    await seedExpired(3)
    expect((await purgeCli(url, '--mode', 'everything')).code).toBe(2)
    expect((await purgeCli(url, '--chunk-size', '0')).code).toBe(2)
    expect(await rows.count('bsos', nowMillis())).toBe(3)
  })

  test('the server purges in the background every purge_ttl_interval seconds', async () => {
    await seedExpired(4)
    const server = await startTestServer(url, { syncstorage: { purge_ttl_interval: 1, purge_ttl_chunk_size: 2 } })
    try {
      await eventually(async () => expect(await rows.count('bsos', nowMillis())).toBe(0), 10_000)
    } finally {
      await server.stop()
    }
  })
})

test('purge refuses Spanner, whose row deletion policies purge it', async () => {
  const { code, stderr } = await purgeCli('spanner://projects/p/instances/i/databases/d')
  expect(code).toBe(1)
  expect(stderr).toContain('row deletion policies of schema.ddl')
})
