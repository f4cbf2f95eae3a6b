import type { StoredBso, StoredCollection, StoredNode, StoredService, StoredUser } from './copy-types.ts'
import type { StorageUser } from './types.ts'

/**
 * Rows of the bulk-copy queries to typed values, once for every engine: each engine's SQL
 * selects the same column aliases (tokenserver tables share their column names everywhere;
 * storage queries alias theirs to `collection`, `modified`, `expiry`).
 */
type Row = Record<string, unknown>

const num = (value: unknown): number => Number(value)
const optionalNum = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value))
/** 64-bit values arrive as bigint (SQLite) or text (PostgreSQL, MySQL): never as a lossy number. */
const big = (value: unknown): bigint | null => (value === null || value === undefined ? null : BigInt(value as string | bigint))

export const serviceOf = (row: Row): StoredService => ({
  id: num(row.id),
  service: row.service as string | null,
  pattern: row.pattern as string | null,
})

export const nodeOf = (row: Row): StoredNode => ({
  id: num(row.id),
  service: num(row.service),
  node: row.node as string,
  available: num(row.available),
  currentLoad: num(row.current_load),
  capacity: num(row.capacity),
  downed: num(row.downed) !== 0,
  backoff: num(row.backoff) !== 0,
})

export const userOf = (row: Row): StoredUser => ({
  uid: num(row.uid),
  service: num(row.service),
  email: row.email as string,
  generation: big(row.generation) ?? 0n,
  clientState: row.client_state as string,
  createdAt: big(row.created_at) ?? 0n,
  replacedAt: big(row.replaced_at),
  nodeId: num(row.nodeid),
  keysChangedAt: big(row.keys_changed_at),
})

export const collectionOf = (row: Row): StoredCollection => ({
  collection: num(row.collection),
  modified: num(row.modified),
  count: optionalNum(row.count),
  totalBytes: optionalNum(row.total_bytes),
})

export const bsoOf = (row: Row, payload: string = row.payload as string): StoredBso => ({
  id: row.id as string,
  sortindex: optionalNum(row.sortindex),
  payload,
  modified: num(row.modified),
  expiry: num(row.expiry),
})

/** The user row's values in column order (uid … keys_changed_at), 64-bit ones as text. */
export const userValues = (row: StoredUser): unknown[] => [
  row.uid,
  row.service,
  row.email,
  row.generation.toString(),
  row.clientState,
  row.createdAt.toString(),
  row.replacedAt?.toString() ?? null,
  row.nodeId,
  row.keysChangedAt?.toString() ?? null,
]

export const nodeValues = (row: StoredNode): unknown[] => [
  row.id,
  row.service,
  row.node,
  row.available,
  row.currentLoad,
  row.capacity,
  Number(row.downed),
  Number(row.backoff),
]

/** A user of a uid-keyed (SQL) storage. */
export const uidUser = (uid: number): StorageUser => ({ uid, fxaUid: '', fxaKid: '' })

/** LIKE pattern (escape character `!`) matching the emails of one account, `<fxaUid>@<domain>`. */
export const accountEmailPattern = (fxaUid: string): string => `${fxaUid.replace(/[!%_]/g, '!$&')}@%`

/** The rows whose email is exactly `<fxaUid>@…` (LIKE may ignore case). */
export const ofAccount = (fxaUid: string, rows: StoredUser[]): StoredUser[] => rows.filter((row) => row.email.slice(0, row.email.indexOf('@')) === fxaUid)
