import { DrizzleQueryError } from 'drizzle-orm'

/**
 * Drizzle wraps whatever a query's driver call threw in a DrizzleQueryError; error translation
 * (lost connection → `unavailable`, stale-connection retry, duplicate keys) needs the original.
 */
export function unwrapDriverError(error: unknown): unknown {
  let current = error
  while (current instanceof DrizzleQueryError && current.cause !== undefined) current = current.cause
  return current
}
