import type { StorageLimits } from '../config/schema.ts'
import type { StorageBackend } from '../db/types.ts'
import type { Logger } from '../http/logger.ts'

export interface QuotaSettings {
  enabled: boolean
  enforced: boolean
  /** Bytes per user. */
  limit: number
}

/** What the storage routes need, built once per app (no module singletons). */
export interface StorageDeps {
  backend: StorageBackend
  limits: StorageLimits
  quota: QuotaSettings
  logger: Logger
}
