import type { StorageCopyEndpoint, StoredUser, TokenserverCopyEndpoint } from '../db/copy-types.ts'
import type { StorageUser } from '../db/types.ts'
import { storageUsers, type CollectionMap } from './copy.ts'
import { describeUser, isUnmapped, type UserMap } from './users.ts'

/** What the verification pass compared, and every difference it found (the first 20 kept). */
export interface Verification {
  users: number
  collections: number
  records: number
  /** Source storage users not compared: no counterpart on the target (the copy reports them). */
  unmapped: number
  /** Order-independent checksum of every record (ids, payloads, sortindex, modified, expiry). */
  checksum: string
  differences: string[]
  differenceCount: number
}

const MASK = (1n << 64n) - 1n
const DIFFERENCES_KEPT = 20

/** 64-bit digest of one value; summed, so the engines' different id orders do not matter. */
const digest = (text: string): bigint => BigInt(Bun.hash.wyhash(text)) & MASK

interface Side {
  count: number
  sum: bigint
}

async function collectionDigest(endpoint: StorageCopyEndpoint, user: StorageUser, collection: number, chunk: number): Promise<Side> {
  const side = { count: 0, sum: 0n }
  for (let after: string | null = null; ; ) {
    const rows = await endpoint.bsosAfter(user, collection, after, chunk, -1)
    for (const row of rows) {
      side.count++
      side.sum = (side.sum + digest(`${row.id}\u0000${row.payload}\u0000${row.sortindex}\u0000${row.modified}\u0000${row.expiry}`)) & MASK
    }
    if (rows.length < chunk) return side
    after = rows[rows.length - 1]!.id
  }
}

const userDigest = (user: StoredUser): bigint =>
  digest(
    [user.uid, user.service, user.email, user.generation, user.clientState, user.createdAt, user.replacedAt, user.nodeId, user.keysChangedAt].join('\u0000'),
  )

/**
 * Reads both sides again: tokenserver users, then per user and collection the timestamp, the
 * record count and the records' checksum.
 */
export async function verifyCopy(
  storage: { source: StorageCopyEndpoint; target: StorageCopyEndpoint },
  tokenserver: { source: TokenserverCopyEndpoint; target: TokenserverCopyEndpoint },
  collections: CollectionMap,
  users: UserMap,
  chunk: number,
): Promise<Verification> {
  const result: Verification = { users: 0, collections: 0, records: 0, unmapped: 0, checksum: '', differences: [], differenceCount: 0 }
  const differ = (what: string) => {
    result.differenceCount++
    if (result.differences.length < DIFFERENCES_KEPT) result.differences.push(what)
  }
  for (let after = 0; ; ) {
    const [mine, theirs] = await Promise.all([tokenserver.source.usersAfter(after, chunk), tokenserver.target.usersAfter(after, chunk)])
    if (mine.length === 0 && theirs.length === 0) break
    const last = Math.min(mine.at(-1)?.uid ?? Infinity, theirs.at(-1)?.uid ?? Infinity)
    const targetRows = new Map(theirs.filter((user) => user.uid <= last).map((user) => [user.uid, userDigest(user)]))
    for (const user of mine.filter((row) => row.uid <= last)) {
      if (targetRows.get(user.uid) !== userDigest(user)) differ(`tokenserver user uid ${user.uid} differs or is missing on the target`)
      targetRows.delete(user.uid)
    }
    for (const uid of targetRows.keys()) differ(`tokenserver user uid ${uid} exists only on the target`)
    after = last
  }
  let total = 0n
  for await (const user of storageUsers(storage.source, chunk)) {
    const targetUser = await users.map(user)
    if (isUnmapped(targetUser)) {
      result.unmapped++
      continue
    }
    result.users++
    const targetRows = new Map((await storage.target.userCollections(targetUser)).map((row) => [row.collection, row]))
    for (const row of await storage.source.userCollections(user)) {
      result.collections++
      const targetId = await collections.targetId(row.collection)
      const copied = targetRows.get(targetId)
      targetRows.delete(targetId)
      const where = `user ${describeUser(user, storage.source.keying)} collection ${row.collection}→${targetId}`
      if (copied?.modified !== row.modified) differ(`${where}: timestamp ${row.modified} on the source, ${copied?.modified ?? 'none'} on the target`)
      if (row.collection === 0) continue
      const [mine, theirs] = await Promise.all([
        collectionDigest(storage.source, user, row.collection, chunk),
        collectionDigest(storage.target, targetUser, targetId, chunk),
      ])
      result.records += mine.count
      total = (total + mine.sum) & MASK
      if (mine.count !== theirs.count) differ(`${where}: ${mine.count} records on the source, ${theirs.count} on the target`)
      else if (mine.sum !== theirs.sum) differ(`${where}: record checksums differ`)
    }
    for (const extra of targetRows.keys()) differ(`user ${describeUser(user, storage.source.keying)} collection ${extra} exists only on the target`)
  }
  result.checksum = total.toString(16).padStart(16, '0')
  return result
}
