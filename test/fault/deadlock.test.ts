/**
 * One user uploading batches to two collections at once (Firefox syncs several engines in
 * parallel). InnoDB used to pick one of them as a deadlock victim on batch_upload_items about
 * once in a hundred batch creates, answered 503 + Retry-After 10, which makes Firefox back off
 * its whole sync. Deadlock victims are now run again, so none may reach the client.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sqlBackends } from '../support/backends.ts'
import { startServerProcess, type ServerProcess } from './support/server-process.ts'
import { formatStatuses } from './support/write-load.ts'

const BATCHES = 150

// Spanner is left out: these start server processes of their own, which the emulator's settings do not reach yet.
describe.each(sqlBackends)('$name: one user, batches to two collections at once', (backend) => {
  let server: ServerProcess
  beforeAll(async () => {
    server = await startServerProcess({ databaseUrl: await backend.freshDatabaseUrl() })
    expect(await server.waitFor('/__heartbeat__', 200, 15_000)).toBe(true)
  }, 30_000)
  afterAll(() => server?.kill())

  test(`${BATCHES} batches per collection: no 503`, async () => {
    const client = server.client()
    const statuses = new Map<number, number>()
    const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1)
    const records = (prefix: string) => Array.from({ length: 5 }, (_, i) => ({ id: `${prefix}-${i}`, payload: 'x'.repeat(50) }))
    const upload = async (collection: string) => {
      for (let n = 0; n < BATCHES; n++) {
        const created = await client.post(`/storage/${collection}?batch=true`, records(`${n}a`))
        count(created.status)
        if (created.status !== 202) continue
        const { batch } = (await created.json()) as { batch: string }
        const committed = await client.post(`/storage/${collection}?batch=${batch}&commit=true`, records(`${n}b`))
        count(committed.status)
        await committed.arrayBuffer()
      }
    }
    await Promise.all([upload('bookmarks'), upload('history')])
    const requests = [...statuses.values()].reduce((a, b) => a + b, 0)
    console.log(`[fault] ${backend.name} two-collection batches: ${requests} requests, ${formatStatuses(statuses)}, 503 rate ${(((statuses.get(503) ?? 0) / requests) * 100).toFixed(2)} %`)
    expect(statuses.get(503) ?? 0).toBe(0)
  }, 120_000)
})
