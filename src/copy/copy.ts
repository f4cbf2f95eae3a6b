import type { StorageCopyEndpoint, StoredBso, TokenserverCopyEndpoint } from '../db/copy-types.ts'
import { payloadBytes, TOMBSTONE } from '../db/rules.ts'
import type { StorageUser } from '../db/types.ts'
import type { Progress } from './progress.ts'
import { describeUser, isUnmapped, UserMap, type UnmappedUser } from './users.ts'

/**
 * `fresh`: the target must hold no data. `resume`: continue an interrupted copy. `catch-up`:
 * bring a copied target up to date with what changed on the source since (deletions included).
 * The algorithm is the same; only fresh skips the checks for what the target should lose.
 */
export type CopyMode = 'fresh' | 'resume' | 'catch-up'

export interface CopyPlan {
  storage: { source: StorageCopyEndpoint; target: StorageCopyEndpoint }
  tokenserver: { source: TokenserverCopyEndpoint; target: TokenserverCopyEndpoint }
  mode: CopyMode
  /** Records (and users) per read and per write: bounds memory whatever the data size. */
  chunk: number
  progress: Progress
}

export class NonEmptyTargetError extends Error {
  override name = 'NonEmptyTargetError'
}

/** Users whose storage was not copied because they have no counterpart on the other side (the first 20 kept). */
export interface CopyReport {
  unmapped: UnmappedUser[]
  unmappedCount: number
}

const UNMAPPED_KEPT = 20

/** Source storage users mapped to the target's keys; each miss is reported, never dropped silently. */
export function userMaps(plan: Pick<CopyPlan, 'storage' | 'tokenserver'>): { forward: UserMap; backward: UserMap } {
  const { storage, tokenserver } = plan
  return {
    forward: new UserMap(tokenserver.source, storage.source.keying, storage.target.keying),
    // The target's tokenserver rows: those of users deleted on the source since are still there.
    backward: new UserMap(tokenserver.target, storage.target.keying, storage.source.keying),
  }
}

/**
 * Tokenserver rows first (storage maps users through them), then storage; for a resume or a
 * catch-up, what the source lost since is removed from the target last: storage of users gone
 * from the source, then their tokenserver rows.
 */
export async function copyAll(plan: CopyPlan): Promise<CopyReport> {
  if (plan.mode === 'fresh' && ((await plan.storage.target.hasStorage()) || (await plan.tokenserver.target.hasUsers()))) {
    throw new NonEmptyTargetError('the target database already holds users or storage: pass --resume to continue a copy, or --catch-up after one')
  }
  const report: CopyReport = { unmapped: [], unmappedCount: 0 }
  const unmapped = (miss: UnmappedUser) => {
    if (report.unmappedCount++ < UNMAPPED_KEPT) report.unmapped.push(miss)
  }
  const users = userMaps(plan)
  await copyTokenserver(plan)
  await copyStorage(plan, users.forward, unmapped)
  if (plan.mode !== 'fresh') {
    await dropUsersGoneFromSource(plan, users.backward, unmapped)
    await dropTokenserverUsersGoneFromSource(plan)
  }
  return report
}

/** services, nodes and users with their ids: tokens stay valid (same uid, same node). */
async function copyTokenserver({ tokenserver: { source, target }, chunk }: CopyPlan): Promise<void> {
  await target.putServices(await source.services())
  await target.putNodes(await source.nodes())
  for (let after = 0; ; ) {
    const users = await source.usersAfter(after, chunk)
    if (users.length === 0) break
    await target.putUsers(users)
    after = users[users.length - 1]!.uid
  }
}

/** Maps source collection ids to the target's by name; custom collections may differ. */
export class CollectionMap {
  private readonly targetIds = new Map<number, number>([[TOMBSTONE, TOMBSTONE]])
  private sourceNames = new Map<number, string>()

  constructor(
    private readonly source: StorageCopyEndpoint,
    private readonly target: StorageCopyEndpoint,
  ) {}

  async targetId(sourceId: number): Promise<number> {
    const known = this.targetIds.get(sourceId)
    if (known !== undefined) return known
    // Read again when unknown: collections are created on the source while it serves.
    if (!this.sourceNames.has(sourceId)) this.sourceNames = await this.source.collectionNames()
    const name = this.sourceNames.get(sourceId)
    if (name === undefined) throw new Error(`source collection id ${sourceId} has no row in the collections table`)
    const id = await this.target.ensureCollection(name)
    this.targetIds.set(sourceId, id)
    return id
  }
}

/** Every storage user of `endpoint`, a page at a time. */
export async function* storageUsers(endpoint: StorageCopyEndpoint, chunk: number): AsyncGenerator<StorageUser> {
  for (let after: StorageUser | null = null; ; ) {
    const page: StorageUser[] = await endpoint.storageUsersAfter(after, chunk)
    yield* page
    if (page.length < chunk) return
    after = page[page.length - 1]!
  }
}

async function copyStorage(plan: CopyPlan, users: UserMap, unmapped: (miss: UnmappedUser) => void): Promise<void> {
  const collections = new CollectionMap(plan.storage.source, plan.storage.target)
  for await (const user of storageUsers(plan.storage.source, plan.chunk)) {
    const targetUser = await users.map(user)
    if (isUnmapped(targetUser)) unmapped(targetUser)
    else await copyUser(plan, collections, user, targetUser)
    plan.progress.add(1, 0, 0)
  }
}

