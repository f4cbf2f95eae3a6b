import type { StorageBackend, StorageTx, StorageUser, UserTimestamps } from './types.ts'

/** The user's storage and collection timestamps, as info/collections reads them, in `tx`. */
export async function readUserTimestamps(tx: Pick<StorageTx, 'storageTimestamp' | 'collectionTimestamps'>): Promise<UserTimestamps> {
  return { storage: await tx.storageTimestamp(), collections: await tx.collectionTimestamps() }
}

/** StorageBackend.userTimestamps as one read transaction: what an engine without a shortcut answers. */
export function userTimestampsInTransaction(backend: Pick<StorageBackend, 'withTransaction'>, user: StorageUser): Promise<UserTimestamps> {
  return backend.withTransaction({ user, mode: 'read' }, readUserTimestamps)
}
