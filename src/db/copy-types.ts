import type { NodeRecord, UserRecord } from './tokenserver-types.ts'
import type { Millis } from './types.ts'

/**
 * Bulk access to one database for `syncserver copy`, beside StorageBackend: rows as stored
 * (ids, payloads, modified and expiry exactly), read in keyset pages and written by idempotent
 * upserts keyed by primary key, so a copy can be repeated or resumed without duplicates.
 * Each engine implements it in src/db/<engine>/copy.ts.
 */

/** A record as stored: `expiry` is absolute milliseconds. */
export interface StoredBso {
  id: string
  sortindex: number | null
  payload: string
  modified: Millis
  expiry: Millis
}

/** A `user_collections` row with a real timestamp (the tombstone included). */
export interface StoredCollection {
  collection: number
  modified: Millis
  count: number | null
  totalBytes: number | null
}

export interface StoredService {
  id: number
  service: string | null
  pattern: string | null
}

/** A `nodes` row. */
export type StoredNode = NodeRecord

/** A `users` row as stored (no join). */
export type StoredUser = Omit<UserRecord, 'node'>

export interface CopyEndpoint {
  readonly engine: 'sqlite' | 'postgres' | 'mysql'

  /** True when the database holds any user row or any stored collection row. */
  hasData(): Promise<boolean>
  /** Records in the database (for progress), expired ones included. */
  countBsos(): Promise<number>

  services(): Promise<StoredService[]>
  nodes(): Promise<StoredNode[]>
  /** Tokenserver rows with uid > `afterUid`, by uid. */
  usersAfter(afterUid: number, limit: number): Promise<StoredUser[]>
  putServices(rows: readonly StoredService[]): Promise<void>
  putNodes(rows: readonly StoredNode[]): Promise<void>
  putUsers(rows: readonly StoredUser[]): Promise<void>

  /** Collection names by id. */
  collectionNames(): Promise<Map<number, string>>
  /** The id of the collection with this name, created when missing. */
  ensureCollection(name: string): Promise<number>
  /** Uids with stored collection rows, > `afterUid`, ascending. */
  storageUsersAfter(afterUid: number, limit: number): Promise<number[]>
  /** The user's stamped collection rows, tombstone included. */
  userCollections(uid: number): Promise<StoredCollection[]>
  /** Records of one collection with id after `afterId` (engine order) and modified > `newerThan`. */
  bsosAfter(uid: number, collection: number, afterId: string | null, limit: number, newerThan: Millis): Promise<StoredBso[]>
  /** Record ids of one collection after `afterId`, in the engine's order. */
  bsoIdsAfter(uid: number, collection: number, afterId: string | null, limit: number): Promise<string[]>
  /** Upserts records (the collection row exists first where the engine needs it). */
  putBsos(uid: number, collection: number, rows: readonly StoredBso[]): Promise<void>
  deleteBsos(uid: number, collection: number, ids: readonly string[]): Promise<void>
  /** Upserts the collection row; written last, it marks the collection copied up to `modified`. */
  putCollection(uid: number, row: StoredCollection): Promise<void>
  /** Deletes the collection row and its records. */
  deleteCollection(uid: number, collection: number): Promise<void>

  close(): Promise<void>
}
