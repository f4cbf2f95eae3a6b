import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { openCopyEndpoint } from '../../src/copy/open.ts'
import type { CopyEndpoint } from '../../src/db/copy-types.ts'
import { migrateStorage } from '../../src/db/open.ts'
import { sqlBackends } from '../support/backends.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { SyncClient } from '../support/sync-client.ts'
import { copyDatabases, RETIRED_GENERATION, seedTokenserver, snapshot, tokenserverUsers, writeUser } from './copy-support.ts'

setDefaultTimeout(60_000)

const pairs = sqlBackends.flatMap((from) => sqlBackends.filter((to) => to !== from).map((to) => [from.name, to.name, from, to] as const))
const servers: TestServer[] = []
afterAll(async () => {
  for (const server of servers) await server.stop()
})

async function server(url: string, masterSecret?: string): Promise<TestServer> {
  const started = await startTestServer(url, masterSecret === undefined ? {} : { master_secret: masterSecret })
  servers.push(started)
  return started
}

/** The source's own token, sent to another server: tokens stay valid when uids do. */
const sameToken = (client: SyncClient, target: TestServer) => (path: string) =>
  client.send('GET', `${target.url}/1.5/${client.uid}${path}`, { credentials: client.credentials })

describe.each(pairs)('syncserver copy %s → %s', (_fromName, _toName, from, to) => {
  test('what Firefox sees on the source it sees identically on the target, with the same tokens and tokenserver rows', async () => {
    const sourceUrl = await from.freshDatabaseUrl()
    const targetUrl = await to.freshDatabaseUrl()
    const source = await server(sourceUrl)
    const users = await seedTokenserver(sourceUrl, source.url)
    const clients = users.filter((user) => user.generation !== RETIRED_GENERATION).map((user) => source.client(user.uid))
    for (const client of clients) await writeUser(client, 'my.custom-coll')
    // Custom collection ids differ between the databases: the copy maps them by name.
    await migrateStorage(targetUrl)
    const target = await openCopyEndpoint(targetUrl)
    await target.ensureCollection('zz-only-on-target')
    await target.close()
    const before = await Promise.all(clients.map((client) => snapshot(client)))

    const verification = await copyDatabases(sourceUrl, targetUrl, 'fresh')
    expect(verification.differences).toEqual([])
    expect(verification.records).toBe(clients.length * 106)

    const copy = await server(targetUrl, source.masterSecret)
    const after = await Promise.all(clients.map((client) => snapshot(client, sameToken(client, copy))))
    expect(after).toEqual(before)
    expect(JSON.stringify(after)).toContain('𝄞')
    expect(await tokenserverUsers(targetUrl)).toEqual(users)
    expect(users.some((user) => user.generation === RETIRED_GENERATION)).toBe(true)
  })
})

const safetyPair = sqlBackends.length > 1 ? [[sqlBackends[0]!.name, sqlBackends.at(-1)!.name, sqlBackends[0]!, sqlBackends.at(-1)!] as const] : []

describe.each(safetyPair)('copy safety %s → %s', (_fromName, _toName, from, to) => {
  async function sourceWithData(): Promise<{ url: string; server: TestServer; clients: SyncClient[] }> {
    const url = await from.freshDatabaseUrl()
    const running = await server(url)
    const users = await seedTokenserver(url, running.url)
    const clients = users.map((user) => running.client(user.uid))
    for (const client of clients) await writeUser(client, 'custom')
    return { url, server: running, clients }
  }

  test('refuses a target that holds data unless told --resume', async () => {
    const { url } = await sourceWithData()
    const targetUrl = await to.freshDatabaseUrl()
    await copyDatabases(url, targetUrl, 'fresh')
    await expect(copyDatabases(url, targetUrl, 'fresh')).rejects.toThrow(/--resume/)
    expect((await copyDatabases(url, targetUrl, 'resume')).differenceCount).toBe(0)
  })

  test('an interrupted copy resumes without losing or duplicating anything', async () => {
    const { url, clients } = await sourceWithData()
    const targetUrl = await to.freshDatabaseUrl()
    let writes = 0
    const failAfterFiveWrites = (target: CopyEndpoint): CopyEndpoint =>
      Object.assign(Object.create(target) as CopyEndpoint, {
        putBsos: async (...args: Parameters<CopyEndpoint['putBsos']>) => {
          if (++writes > 5) throw new Error('interrupted')
          return target.putBsos(...args)
        },
      })
    await expect(copyDatabases(url, targetUrl, 'fresh', { chunk: 10, wrapTarget: failAfterFiveWrites })).rejects.toThrow('interrupted')
    const partial = await openCopyEndpoint(targetUrl)
    expect(await partial.countBsos()).toBe(50)
    await partial.close()
    // The source changes while the copy is stopped: an update and a deletion.
    await clients[0]!.put('/storage/history/h3', { payload: 'changed while interrupted' })
    await clients[0]!.delete('/storage/history/h4')
    const verification = await copyDatabases(url, targetUrl, 'resume', { chunk: 10 })
    expect(verification.differences).toEqual([])
    const target = await openCopyEndpoint(targetUrl)
    const source = await openCopyEndpoint(url)
    expect(await target.countBsos()).toBe(await source.countBsos())
    await Promise.all([target.close(), source.close()])
  })

  test('a copy under concurrent writes, then --catch-up, leaves the target identical (deletions included)', async () => {
    const { url, server: running, clients } = await sourceWithData()
    const targetUrl = await to.freshDatabaseUrl()
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
    await copyDatabases(url, targetUrl, 'fresh', { chunk: 5 })
    writing = false
    await writer
    expect(written).toBeGreaterThan(0)
    // After the copy, before the switch-over: more writes, a deleted record and a deleted collection.
    await clients[0]!.delete('/storage/bookmarks/b1')
    await clients[1]!.delete('/storage/custom')
    await clients[2]!.delete('/storage')
    await clients[1]!.put('/storage/prefs/p', { payload: 'late' })
    const before = await Promise.all(clients.map((client) => snapshot(client)))
    const verification = await copyDatabases(url, targetUrl, 'catch-up')
    expect(verification.differences).toEqual([])
    const copy = await server(targetUrl, running.masterSecret)
    expect(await Promise.all(clients.map((client) => snapshot(client, sameToken(client, copy))))).toEqual(before)
  })
})
