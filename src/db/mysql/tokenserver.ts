import { eq, sql, type SQL } from 'drizzle-orm'
import { drizzle, type MySqlRemoteDatabase } from 'drizzle-orm/mysql-proxy'
import { unwrapDriverError } from '../driver-error.ts'
import { PooledTokenserver, type Select } from '../pooled-tokenserver.ts'
import { tokenserverSql, type nodeChangeSet, type nodeRow, type userRow } from '../tokenserver-common.ts'
import type { NewNode } from '../tokenserver-types.ts'
import { isConnectionLost, StaleConnection, translateMysqlError, type MysqlPool, type MysqlSession } from './connection.ts'
import { nodes, services, users } from './tokenserver-schema.ts'

type Db = MySqlRemoteDatabase
type Send = ReturnType<typeof guardFirstStatement>

/**
 * Rows an UPDATE or DELETE matched. mysql2 connects with CLIENT_FOUND_ROWS, so a row set to the
 * values it already had counts too.
 */
const affectedRows = ([header]: readonly [{ affectedRows: number }, ...unknown[]]): number => header.affectedRows

const q = tokenserverSql(users, nodes)

/**
 * The tokenserver tables on MySQL / MariaDB. Each call checks a connection out of the pool and
 * runs its statements (Drizzle-built, sent through mysql2) in autocommit mode or, when it
 * writes several, in one transaction committed before the promise resolves. No transaction
 * outlives a call, so no REPEATABLE READ snapshot hides rows that ops tooling wrote since.
 */
export class MysqlTokenserver extends PooledTokenserver<Db> {
  readonly engine = 'mysql'

  constructor(private readonly pool: MysqlPool) {
    super({ services, users, nodes })
  }

  /**
   * Runs `work` with a Drizzle database bound to one pooled connection. A dead connection found
   * by the first statement is replaced once by the pool; driver failures are translated (lost
   * connection → `unavailable`, lock trouble → `conflict`).
   */
  protected run<T>(work: (db: Db, send: Send) => Promise<T>, options: { transaction?: boolean } = {}): Promise<T> {
    return this.pool.withSession(async (session, firstAttempt) => {
      const send = guardFirstStatement(session, firstAttempt)
      const db = drizzle(async (text, params, method) => ({ rows: await send(text, params, method) }))
      const transaction = options.transaction === true
      try {
        if (transaction) await send('START TRANSACTION', [], 'execute')
        const result = await work(db, send)
        if (transaction) await send('COMMIT', [], 'execute')
        return result
      } catch (thrown) {
        const error = unwrapDriverError(thrown)
        if (transaction && session.usable) await session.change('ROLLBACK', []).catch(() => {})
        if (error instanceof StaleConnection) throw error
        const translated = translateMysqlError(error)
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
  protected keysChangedAtParam = (value: bigint | null) => value

  /** A locking read too: every read in the allocation sees the latest committed rows whatever the isolation level. */
  protected async pickNode(query: Select<{ id: number; node: string }>) {
    return (await query.for('update'))[0]
  }

  /** The product is stored into an INT column, which rounds it, as in the reference. */
  protected async releaseCapacity(db: Db, where: SQL | undefined, releaseRate: number): Promise<number> {
    const result = await db
      .update(nodes)
      .set({ available: sql`least(${nodes.capacity} * ${releaseRate}, ${nodes.capacity} - ${nodes.currentLoad})` })
      .where(where)
    return affectedRows(result)
  }

  protected async insertUserRow(db: Db, row: ReturnType<typeof userRow>): Promise<number> {
    const [inserted] = await db.insert(users).values(row).$returningId()
    if (inserted === undefined) throw new Error('insert into users returned no uid')
    return inserted.uid
  }

  protected async insertNodeRow(db: Db, row: ReturnType<typeof nodeRow<NewNode>>): Promise<number | null> {
    try {
      // Not INSERT IGNORE: that would also turn a too-long URL into a silently truncated one.
      const [inserted] = await db.insert(nodes).values(row).$returningId()
      return inserted?.id ?? null
    } catch (error) {
      if ((unwrapDriverError(error) as { code?: unknown }).code === 'ER_DUP_ENTRY') return null
      throw error
    }
  }

  protected async changeNode(db: Db, id: number, set: ReturnType<typeof nodeChangeSet>): Promise<boolean> {
    return affectedRows(await db.update(nodes).set(set).where(eq(nodes.id, id))) > 0
  }

  protected async deleteNode(db: Db, id: number): Promise<boolean> {
    return affectedRows(await db.delete(nodes).where(eq(nodes.id, id))) > 0
  }

  check(): Promise<boolean> {
    return this.run(async (_db, send) => (await send('SELECT 1', [], 'all')).length === 1)
  }

  close(): Promise<void> {
    return this.pool.close()
  }
}

/**
 * Sends statements on the session: rows as arrays for selects, the OK packet for the rest. A
 * lost connection on the very first one (nothing has run yet) is reported as StaleConnection
 * so the pool retries on a fresh connection.
 */
function guardFirstStatement(session: MysqlSession, firstAttempt: boolean) {
  let sent = 0
  return async (text: string, params: unknown[], method: 'all' | 'execute'): Promise<unknown[]> => {
    const first = sent++ === 0
    try {
      return method === 'all' ? await session.rows(text, params) : [await session.change(text, params)]
    } catch (error) {
      if (first && firstAttempt && isConnectionLost(error)) throw new StaleConnection(error)
      throw error
    }
  }
}
