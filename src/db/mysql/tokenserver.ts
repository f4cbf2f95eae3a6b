import { and, asc, desc, eq, isNull, lt, lte, sql, type SQL } from 'drizzle-orm'
import { drizzle, type MySqlRemoteDatabase } from 'drizzle-orm/mysql-proxy'
import { SyncError } from '../../errors.ts'
import { unwrapDriverError } from '../driver-error.ts'
import {
  RETIRED_GENERATION,
  type NewNode,
  type NodeChanges,
  type NodePolicy,
  type NodeRecord,
  type TokenserverDb,
  type UserKey,
  type UserRecord,
  type UserValues,
} from '../tokenserver-types.ts'
import { isConnectionLost, StaleConnection, translateMysqlError, type MysqlPool, type MysqlSession } from './connection.ts'
import { nodes, services, users } from './tokenserver-schema.ts'

const MAX_USER_ROWS = 20
/** Rounds of "pick a node, else release capacity" before giving up (tokenserver.md §12.1). */
const NODE_SELECTION_ROUNDS = 5

type Db = MySqlRemoteDatabase
type Send = ReturnType<typeof guardFirstStatement>

/**
 * Rows an UPDATE or DELETE matched. mysql2 connects with CLIENT_FOUND_ROWS, so a row set to the
 * values it already had counts too.
 */
const affectedRows = ([header]: readonly [{ affectedRows: number }, ...unknown[]]): number => header.affectedRows

const userColumns = {
  uid: users.uid,
  service: users.service,
  email: users.email,
  generation: users.generation,
  clientState: users.clientState,
  createdAt: users.createdAt,
  replacedAt: users.replacedAt,
  nodeId: users.nodeid,
  keysChangedAt: users.keysChangedAt,
  node: nodes.node,
}

const ofUser = (key: UserKey) => and(eq(users.service, key.service), eq(users.email, key.email))
const current = isNull(users.replacedAt)

/**
 * Node ranking of §12.1: the reference's `LOG(current_load) / LOG(capacity)` where MySQL's
 * `LOG(0)` is NULL and sorts first, written out as an explicit -1 for a load of 0; then the
 * port's tie-breakers: more released slots, then the oldest node.
 */
const nodeRank = [
  sql`case when ${nodes.currentLoad} = 0 then -1 else ln(${nodes.currentLoad}) / ln(${nodes.capacity}) end`,
  desc(nodes.available),
  asc(nodes.id),
]

const toNodeRecord = (row: typeof nodes.$inferSelect): NodeRecord => ({
  ...row,
  downed: row.downed !== 0,
  backoff: row.backoff !== 0,
})

/**
 * The tokenserver tables on MySQL / MariaDB. Each call checks a connection out of the pool and
 * runs its statements (Drizzle-built, sent through mysql2) in autocommit mode or, when it
 * writes several, in one transaction committed before the promise resolves. No transaction
 * outlives a call, so no REPEATABLE READ snapshot hides rows that ops tooling wrote since.
 */
export class MysqlTokenserver implements TokenserverDb {
  readonly engine = 'mysql'

  constructor(private readonly pool: MysqlPool) {}

