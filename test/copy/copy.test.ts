import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { openCopyEndpoint } from '../../src/copy/open.ts'
import type { StorageCopyEndpoint } from '../../src/db/copy-types.ts'
import { migrateStorage } from '../../src/db/open.ts'
import { backends, type TestBackend } from '../support/backends.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { SyncClient } from '../support/sync-client.ts'
import {
  clientOf,
  copyDatabases,
  freshSide,
  openStorageSide,
  RETIRED_GENERATION,
  seedTokenserver,
  snapshot,
  spannerOptionsFor,
  tokenserverUsers,
  writeUser,
  type Side,
} from './copy-support.ts'

setDefaultTimeout(120_000)

/**
 * Every ordered pair of engines, an engine with itself included (a move to a new host of the
 * same kind): Spanner (keyed by fxa_uid/fxa_kid) with each SQL engine both ways, and the SQL
 * engines among themselves.
 */
const pairs = backends.flatMap((from) => backends.map((to) => [from.name, to.name, from, to] as const))
const crossKeyed = (from: TestBackend, to: TestBackend) => (from.name === 'spanner') !== (to.name === 'spanner')

const servers: TestServer[] = []
afterAll(async () => {
  for (const server of servers) await server.stop()
})

async function server(url: string, masterSecret?: string): Promise<TestServer> {
  const started = await startTestServer(url, masterSecret === undefined ? {} : { master_secret: masterSecret })
  servers.push(started)
  return started
}

/** The source's own token, sent to another server: tokens stay valid when uids (and fxa_uid/fxa_kid) do. */
const sameToken = (client: SyncClient, target: TestServer) => (path: string) =>
  client.send('GET', `${target.url}/1.5/${client.uid}${path}`, { credentials: client.credentials })

describe.each(pairs)('syncserver copy %s → %s', (_fromName, _toName, from, to) => {
  test('what Firefox sees on the source it sees identically on the target, with the same tokens and tokenserver rows', async () => {
    const source = await freshSide(from)
    const target = await freshSide(to)
    const running = await server(source.storage)
    const users = await seedTokenserver(source.tokens, running.url)
    const clients = users.filter((user) => user.generation !== RETIRED_GENERATION).map((user) => clientOf(running, user))
    for (const client of clients) await writeUser(client, 'my.custom-coll')
    // Storage of a user the tokenserver does not know: between uid and fxa keys it cannot be mapped.
    await running.client().put('/storage/prefs/orphan', { payload: 'no tokenserver row' })
    // Custom collection ids differ between the databases: the copy maps them by name.
    await migrateStorage(target.storage, { spanner: await spannerOptionsFor(target.storage) })
    const endpoint = await openStorageSide(target.storage)
    await endpoint.ensureCollection('zz-only-on-target')
    await endpoint.close()
    const before = await Promise.all(clients.map((client) => snapshot(client)))

    const verification = await copyDatabases(source, target, 'fresh')
    expect(verification.differences).toEqual([])
    expect(verification.records).toBe(clients.length * 106 + (crossKeyed(from, to) ? 0 : 1))
    if (crossKeyed(from, to)) {
      expect(verification.report.unmappedCount).toBe(1)
      expect(verification.report.unmapped[0]!.reason).toMatch(/no tokenserver user has this (uid|fxa_uid and fxa_kid)/)
      expect(verification.unmapped).toBe(1)
    } else {
      expect(verification.report.unmappedCount).toBe(0)
    }

    const copy = await server(target.storage, running.masterSecret)
    const after = await Promise.all(clients.map((client) => snapshot(client, sameToken(client, copy))))
    expect(after).toEqual(before)
    expect(JSON.stringify(after)).toContain('𝄞')
    expect(await tokenserverUsers(target.tokens)).toEqual(users)
    expect(users.some((user) => user.generation === RETIRED_GENERATION)).toBe(true)
  })
})

/** Resume and catch-up on SQL → SQL, SQL → Spanner and Spanner → SQL (the Spanner pairs with the small data of writeUser). */
const spanner = backends.find((backend) => backend.name === 'spanner')
const sql = backends.filter((backend) => backend.name !== 'spanner')
const safetyPairs = [
  ...(sql.length > 1 ? [[sql[0]!, sql.at(-1)!]] : []),
  ...(spanner !== undefined && sql.length > 0 ? [[sql[0]!, spanner], [spanner, sql.at(-1)!]] : []),
].map(([from, to]) => [from!.name, to!.name, from!, to!] as const)

