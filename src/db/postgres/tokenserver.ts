import { eq, sql, type SQL } from 'drizzle-orm'
import { drizzle, type PgRemoteDatabase } from 'drizzle-orm/pg-proxy'
import { unwrapDriverError } from '../driver-error.ts'
import { PooledTokenserver, type Select } from '../pooled-tokenserver.ts'
import { tokenserverSql, type nodeChangeSet, type nodeRow, type userRow } from '../tokenserver-common.ts'
import type { NewNode } from '../tokenserver-types.ts'
import { isConnectionLost, StaleConnection, translatePgError, type PgSession, type PostgresPool } from './connection.ts'
import { nodes, services, users } from './tokenserver-schema.ts'

type Db = PgRemoteDatabase

const q = tokenserverSql(users, nodes)

/**
 * The tokenserver tables on PostgreSQL. Each call checks a connection out of the pool, runs its
 * statements (Drizzle-built, sent through postgres.js) and, when it writes several, wraps them
 * in one transaction committed before the promise resolves. Nothing is cached: ops tooling
 * changes these tables behind our back.
 */
export class PostgresTokenserver extends PooledTokenserver<Db> {
  readonly engine = 'postgres'

  constructor(private readonly pool: PostgresPool) {
    super({ services, users, nodes })
  }

  /**
   * Runs `work` with a Drizzle database bound to one pooled connection. A dead connection found
   * by the first statement is replaced once by the pool; driver failures are translated (lost
   * connection → `unavailable`, lock trouble → `conflict`).
   */
  protected run<T>(work: (db: Db) => Promise<T>, options: { transaction?: boolean } = {}): Promise<T> {
    return this.pool.withSession(async (session, firstAttempt) => {
      const send = guardFirstStatement(session, firstAttempt)
      const db = drizzle(async (text, params) => ({ rows: await send(text, params, true) }))
      const transaction = options.transaction === true
      try {
        // READ COMMITTED whatever the server's default: each statement after the node locks
        // must see the counts other processes committed before we got them.
        if (transaction) await send('BEGIN ISOLATION LEVEL READ COMMITTED', [], false)
        const result = await work(db)
        if (transaction) await send('COMMIT', [], false)
        return result
      } catch (thrown) {
        const error = unwrapDriverError(thrown)
        if (transaction && session.usable) await session.raw('ROLLBACK', [], false).catch(() => {})
        if (error instanceof StaleConnection) throw error
        const translated = translatePgError(error)
        // Untranslated failures keep Drizzle's wrapper, which names the query.
        throw translated === error ? thrown : translated
      }
    })
  }

  protected selectServiceIds = (db: Db) => db.select({ id: services.id }).from(services).$dynamic()
  protected selectUsers = (db: Db) => db.select(q.userColumns).from(users).leftJoin(nodes, eq(nodes.id, users.nodeid)).$dynamic()
  protected selectNodes = (db: Db) => db.select().from(nodes).$dynamic()
  protected selectNodeIds = (db: Db) => db.select({ id: nodes.id }).from(nodes).$dynamic()
  protected selectNodeUrls = (db: Db) => db.select({ id: nodes.id, node: nodes.node }).from(nodes).$dynamic()
  protected updateUsers = (db: Db) => db.update(users)
  protected updateNodes = (db: Db) => db.update(nodes)
  protected keysChangedAtParam = (value: bigint | null) => sql`${value}::bigint`

  /** Row locks were taken on every node of the service before. */
  protected async pickNode(query: Select<{ id: number; node: string }>) {
    return (await query)[0]
  }

  /** The double product is stored into an integer column, which rounds it, as in the reference. */
  protected async releaseCapacity(db: Db, where: SQL | undefined, releaseRate: number): Promise<number> {
    const released = await db
      .update(nodes)
      .set({ available: sql`least(${nodes.capacity} * ${releaseRate}::float8, ${nodes.capacity} - ${nodes.currentLoad})` })
      .where(where)
      .returning({ id: nodes.id })
    return released.length
  }

  protected async insertUserRow(db: Db, row: ReturnType<typeof userRow>): Promise<number> {
    const [inserted] = await db.insert(users).values(row).returning({ uid: users.uid })
    if (inserted === undefined) throw new Error('insert into users returned no uid')
    return inserted.uid
  }

  protected async insertNodeRow(db: Db, row: ReturnType<typeof nodeRow<NewNode>>): Promise<number | null> {
    const [inserted] = await db
      .insert(nodes)
      .values(row)
      .onConflictDoNothing({ target: [nodes.service, nodes.node] })
      .returning({ id: nodes.id })
    return inserted?.id ?? null
  }

  protected async changeNode(db: Db, id: number, set: ReturnType<typeof nodeChangeSet>): Promise<boolean> {
    return (await db.update(nodes).set(set).where(eq(nodes.id, id)).returning({ id: nodes.id })).length > 0
  }

  protected async deleteNode(db: Db, id: number): Promise<boolean> {
    return (await db.delete(nodes).where(eq(nodes.id, id)).returning({ id: nodes.id })).length > 0
  }

  check(): Promise<boolean> {
    return this.run(async (db) => (await db.execute(sql`select 1`)).length === 1)
  }

  close(): Promise<void> {
    return this.pool.close()
  }
}

/**
 * Sends statements on the session; a lost connection on the very first one (nothing has run
 * yet) is reported as StaleConnection so the pool retries on a fresh connection.
 */
function guardFirstStatement(session: PgSession, firstAttempt: boolean) {
  let sent = 0
  return async (text: string, params: unknown[], prepare: boolean): Promise<unknown[][]> => {
    const first = sent++ === 0
    try {
      return await session.raw(text, params, prepare)
    } catch (error) {
      if (first && firstAttempt && isConnectionLost(error)) throw new StaleConnection(error)
      throw error
    }
  }
}