  /**
   * Runs `work` with a Drizzle database bound to one pooled connection. A dead connection found
   * by the first statement is replaced once by the pool; driver failures are translated (lost
   * connection → `unavailable`, lock trouble → `conflict`).
   */
  private run<T>(work: (db: Db, send: Send) => Promise<T>, options: { transaction?: boolean } = {}): Promise<T> {
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

  serviceId(name: string): Promise<number | null> {
    return this.run(async (db) => {
      const [row] = await db.select({ id: services.id }).from(services).where(eq(services.service, name)).limit(1)
      return row?.id ?? null
    })
  }

  getUsers(key: UserKey): Promise<UserRecord[]> {
    return this.run((db) =>
      db
        .select(userColumns)
        .from(users)
        .leftJoin(nodes, eq(nodes.id, users.nodeid))
        .where(ofUser(key))
        .orderBy(desc(users.createdAt), desc(users.uid))
        .limit(MAX_USER_ROWS),
    )
  }

  /**
   * One transaction that first locks every node of the service (all allocating processes take
   * these locks in the same index order, so they queue instead of deadlocking). Every read in
   * it is a locking read, which sees the latest committed rows whatever the isolation level:
   * processes sharing the database never over-assign a node.
   */
  allocateUser(values: UserValues, policy: NodePolicy): Promise<UserRecord> {
    return this.run(
      async (db) => {
        const node = await bestNode(db, values.service, policy)
        if (node === undefined) throw new SyncError('noNodeAvailable', 'unable to get a node')
        await addUserToNode(db, node.id, policy)
        const uid = await insertRow(db, { ...values, nodeId: node.id })
        return { ...values, uid, nodeId: node.id, node: node.node, replacedAt: null }
      },
      { transaction: true },
    )
  }

  insertUser(values: UserValues & { nodeId: number }): Promise<number> {
    return this.run((db) => insertRow(db, values))
  }

  async replaceUsers(key: UserKey & { replacedAt: bigint }): Promise<void> {
    await this.run((db) =>
      db
        .update(users)
        .set({ replacedAt: key.replacedAt })
        .where(and(ofUser(key), current, lt(users.createdAt, key.replacedAt))),
    )
  }

  async replaceUser(row: { service: number; uid: number; replacedAt: bigint }): Promise<void> {
    await this.run((db) =>
      db
        .update(users)
        .set({ replacedAt: row.replacedAt })
        .where(and(eq(users.service, row.service), eq(users.uid, row.uid))),
    )
  }

  async updateUser(key: UserKey & { generation: bigint; keysChangedAt: bigint | null }): Promise<void> {
    const newKeysChangedAt = sql`coalesce(${key.keysChangedAt}, ${users.keysChangedAt}, 0)`
    await this.run((db) =>
      db
        .update(users)
        .set({ generation: key.generation, keysChangedAt: key.keysChangedAt })
        .where(
          and(
            ofUser(key),
            current,
            lte(users.generation, key.generation),
            sql`coalesce(${users.keysChangedAt}, 0) <= ${newKeysChangedAt}`,
          ),
        ),
    )
  }

  async retireUser(key: UserKey & { replacedAt: bigint }): Promise<void> {
    await this.run((db) =>
      db
        .update(users)
        .set({ generation: RETIRED_GENERATION, replacedAt: key.replacedAt })
        .where(and(ofUser(key), current)),
    )
  }

  async raiseGeneration(key: UserKey & { generation: bigint }): Promise<void> {
    await this.run((db) =>
      db
        .update(users)
        .set({ generation: key.generation })
        .where(and(ofUser(key), current, lte(users.generation, key.generation))),
    )
  }

  nodeId(node: { service: number; node: string }): Promise<number | null> {
    return this.run(async (db) => {
      const [row] = await db
        .select({ id: nodes.id })
        .from(nodes)
        .where(and(eq(nodes.service, node.service), eq(nodes.node, node.node)))
        .limit(1)
      return row?.id ?? null
    })
  }

  listNodes(service: number): Promise<NodeRecord[]> {
    return this.run(async (db) => {
      const rows = await db.select().from(nodes).where(eq(nodes.service, service)).orderBy(asc(nodes.id))
      return rows.map(toNodeRecord)
    })
  }

  insertNode(node: NewNode): Promise<number | null> {
    return this.run(async (db) => {
      try {
        // Not INSERT IGNORE: that would also turn a too-long URL into a silently truncated one.
        const [row] = await db
          .insert(nodes)
          .values({ ...node, downed: Number(node.downed), backoff: Number(node.backoff) })
          .$returningId()
        return row?.id ?? null
      } catch (error) {
        if ((unwrapDriverError(error) as { code?: unknown }).code === 'ER_DUP_ENTRY') return null
        throw error
      }
    })
  }

  updateNode(id: number, nodeChanges: NodeChanges): Promise<boolean> {
    const { downed, backoff, ...counts } = nodeChanges
    const set = {
      ...counts,
      ...(downed === undefined ? {} : { downed: Number(downed) }),
      ...(backoff === undefined ? {} : { backoff: Number(backoff) }),
    }
    return this.run(async (db) => {
      if (Object.keys(set).length === 0) {
        return (await db.select({ id: nodes.id }).from(nodes).where(eq(nodes.id, id))).length > 0
      }
      return affectedRows(await db.update(nodes).set(set).where(eq(nodes.id, id))) > 0
    })
  }

  removeNode(node: { id: number; replacedAt: bigint }): Promise<boolean> {
    return this.run(
      async (db) => {
        const deleted = affectedRows(await db.delete(nodes).where(eq(nodes.id, node.id)))
        await db
          .update(users)
          .set({ replacedAt: node.replacedAt })
          .where(and(eq(users.nodeid, node.id), current))
        return deleted > 0
      },
      { transaction: true },
    )
  }

  listUsers(query: { service: number; email?: string }): Promise<UserRecord[]> {
    const filter: SQL | undefined = query.email === undefined ? undefined : eq(users.email, query.email)
    return this.run((db) =>
      db
        .select(userColumns)
        .from(users)
        .leftJoin(nodes, eq(nodes.id, users.nodeid))
        .where(and(eq(users.service, query.service), filter))
        .orderBy(asc(users.email), desc(users.createdAt), desc(users.uid)),
    )
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

/** §12.1 / §12.2, inside the allocation transaction. */
async function bestNode(db: Db, service: number, policy: NodePolicy): Promise<{ id: number; node: string } | undefined> {
  const columns = { id: nodes.id, node: nodes.node }
  if (policy.spannerNodeId !== undefined) {
    const [row] = await db.select(columns).from(nodes).where(eq(nodes.id, policy.spannerNodeId)).for('update')
    return row
  }
  // Row locks on every node of the service, taken in one order by all allocating processes.
  await db.select({ id: nodes.id }).from(nodes).where(eq(nodes.service, service)).orderBy(asc(nodes.id)).for('update')
  for (let round = 0; round < NODE_SELECTION_ROUNDS; round++) {
    const [found] = await db
      .select(columns)
      .from(nodes)
      .where(
        and(
          eq(nodes.service, service),
          sql`${nodes.available} > 0 and ${nodes.capacity} > ${nodes.currentLoad}`,
          eq(nodes.downed, 0),
          eq(nodes.backoff, 0),
        ),
      )
      .orderBy(...nodeRank)
      .limit(1)
      .for('update')
    if (found !== undefined) return found
    if ((await releaseCapacity(db, service, policy.releaseRate)) === 0) return undefined
  }
  return undefined
}

/**
 * §12.1 step 2: full nodes that are up get a fraction of their capacity back (backoff ones
 * too). The product is stored into an INT column, which rounds it, as in the reference.
 * Returns how many nodes matched.
 */
async function releaseCapacity(db: Db, service: number, releaseRate: number): Promise<number> {
  const result = await db
    .update(nodes)
    .set({ available: sql`least(${nodes.capacity} * ${releaseRate}, ${nodes.capacity} - ${nodes.currentLoad})` })
    .where(
      and(eq(nodes.service, service), sql`${nodes.available} <= 0 and ${nodes.capacity} > ${nodes.currentLoad}`, eq(nodes.downed, 0)),
    )
  return affectedRows(result)
}

async function addUserToNode(db: Db, nodeId: number, policy: NodePolicy): Promise<void> {
  const currentLoad = sql`${nodes.currentLoad} + 1`
  // Spanner-node mode ignores capacity, so it only counts (§12.2).
  const set = policy.spannerNodeId === undefined ? { currentLoad, available: sql`greatest(${nodes.available} - 1, 0)` } : { currentLoad }
  await db.update(nodes).set(set).where(eq(nodes.id, nodeId))
}

async function insertRow(db: Db, values: UserValues & { nodeId: number }): Promise<number> {
  const [row] = await db
    .insert(users)
    .values({
      service: values.service,
      email: values.email,
      generation: values.generation,
      clientState: values.clientState,
      createdAt: values.createdAt,
      replacedAt: null,
      nodeid: values.nodeId,
      keysChangedAt: values.keysChangedAt,
    })
    .$returningId()
  if (row === undefined) throw new Error('insert into users returned no uid')
  return row.uid
}