/**
 * One user, collection by collection. A collection's row is written after its records, with
 * the source's timestamp as read before them: on the target it records "copied up to here",
 * so an interrupted copy resumes at the first collection not yet stamped, and a catch-up
 * copies only records modified after it.
 */
async function copyUser(plan: CopyPlan, collections: CollectionMap, user: StorageUser, targetUser: StorageUser): Promise<void> {
  const { source, target } = plan.storage
  const targetRows = new Map((await target.userCollections(targetUser)).map((row) => [row.collection, row]))
  const kept = new Set<number>()
  for (const row of await source.userCollections(user)) {
    const targetId = await collections.targetId(row.collection)
    kept.add(targetId)
    const copied = targetRows.get(targetId)
    if (copied !== undefined && copied.modified === row.modified) continue
    if (row.collection !== TOMBSTONE) {
      await copyRecords(plan, user, targetUser, row.collection, targetId, copied?.modified ?? 0)
      if (plan.mode !== 'fresh') await dropRecordsGoneFromSource(plan, user, targetUser, row.collection, targetId)
    }
    await target.putCollection(targetUser, { ...row, collection: targetId })
  }
  if (plan.mode === 'fresh') return
  for (const targetId of targetRows.keys()) {
    if (!kept.has(targetId)) await target.deleteCollection(targetUser, targetId)
  }
}

/**
 * Reads the next chunk while the previous one is written: two chunks in memory at most. Every
 * keyset read here stops at a short page rather than reading on to an empty one (a query per
 * collection saved; on the Spanner emulator each costs a scan of the table).
 */
async function copyRecords(plan: CopyPlan, user: StorageUser, targetUser: StorageUser, sourceId: number, targetId: number, newerThan: number): Promise<void> {
  const { source, target } = plan.storage
  const read = (after: string | null) => source.bsosAfter(user, sourceId, after, plan.chunk, newerThan)
  let rows: StoredBso[] = await read(null)
  while (rows.length > 0) {
    const more = rows.length === plan.chunk
    const [, next] = await Promise.all([target.putBsos(targetUser, targetId, rows), more ? read(rows[rows.length - 1]!.id) : []])
    plan.progress.add(0, rows.length, rows.reduce((sum, row) => sum + payloadBytes(row.payload), 0))
    rows = next
  }
}

/**
 * Deletions leave no row behind on the source, so they are found by comparing id sets. The
 * target's ids of this one collection are held in memory (a few MB for the largest history).
 */
async function dropRecordsGoneFromSource(plan: CopyPlan, user: StorageUser, targetUser: StorageUser, sourceId: number, targetId: number): Promise<void> {
  const { source, target } = plan.storage
  const extra = new Set<string>()
  for (let after: string | null = null; ; ) {
    const ids: string[] = await target.bsoIdsAfter(targetUser, targetId, after, plan.chunk * 10)
    for (const id of ids) extra.add(id)
    if (ids.length < plan.chunk * 10) break
    after = ids[ids.length - 1]!
  }
  for (let after: string | null = null; extra.size > 0; ) {
    const ids: string[] = await source.bsoIdsAfter(user, sourceId, after, plan.chunk * 10)
    for (const id of ids) extra.delete(id)
    if (ids.length < plan.chunk * 10) break
    after = ids[ids.length - 1]!
  }
  const gone = [...extra]
  for (let at = 0; at < gone.length; at += plan.chunk) await target.deleteBsos(targetUser, targetId, gone.slice(at, at + plan.chunk))
}

/**
 * A user whose whole storage was deleted on the source since the last copy. Target storage that
 * matches no tokenserver user is left in place and reported.
 */
async function dropUsersGoneFromSource(plan: CopyPlan, users: UserMap, unmapped: (miss: UnmappedUser) => void): Promise<void> {
  const { source, target } = plan.storage
  for await (const targetUser of storageUsers(target, plan.chunk)) {
    const user = await users.map(targetUser)
    if (isUnmapped(user)) {
      unmapped({ user: describeUser(targetUser, target.keying), reason: `on the target only, left in place: ${user.reason}` })
      continue
    }
    if ((await source.userCollections(user)).length > 0) continue
    for (const row of await target.userCollections(targetUser)) await target.deleteCollection(targetUser, row.collection)
  }
}

/** Tokenserver rows deleted on the source since (an account deleted, a retired row purged): both uid-ordered, walked side by side. */
async function dropTokenserverUsersGoneFromSource({ tokenserver: { source, target }, chunk }: CopyPlan): Promise<void> {
  for (let after = 0; ; ) {
    const theirs = await target.usersAfter(after, chunk)
    if (theirs.length === 0) return
    const last = theirs[theirs.length - 1]!.uid
    const kept = new Set<number>()
    for (let mine = after; mine < last; ) {
      const rows = await source.usersAfter(mine, chunk)
      for (const row of rows) if (row.uid <= last) kept.add(row.uid)
      if (rows.length < chunk) break
      mine = rows[rows.length - 1]!.uid
    }
    await target.deleteUsers(theirs.filter((row) => !kept.has(row.uid)).map((row) => row.uid))
    after = last
  }
}
