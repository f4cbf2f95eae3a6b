import { expect } from 'bun:test'
import { copyAll, CollectionMap, userMaps, type CopyMode, type CopyReport } from '../../src/copy/copy.ts'
import { openCopyEndpoint, openStorageCopyEndpoint } from '../../src/copy/open.ts'
import { Progress } from '../../src/copy/progress.ts'
import { verifyCopy, type Verification } from '../../src/copy/verify.ts'
import type { CopyEndpoint, StorageCopyEndpoint } from '../../src/db/copy-types.ts'
import { migrateStorage, migrateTokenserverDb, openTokenserverDb } from '../../src/db/open.ts'
import type { SpannerOptions } from '../../src/db/spanner/settings.ts'
import { RETIRED_GENERATION, SYNC_SERVICE, type UserRecord } from '../../src/db/tokenserver-types.ts'
import { formatFxaKid } from '../../src/tokenserver/fxa-kid.ts'
import type { TestBackend } from '../support/backends.ts'
import type { TestServer } from '../support/server.ts'
import { emulatorHost } from '../support/spanner-emulator.ts'
import type { SyncClient } from '../support/sync-client.ts'

export const quietProgress = (): Progress => new Progress(0, () => {}, false, 60_000)

/** One side of a copy: its storage database and its tokenserver database (the same one, except beside Spanner). */
export interface Side {
  storage: string
  tokens: string
}

export async function freshSide(backend: TestBackend): Promise<Side> {
  const storage = await backend.freshDatabaseUrl()
  return { storage, tokens: (await backend.tokenserverDatabaseUrl?.()) ?? storage }
}

/** Spanner's settings for a URL of the tests (their emulator). */
export const spannerOptionsFor = async (url: string): Promise<SpannerOptions> =>
  url.startsWith('spanner:') ? { emulatorHost: await emulatorHost(), routeToLeader: false } : { routeToLeader: false }

export const openStorageSide = async (url: string): Promise<StorageCopyEndpoint> => openStorageCopyEndpoint(url, await spannerOptionsFor(url))

/** In-process copy through the same code as the CLI; `wrapTarget` may inject a failure. */
export async function copyDatabases(
  from: Side,
  to: Side,
  mode: CopyMode,
  options: { chunk?: number; wrapTarget?: (target: StorageCopyEndpoint) => StorageCopyEndpoint } = {},
): Promise<Verification & { report: CopyReport }> {
  await migrateStorage(to.storage, { spanner: await spannerOptionsFor(to.storage) })
  await migrateTokenserverDb(to.tokens)
  const opened: (StorageCopyEndpoint | CopyEndpoint)[] = []
  const open = async <T extends StorageCopyEndpoint | CopyEndpoint>(endpoint: Promise<T>): Promise<T> => {
    opened.push(await endpoint)
    return opened.at(-1) as T
  }
  try {
    const source = await open(openStorageSide(from.storage))
    const realTarget = await open(openStorageSide(to.storage))
    const tokenserver = {
      source: from.tokens === from.storage ? (source as CopyEndpoint) : await open(openCopyEndpoint(from.tokens)),
      target: to.tokens === to.storage ? (realTarget as CopyEndpoint) : await open(openCopyEndpoint(to.tokens)),
    }
    const target = options.wrapTarget?.(realTarget) ?? realTarget
    const chunk = options.chunk ?? 50
    const report = await copyAll({ storage: { source, target }, tokenserver, mode, chunk, progress: quietProgress() })
    const storage = { source, target: realTarget }
    const verification = await verifyCopy(storage, tokenserver, new CollectionMap(source, realTarget), userMaps({ storage, tokenserver }).forward, chunk)
    return { ...verification, report }
  } finally {
    for (const endpoint of opened) await endpoint.close()
  }
}

/** The fxa_uid and fxa_kid the tokenserver puts in this row's tokens (email `<fxa_uid>@<domain>`). */
export const tokenIdentity = (user: UserRecord) => ({
  fxa_uid: user.email.slice(0, user.email.indexOf('@')),
  fxa_kid: formatFxaKid(user.keysChangedAt, user.generation, user.clientState),
})

