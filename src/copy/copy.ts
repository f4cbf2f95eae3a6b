import type { CopyEndpoint, StoredBso } from '../db/copy-types.ts'
import { payloadBytes, TOMBSTONE } from '../db/rules.ts'
import type { Progress } from './progress.ts'

/**
 * `fresh`: the target must hold no data. `resume`: continue an interrupted copy. `catch-up`:
 * bring a copied target up to date with what changed on the source since (deletions included).
 * The algorithm is the same; only fresh skips the checks for what the target should lose.
 */
export type CopyMode = 'fresh' | 'resume' | 'catch-up'

export interface CopyPlan {
  storage: { source: CopyEndpoint; target: CopyEndpoint }
  tokenserver: { source: CopyEndpoint; target: CopyEndpoint }
  mode: CopyMode
  /** Records (and users) per read and per write: bounds memory whatever the data size. */
  chunk: number
  progress: Progress
}

export class NonEmptyTargetError extends Error {
  override name = 'NonEmptyTargetError'
}

export async function copyAll(plan: CopyPlan): Promise<void> {
  if (plan.mode === 'fresh' && ((await plan.storage.target.hasData()) || (await plan.tokenserver.target.hasData()))) {
    throw new NonEmptyTargetError('the target database already holds users or storage: pass --resume to continue a copy, or --catch-up after one')
  }
  await copyTokenserver(plan)
  await copyStorage(plan)
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
    private readonly source: CopyEndpoint,
    private readonly target: CopyEndpoint,
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

async function copyStorage(plan: CopyPlan): Promise<void> {
  const { source, target } = plan.storage
  const collections = new CollectionMap(source, target)
  for (let after = 0; ; ) {
    const uids = await source.storageUsersAfter(after, plan.chunk)
    if (uids.length === 0) break
    for (const uid of uids) {
      await copyUser(plan, collections, uid)
      plan.progress.add(1, 0, 0)
    }
    after = uids[uids.length - 1]!
  }
  if (plan.mode !== 'fresh') await dropUsersGoneFromSource(plan)
}

/**
 * One user, collection by collection. A collection's row is written after its records, with
 * the source's timestamp as read before them: on the target it records "copied up to here",
 * so an interrupted copy resumes at the first collection not yet stamped, and a catch-up
 * copies only records modified after it.
 */
async function copyUser(plan: CopyPlan, collections: CollectionMap, uid: number): Promise<void> {
  const { source, target } = plan.storage
  const targetRows = new Map((await target.userCollections(uid)).map((row) => [row.collection, row]))
  const kept = new Set<number>()
  for (const row of await source.userCollections(uid)) {
    const targetId = await collections.targetId(row.collection)
    kept.add(targetId)
    const copied = targetRows.get(targetId)
    if (copied !== undefined && copied.modified === row.modified) continue
    if (row.collection !== TOMBSTONE) {
      await copyRecords(plan, uid, row.collection, targetId, copied?.modified ?? 0)
      if (plan.mode !== 'fresh') await dropRecordsGoneFromSource(plan, uid, row.collection, targetId)
    }
    await target.putCollection(uid, { ...row, collection: targetId })
  }
  if (plan.mode === 'fresh') return
  for (const targetId of targetRows.keys()) {
    if (!kept.has(targetId)) await target.deleteCollection(uid, targetId)
  }
}

/** Reads the next chunk while the previous one is written: two chunks in memory at most. */
async function copyRecords(plan: CopyPlan, uid: number, sourceId: number, targetId: number, newerThan: number): Promise<void> {
  const { source, target } = plan.storage
  const read = (after: string | null) => source.bsosAfter(uid, sourceId, after, plan.chunk, newerThan)
  let rows: StoredBso[] = await read(null)
  while (rows.length > 0) {
    const [, next] = await Promise.all([target.putBsos(uid, targetId, rows), read(rows[rows.length - 1]!.id)])
    plan.progress.add(0, rows.length, rows.reduce((sum, row) => sum + payloadBytes(row.payload), 0))
    rows = next
  }
}

/**
 * Deletions leave no row behind on the source, so they are found by comparing id sets. The
 * target's ids of this one collection are held in memory (a few MB for the largest history).
 */
async function dropRecordsGoneFromSource(plan: CopyPlan, uid: number, sourceId: number, targetId: number): Promise<void> {
  const { source, target } = plan.storage
  const extra = new Set<string>()
  for (let after: string | null = null; ; ) {
    const ids: string[] = await target.bsoIdsAfter(uid, targetId, after, plan.chunk * 10)
    if (ids.length === 0) break
    for (const id of ids) extra.add(id)
    after = ids[ids.length - 1]!
  }
  for (let after: string | null = null; extra.size > 0; ) {
    const ids: string[] = await source.bsoIdsAfter(uid, sourceId, after, plan.chunk * 10)
    if (ids.length === 0) break
    for (const id of ids) extra.delete(id)
    after = ids[ids.length - 1]!
  }
  const gone = [...extra]
  for (let at = 0; at < gone.length; at += plan.chunk) await target.deleteBsos(uid, targetId, gone.slice(at, at + plan.chunk))
}

/** A user whose whole storage was deleted on the source since the last copy. */
async function dropUsersGoneFromSource(plan: CopyPlan): Promise<void> {
  const { source, target } = plan.storage
  for (let after = 0; ; ) {
    const uids = await target.storageUsersAfter(after, plan.chunk)
    if (uids.length === 0) return
    for (const uid of uids) {
      if ((await source.userCollections(uid)).length > 0) continue
      for (const row of await target.userCollections(uid)) await target.deleteCollection(uid, row.collection)
    }
    after = uids[uids.length - 1]!
  }
}
