import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { openTokenserverDb } from '../../src/db/open.ts'
import { SYNC_SERVICE, type TokenserverDb } from '../../src/db/tokenserver-types.ts'
import { bootstrapTokenserver } from '../../src/tokenserver/bootstrap.ts'
import { sqlBackends } from '../support/backends.ts'
import { emailOf, newFxaUid, node } from './harness.ts'

/** The init node at start (tokenserver.md §12.4, plus our in-place move). */
describe.each(sqlBackends)('bootstrapTokenserver on $name', (backend) => {
  let db: TokenserverDb
  let service: number
  beforeEach(async () => {
    db = await openTokenserverDb(await backend.freshDatabaseUrl(), { runMigrations: true })
    service = (await db.serviceId(SYNC_SERVICE)) as number
  })
  afterEach(() => db.close())

  const initNode = (url: string, capacity = 100_000) => ({ url, capacity, configured: true })

  test('the migrations seed the sync-1.5 service', () => {
    expect(service).toBeGreaterThan(0)
  })

  test('a derived URL seeds an empty table', async () => {
    const derived = { url: 'http://127.0.0.1:8000', capacity: 100, configured: false }
    expect(await bootstrapTokenserver(db, derived)).toEqual({ action: 'inserted', node: 'http://127.0.0.1:8000', capacity: 100 })
  })

  test('a derived URL leaves nodes added by hand alone', async () => {
    await db.insertNode({ service, ...node('https://ops.example') })
    const derived = { url: 'http://127.0.0.1:8000', capacity: 100, configured: false }
    expect(await bootstrapTokenserver(db, derived)).toEqual({ action: 'left-alone', node: 'http://127.0.0.1:8000', nodes: ['https://ops.example'] })
    expect((await db.listNodes(service)).map((n) => n.node)).toEqual(['https://ops.example'])
  })

  test('a derived URL moves the node a server derived before (port or host changed)', async () => {
    await bootstrapTokenserver(db, { url: 'http://127.0.0.1:8000', capacity: 100, configured: false })
    const outcome = await bootstrapTokenserver(db, { url: 'http://127.0.0.1:18100', capacity: 100, configured: false })
    expect(outcome).toMatchObject({ action: 'moved', from: 'http://127.0.0.1:8000', to: 'http://127.0.0.1:18100' })
    await bootstrapTokenserver(db, { url: 'http://[::1]:18100', capacity: 100, configured: false })
    expect((await db.listNodes(service)).map((n) => n.node)).toEqual(['http://[::1]:18100'])
  })

  test('inserts the node with available = capacity and nothing else set', async () => {
    const outcome = await bootstrapTokenserver(db, initNode('https://sync.example.com', 500))
    expect(outcome).toEqual({ action: 'inserted', node: 'https://sync.example.com', capacity: 500 })
    expect(await db.listNodes(service)).toMatchObject([
      { service, node: 'https://sync.example.com', available: 500, capacity: 500, currentLoad: 0, downed: false, backoff: false },
    ])
  })

  test('a second start changes nothing', async () => {
    const url = initNode('https://sync.example.com')
    await bootstrapTokenserver(db, url)
    expect(await bootstrapTokenserver(db, url)).toEqual({ action: 'present', node: 'https://sync.example.com' })
    expect(await db.listNodes(service)).toHaveLength(1)
  })

  test('a new URL moves the only node in place, so its users keep their uid', async () => {
    await bootstrapTokenserver(db, initNode('http://localhost:8000'))
    const values = { service, email: emailOf(newFxaUid()), generation: 1n, clientState: '', keysChangedAt: null, createdAt: 1n }
    const user = await db.allocateUser(values, { releaseRate: 0.1 })
    const [before] = await db.listNodes(service)
    const outcome = await bootstrapTokenserver(db, initNode('https://sync.example.com'))
    expect(outcome).toEqual({ action: 'moved', from: 'http://localhost:8000', to: 'https://sync.example.com', id: before?.id as number })
    expect(await db.getUsers({ service, email: values.email })).toMatchObject([{ uid: user.uid, node: 'https://sync.example.com' }])
    expect(await db.listNodes(service)).toMatchObject([{ id: before?.id, currentLoad: 1 }])
  })

  test('with several nodes a new URL is added beside them', async () => {
    await db.insertNode({ service, ...node('https://a.example') })
    await db.insertNode({ service, ...node('https://b.example') })
    await bootstrapTokenserver(db, initNode('https://c.example'))
    expect((await db.listNodes(service)).map((n) => n.node)).toEqual(['https://a.example', 'https://b.example', 'https://c.example'])
  })
})
