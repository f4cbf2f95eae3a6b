import type { TokenserverDb } from '../db/tokenserver-types.ts'
import { withDeadline } from '../deadline.ts'
import { SyncError } from '../errors.ts'

/**
 * `db` with every call bounded by `database_request_timeout` (tokenserver.md §9.3): a slower
 * call answers 504 `elapsed`. Like the reference's timeout, it stops waiting; it cannot undo
 * what the database may still do.
 */
export function withRequestTimeout(db: TokenserverDb, timeoutSeconds: number | undefined): TokenserverDb {
  if (timeoutSeconds === undefined) return db
  const timeoutMs = timeoutSeconds * 1000
  // An empty target: the proxy then owes no invariants to the properties of `db` (frozen ones included).
  return new Proxy({} as TokenserverDb, {
    get(_target, property) {
      const value: unknown = Reflect.get(db, property)
      if (typeof value !== 'function' || property === 'close') return value
      return (...args: unknown[]) =>
        withDeadline(value.apply(db, args) as Promise<unknown>, timeoutMs, () => new SyncError('elapsed', `database call took over ${timeoutMs} ms`))
    },
  })
}
