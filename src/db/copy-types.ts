import type { NodeRecord, UserRecord } from './tokenserver-types.ts'
import type { Millis, StorageUser } from './types.ts'

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

/** How an engine keys storage: by the tokenserver uid (SQL engines) or by the token's fxa_uid and fxa_kid (Spanner). */
export type StorageKeying = 'uid' | 'fxa'

/**
 * The storage tables of one database. A user is a StorageUser: SQL engines read and fill only
 * `uid`, Spanner only `fxaUid` and `fxaKid` (src/copy/users.ts maps one to the other).
 */
export interface StorageCopyEndpoint {
  readonly engine: 'sqlite' | 'postgres' | 'mysql' | 'spanner'
  readonly keying: StorageKeying

  /** True when the database holds any stored collection row. */
  hasStorage(): Promise<boolean>
  /** Records in the database (for progress), expired ones included. */
  countBsos(): Promise<number>

  /** Collection names by id. */
  collectionNames(): Promise<Map<number, string>>
  /** The id of the collection with this name, created when missing. */
  ensureCollection(name: string): Promise<number>
  /** Users with stored collection rows after `after` (null: from the start), in key order. */
  storageUsersAfter(after: StorageUser | null, limit: number): Promise<StorageUser[]>
  /** The user's stamped collection rows, tombstone included. */
  userCollections(user: StorageUser): Promise<StoredCollection[]>
  /** Records of one collection with id after `afterId` (engine order) and modified > `newerThan`. */
  bsosAfter(user: StorageUser, collection: number, afterId: string | null, limit: number, newerThan: Millis): Promise<StoredBso[]>
  /** Record ids of one collection after `afterId`, in the engine's order. */
  bsoIdsAfter(user: StorageUser, collection: number, afterId: string | null, limit: number): Promise<string[]>
  /** Upserts records (the collection row exists first where the engine needs it). */
  putBsos(user: StorageUser, collection: number, rows: readonly StoredBso[]): Promise<void>
  deleteBsos(user: StorageUser, collection: number, ids: readonly string[]): Promise<void>
  /** Upserts the collection row; written last, it marks the collection copied up to `modified`. */
  putCollection(user: StorageUser, row: StoredCollection): Promise<void>
  /** Deletes the collection row and its records. */
  deleteCollection(user: StorageUser, collection: number): Promise<void>

  close(): Promise<void>
}

/** The tokenserver tables of one (SQL) database. */
export interface TokenserverCopyEndpoint {
  /** True when the database holds any tokenserver user. */
  hasUsers(): Promise<boolean>
  services(): Promise<StoredService[]>
  nodes(): Promise<StoredNode[]>
  /** Tokenserver rows with uid > `afterUid`, by uid. */
  usersAfter(afterUid: number, limit: number): Promise<StoredUser[]>
  /** Every row (any service) whose email is `<fxaUid>@<any domain>`: the account's users. */
  usersOfAccount(fxaUid: string): Promise<StoredUser[]>
  putServices(rows: readonly StoredService[]): Promise<void>
  putNodes(rows: readonly StoredNode[]): Promise<void>
  putUsers(rows: readonly StoredUser[]): Promise<void>
  deleteUsers(uids: readonly number[]): Promise<void>

  close(): Promise<void>
}

/** A SQL database, which holds both. */
export type CopyEndpoint = StorageCopyEndpoint & TokenserverCopyEndpoint
