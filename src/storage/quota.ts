import { SyncError } from '../errors.ts'
import type { StorageTx } from '../db/types.ts'
import type { StorageDeps } from './context.ts'

/**
 * Quota (storage-api.md §14), off unless `enable_quota`: usage is the user's stored total
 * before the write (so one write may cross the limit); enforced as 403 / code 14 only with
 * `enforce_quota`, otherwise a warning. The backend keeps the totals (opened with `quotaTotals`).
 */
export async function checkQuota(
  deps: StorageDeps,
  tx: StorageTx,
  collection: string,
  pendingBytes?: () => Promise<number>,
): Promise<void> {
  if (!deps.quota.enabled) return
  const usage = (await tx.quotaUsage()) + (pendingBytes === undefined ? 0 : await pendingBytes())
  if (usage < deps.quota.limit) return
  if (deps.quota.enforced) throw new SyncError('overQuota', 'over quota')
  deps.logger.warn('user over quota', { collection, usage, limit: deps.quota.limit })
}
