import type { StorageBackend, StorageUser, UserTimestamps } from './types.ts'

/** StorageBackend.userTimestamps as one read transaction: what an engine without a shortcut answers. */
export function userTimestampsInTransaction(backend: Pick<StorageBackend, 'withTransaction'>, user: StorageUser): Promise<UserTimestamps> {
  return backend.withTransaction({ user, mode: 'read' }, async (tx) => ({ storage: await tx.storageTimestamp(), collections: await tx.collectionTimestamps() }))
}
