import type { StorageLimits } from '../config/schema.ts'
import type { BackendLimits } from '../db/types.ts'

/** The limits that apply to one collection: the globals, overridden per collection (config.md §3.1). */
export interface CollectionLimits {
  maxPostBytes: number
  maxPostRecords: number
  maxRecordPayloadBytes: number
  maxRequestBytes: number
  maxTotalBytes: number
  maxTotalRecords: number
}

export function limitsFor(limits: StorageLimits, collection: string): CollectionLimits {
  const override = limits.collections?.[collection]
  return {
    maxPostBytes: override?.max_post_bytes ?? limits.max_post_bytes,
    maxPostRecords: limits.max_post_records,
    maxRecordPayloadBytes: override?.max_record_payload_bytes ?? limits.max_record_payload_bytes,
    maxRequestBytes: override?.max_request_bytes ?? limits.max_request_bytes,
    maxTotalBytes: limits.max_total_bytes,
    maxTotalRecords: limits.max_total_records,
  }
}

/**
 * The configured limits, lowered to what the backend can hold (StorageBackend.limits): what
 * every request checks and what info/configuration publishes, so clients never send more.
 */
export function withinBackend(limits: StorageLimits, backend: BackendLimits | undefined): StorageLimits {
  if (backend === undefined) return limits
  return {
    ...limits,
    max_total_bytes: Math.min(limits.max_total_bytes, backend.maxTotalBytes ?? Infinity),
    max_total_records: Math.min(limits.max_total_records, backend.maxTotalRecords ?? Infinity),
  }
}

/** The largest body any collection accepts: what is read at most when no Content-Length says. */
export function largestRequestBytes(limits: StorageLimits): number {
  const overrides = Object.values(limits.collections ?? {}).map((override) => override.max_request_bytes ?? 0)
  return Math.max(limits.max_request_bytes, ...overrides)
}
