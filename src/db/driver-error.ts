import { DrizzleQueryError } from 'drizzle-orm'
import { CONNECTION_LOST_CODES } from './pooled.ts'

/**
 * Drizzle wraps whatever a query's driver call threw in a DrizzleQueryError; error translation
 * (lost connection → `unavailable`, stale-connection retry, duplicate keys) needs the original.
 */
export function unwrapDriverError(error: unknown): unknown {
  let current = error
  while (current instanceof DrizzleQueryError && current.cause !== undefined) current = current.cause
  return current
}

/** The error and the causes it wraps (SyncError → driver error → socket error), outermost first. */
function* causes(error: unknown): Generator<{ code?: unknown; errno?: unknown }> {
  for (let current = error, depth = 0; current !== null && typeof current === 'object' && depth < 8; depth++) {
    yield current as { code?: unknown; errno?: unknown }
    current = (current as { cause?: unknown }).cause
  }
}

const codeOf = (error: { code?: unknown }): string => (typeof error.code === 'string' ? error.code : '')

/**
 * The engine rolled the transaction back to break a deadlock (or a serialization conflict). Not
 * SQLite's busy: writes there take the file lock up front (BEGIN IMMEDIATE), so there is no lock
 * order to deadlock on, and busy_timeout already waits for a lock held elsewhere.
 */
export function isDeadlock(error: unknown): boolean {
  for (const cause of causes(error)) {
    const code = codeOf(cause)
    if (code === 'ER_LOCK_DEADLOCK' || cause.errno === 1213) return true // MySQL / MariaDB
    if (code === '40P01' || code === '40001') return true // PostgreSQL deadlock / serialization failure
  }
  return false
}

/** The database server could not be reached at all (refused, reset, timed out, starting up). */
export function isUnreachable(error: unknown): boolean {
  for (const cause of causes(error)) {
    const code = codeOf(cause)
    if (CONNECTION_LOST_CODES.has(code) || code.startsWith('CONNECT') || code === 'PROTOCOL_CONNECTION_LOST') return true
    if (code === '57P03' || code === 'ER_CON_COUNT_ERROR' || code === '53300') return true // starting up / too many connections
    if ((cause as { kind?: unknown }).kind === 'unavailable') return true
  }
  return false
}

/** A write failed for want of space (SQLite's SQLITE_FULL, ENOSPC, MySQL's table-full / disk-full codes, PostgreSQL 53100). */
export function isDiskFull(error: unknown): boolean {
  for (const cause of causes(error)) {
    const code = codeOf(cause)
    if (code.startsWith('SQLITE_FULL') || code === 'ENOSPC' || code === '53100') return true
    if (code === 'ER_RECORD_FILE_FULL' || code === 'ER_DISK_FULL' || cause.errno === 1114 || cause.errno === 1021) return true
  }
  return false
}