/** A client holding the token the tokenserver would issue for this row. */
export const clientOf = (server: TestServer, user: UserRecord): SyncClient => server.client(user.uid, { identity: tokenIdentity(user) })

/** Tokenserver rows on the source: one node, a current user, a replaced one, a retired one. */
export async function seedTokenserver(url: string, node: string): Promise<UserRecord[]> {
  await migrateTokenserverDb(url)
  const db = await openTokenserverDb(url, { runMigrations: false })
  try {
    const service = (await db.serviceId(SYNC_SERVICE))!
    await db.insertNode({ service, node, available: 10, currentLoad: 0, capacity: 100, downed: false, backoff: false })
    const base = { service, clientState: 'aabbccdd', keysChangedAt: 1_700_000_000_123n, createdAt: 1_700_000_000_000n }
    await db.allocateUser({ ...base, email: 'alice@example.com', generation: 1_700_000_000_999n }, { releaseRate: 0.1 })
    await db.allocateUser({ ...base, email: 'bob@example.com', generation: 5n }, { releaseRate: 0.1 })
    await db.retireUser({ service, email: 'bob@example.com', replacedAt: 1_700_000_001_000n })
    await db.allocateUser({ ...base, email: 'carol@example.com', generation: 0n, clientState: '' }, { releaseRate: 0.1 })
    return await db.listUsers({ service })
  } finally {
    await db.close()
  }
}

export async function tokenserverUsers(url: string): Promise<UserRecord[]> {
  const db = await openTokenserverDb(url, { runMigrations: false })
  try {
    return await db.listUsers({ service: (await db.serviceId(SYNC_SERVICE))! })
  } finally {
    await db.close()
  }
}

export { RETIRED_GENERATION }

/** Writes a varied user through the HTTP API: standard and custom collections, deletions. */
export async function writeUser(client: SyncClient, custom: string): Promise<void> {
  const ok = async (response: Promise<Response>) => {
    const answered = await response
    expect(answered.status).toBeLessThan(300)
  }
  await ok(client.put('/storage/meta/global', { payload: '{"syncID":"abc","storageVersion":5}' }))
  await ok(
    client.post('/storage/bookmarks', [
      { id: 'b1', payload: 'ünïcødé ✓ 𝄞', sortindex: 7 },
      { id: 'b2', payload: 'nul\u0000and\u0001one', sortindex: -3 },
      { id: 'b3', payload: 'x'.repeat(5000), ttl: 86_400 },
      { id: 'gone', payload: 'to be deleted' },
    ]),
  )
  await ok(client.delete('/storage/bookmarks/gone'))
  await ok(client.post(`/storage/${custom}`, [{ id: 'c1', payload: 'custom', sortindex: 1 }, { id: 'c2', payload: 'custom 2' }]))
  await ok(client.put('/storage/tabs/t1', { payload: 'tabs', ttl: 3600 }))
  await ok(client.delete('/storage/tabs'))
  await ok(client.post('/storage/history', Array.from({ length: 100 }, (_, i) => ({ id: `h${i}`, payload: `visit ${i}`, sortindex: i % 5 }))))
}

/** JSON bodies compared as values: engines may list an object's keys in another order. */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/**
 * Everything Firefox can see of a user: timestamps, counts, usage, quota and every record
 * of every collection with its headers.
 */
export async function snapshot(client: SyncClient, send: (path: string) => Promise<Response> = (path) => client.get(path)): Promise<unknown> {
  const read = async (path: string) => {
    const response = await send(path)
    return {
      status: response.status,
      lastModified: response.headers.get('x-last-modified'),
      records: response.headers.get('x-weave-records'),
      body: parsed(await response.text()),
    }
  }
  const collections = await read('/info/collections')
  const names = collections.status === 200 ? Object.keys(collections.body as object).sort() : []
  const listings: Record<string, unknown> = {}
  for (const name of names) {
    listings[name] = [await read(`/storage/${name}?full=1&sort=index`), await read(`/storage/${name}?full=1&sort=newest&limit=7`)]
  }
  return {
    collections,
    counts: await read('/info/collection_counts'),
    usage: await read('/info/collection_usage'),
    quota: await read('/info/quota'),
    meta: await read('/storage/meta/global'),
    listings,
  }
}