describe.each(safetyPairs)('copy safety %s → %s', (_fromName, _toName, from, to) => {
  async function sourceWithData(): Promise<{ side: Side; server: TestServer; clients: SyncClient[] }> {
    const side = await freshSide(from)
    const running = await server(side.storage)
    const users = await seedTokenserver(side.tokens, running.url)
    const clients = users.map((user) => clientOf(running, user))
    for (const client of clients) await writeUser(client, 'custom')
    return { side, server: running, clients }
  }

  test('refuses a target that holds data unless told --resume', async () => {
    const { side } = await sourceWithData()
    const target = await freshSide(to)
    await copyDatabases(side, target, 'fresh')
    // Settled first: a pending Spanner call handed to expect().rejects may never settle under bun test.
    expect(await copyDatabases(side, target, 'fresh').then(() => 'copied', String)).toContain('--resume')
    expect((await copyDatabases(side, target, 'resume')).differenceCount).toBe(0)
  })

  test('an interrupted copy resumes without losing or duplicating anything', async () => {
    const { side, clients } = await sourceWithData()
    const target = await freshSide(to)
    let writes = 0
    const failAfterFiveWrites = (endpoint: StorageCopyEndpoint): StorageCopyEndpoint =>
      Object.assign(Object.create(endpoint) as StorageCopyEndpoint, {
        putBsos: async (...args: Parameters<StorageCopyEndpoint['putBsos']>) => {
          if (++writes > 5) throw new Error('interrupted')
          return endpoint.putBsos(...args)
        },
      })
    expect(await copyDatabases(side, target, 'fresh', { chunk: 10, wrapTarget: failAfterFiveWrites }).then(() => 'copied', String)).toContain('interrupted')
    const partial = await openStorageSide(target.storage)
    expect(await partial.countBsos()).toBe(50)
    await partial.close()
    // The source changes while the copy is stopped: an update and a deletion.
    await clients[0]!.put('/storage/history/h3', { payload: 'changed while interrupted' })
    await clients[0]!.delete('/storage/history/h4')
    const verification = await copyDatabases(side, target, 'resume', { chunk: 10 })
    expect(verification.differences).toEqual([])
    const [copied, original] = [await openStorageSide(target.storage), await openStorageSide(side.storage)]
    expect(await copied.countBsos()).toBe(await original.countBsos())
    await Promise.all([copied.close(), original.close()])
  })

  test('a copy under concurrent writes, then --catch-up, leaves the target identical (deletions included, tokenserver rows too)', async () => {
    const { side, server: running, clients } = await sourceWithData()
    const target = await freshSide(to)
    let writing = true
    let written = 0
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const client = clients[i % clients.length]!
        await client.post('/storage/history', [{ id: `w${i % 40}`, payload: `during copy ${i}` }])
        if (i % 7 === 0) await client.delete(`/storage/history/h${i % 100}`)
        written++
      }
    })()
    await copyDatabases(side, target, 'fresh', { chunk: 5 })
    writing = false
    await writer
    expect(written).toBeGreaterThan(0)
    // After the copy, before the switch-over: more writes, a deleted record and a deleted
    // collection, and an account deleted (its storage, then its tokenserver row purged).
    await clients[0]!.delete('/storage/bookmarks/b1')
    await clients[1]!.delete('/storage/custom')
    await clients[2]!.delete('/storage')
    const purged = await openCopyEndpoint(side.tokens)
    await purged.deleteUsers([clients[2]!.uid])
    await purged.close()
    await clients[1]!.put('/storage/prefs/p', { payload: 'late' })
    const before = await Promise.all(clients.map((client) => snapshot(client)))
    const tokenserverRows = await tokenserverUsers(side.tokens)
    expect(tokenserverRows.map((user) => user.uid)).not.toContain(clients[2]!.uid)

    const verification = await copyDatabases(side, target, 'catch-up')
    expect(verification.differences).toEqual([])
    expect(verification.report.unmappedCount).toBe(0)
    expect(await tokenserverUsers(target.tokens)).toEqual(tokenserverRows)
    const copy = await server(target.storage, running.masterSecret)
    expect(await Promise.all(clients.map((client) => snapshot(client, sameToken(client, copy))))).toEqual(before)
  })
})
