import { fillPlaceholders, type SQL } from 'drizzle-orm'
import { SyncError } from '../errors.ts'
import type { ConnectionGate } from './pooled.ts'

/** Pool settings shared by the server databases (PostgreSQL, MySQL). */
export interface PoolOptions {
  poolMaxSize: number
  connectionTimeoutSeconds: number
}

/** What a Drizzle dialect offers for rendering a statement. */
interface Dialect {
  sqlToQuery(query: SQL): { sql: string; params: unknown[] }
}

/** Something Drizzle renders: a `sql` template or a query builder. */
export type Renderable = SQL | { toSQL(): { sql: string; params: unknown[] } }

/** A statement rendered once by Drizzle; `bind` orders the values for its placeholders. */
export class RenderedStatement {
  readonly text: string
  private readonly params: unknown[]

  constructor(dialect: Dialect, query: Renderable) {
    const rendered = 'toSQL' in query ? query.toSQL() : dialect.sqlToQuery(query)
    this.text = rendered.sql
    this.params = rendered.params
  }

  bind(values: Record<string, unknown>): unknown[] {
    return fillPlaceholders(this.params, values)
  }
}

/** Thrown by a transaction whose very first statement found the connection dead. */
export class StaleConnection extends Error {
  constructor(override readonly cause: unknown) {
    super('stale database connection')
  }
}

/** How one engine checks out, wraps and gives back a pooled connection. */
export interface SessionSource<Connection, Session> {
  gate: ConnectionGate
  /** A connection; `mayRetry` says whether a failure here may be followed by another try. */
  checkout(mayRetry: boolean): Connection | typeof RETRY | Promise<Connection | typeof RETRY>
  open(connection: Connection): Session
  finish(session: Session): void
  translate(error: unknown): unknown
}

/** Returned by `checkout` to ask for another attempt. */
export const RETRY = Symbol('retry')

/** How one engine runs statements on whichever pooled connection is free. */
export interface AnyConnectionSource<Session> {
  gate: ConnectionGate
  /** The checkout deadline (database_pool_connection_timeout). */
  timeoutMs: number
  /** A session of statements on the pool, for one attempt. */
  open(): Session
  translate(error: unknown): unknown
}

/**
 * Runs `work`, which needs no transaction, with each statement on whichever pooled connection
 * is free: admitted by the same gate as a checkout, and started over, as `withPooledSession`
 * does, when a connection turns out dead. No attempt after the first starts past the checkout
 * deadline (a database that does not answer would otherwise cost a connect timeout per attempt).
 */
export function withAnyPooledConnection<Session, T>(
  source: AnyConnectionSource<Session>,
  work: (session: Session, mayRetry: boolean) => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + source.timeoutMs
  let attempted = false
  return withPooledSession(
    {
      gate: source.gate,
      checkout: () => {
        if (attempted && Date.now() >= deadline) throw new SyncError('unavailable', 'no database connection could be opened in time')
        attempted = true
        return undefined
      },
      open: () => source.open(),
      finish: () => {},
      translate: source.translate,
    },
    work,
  )
}

/**
 * Runs `work` on a connection of its own. A connection that turns out dead on its first
 * statement (the server restarted since it was last used) is replaced transparently, as
 * many times as the pool may hold connections; `mayRetry` tells `work` whether one more is left.
 */
export async function withPooledSession<Connection, Session, T>(
  source: SessionSource<Connection, Session>,
  work: (session: Session, mayRetry: boolean) => Promise<T>,
): Promise<T> {
  // A free slot and a connection at hand are taken without a turn of the microtask queue each:
  // most checkouts of a pool that keeps up, and every info/collections on the any-connection path.
  if (!source.gate.tryAcquire()) await source.gate.acquire()
  try {
    for (let attempt = 0; ; attempt++) {
      const mayRetry = attempt < source.gate.max
      const checkedOut = source.checkout(mayRetry)
      const connection = checkedOut instanceof Promise ? await checkedOut : checkedOut
      if (connection === RETRY) continue
      const session = source.open(connection)
      try {
        return await work(session, mayRetry)
      } catch (error) {
        // Every idle connection may have died with a server restart: try each once.
        if (error instanceof StaleConnection && mayRetry) continue
        throw error instanceof StaleConnection ? source.translate(error.cause) : error
      } finally {
        source.finish(session)
      }
    }
  } finally {
    source.gate.release()
  }
}
