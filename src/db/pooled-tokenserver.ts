import { and, asc, eq, lt, lte, sql, type AnyColumn, type SQL } from 'drizzle-orm'
import { SyncError } from '../errors.ts'
import {
  allocatedUser,
  chooseNode,
  MAX_USER_ROWS,
  nodeChangeSet,
  nodeRow,
  toNodeRecord,
  tokenserverSql,
  userRow,
  type NodeColumns,
  type UserColumns,
} from './tokenserver-common.ts'
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
} from './tokenserver-types.ts'

/** Drizzle's select builder in dynamic mode, as pg-proxy and mysql-proxy both spell it. */
export interface Select<Row> extends Promise<Row[]> {
  where(condition: SQL | undefined): Select<Row>
  orderBy(...order: SQL[]): Select<Row>
  limit(count: number): Select<Row>
  for(strength: 'update'): Select<Row>
}

/** Drizzle's update builder, as both spell it. */
export interface Update<Values> {
  set(values: Values): { where(condition: SQL | undefined): Promise<unknown> }
}

type UserChanges = { generation?: bigint; replacedAt?: bigint | null; keysChangedAt?: bigint | null }
type NodeRow = Omit<NodeRecord, 'downed' | 'backoff'> & { downed: number; backoff: number }

/**
 * The tokenserver on a pooled server engine (PostgreSQL, MySQL / MariaDB): every TokenserverDb
 * method once, over Drizzle builders the engine hands out. An engine supplies how a call gets a
 * connection and a transaction, the starting points of the queries over its own tables, and
 * the statements its SQL spells differently (casts, locking reads, affected rows, new ids).
 */
export abstract class PooledTokenserver<Db> implements TokenserverDb {
  abstract readonly engine: 'postgres' | 'mysql'
  private readonly q: ReturnType<typeof tokenserverSql<UserColumns, NodeColumns>>

  protected constructor(private readonly tables: { services: { service: AnyColumn }; users: UserColumns; nodes: NodeColumns }) {
    this.q = tokenserverSql(tables.users, tables.nodes)
  }

  /** Runs `work` on one pooled connection, as one transaction when asked to. */
  protected abstract run<T>(work: (db: Db) => Promise<T>, options?: { transaction?: boolean }): Promise<T>
  protected abstract selectServiceIds(db: Db): Select<{ id: number }>
  /** Users with their node's URL left-joined. */
  protected abstract selectUsers(db: Db): Select<UserRecord>
  protected abstract selectNodes(db: Db): Select<NodeRow>
  protected abstract selectNodeIds(db: Db): Select<{ id: number }>
  protected abstract selectNodeUrls(db: Db): Select<{ id: number; node: string }>
  protected abstract updateUsers(db: Db): Update<UserChanges>
  protected abstract updateNodes(db: Db): Update<{ currentLoad: SQL; available?: SQL }>
  /** updateUser's new keys_changed_at parameter, typed as the engine needs it. */
  protected abstract keysChangedAtParam(value: bigint | null): unknown
  /** The best open node, among the service's nodes locked by allocateUser. */
  protected abstract pickNode(query: Select<{ id: number; node: string }>): Promise<{ id: number; node: string } | undefined>
  /** §12.1 step 2 on the nodes matching `where`; returns how many matched. */
  protected abstract releaseCapacity(db: Db, where: SQL | undefined, releaseRate: number): Promise<number>
  protected abstract insertUserRow(db: Db, row: ReturnType<typeof userRow>): Promise<number>
  protected abstract insertNodeRow(db: Db, row: ReturnType<typeof nodeRow<NewNode>>): Promise<number | null>
  /** Applies a non-empty set of changes; false when there is no such node. */
  protected abstract changeNode(db: Db, id: number, set: ReturnType<typeof nodeChangeSet>): Promise<boolean>
  protected abstract deleteNode(db: Db, id: number): Promise<boolean>
  abstract check(): Promise<boolean>
  abstract close(): Promise<void>

  serviceId(name: string): Promise<number | null> {
    return this.run(async (db) => {
      const [row] = await this.selectServiceIds(db).where(eq(this.tables.services.service, name)).limit(1)
      return row?.id ?? null
    })
  }

  getUsers(key: UserKey): Promise<UserRecord[]> {
    return this.run((db) => this.selectUsers(db).where(this.q.ofUser(key)).orderBy(...this.q.newestFirst).limit(MAX_USER_ROWS))
  }

  /**
   * One transaction that first locks every node of the service (all allocating processes take
   * these locks in the same order, so they queue instead of deadlocking): the choice, the
   * release and the load update then see the latest committed counts, and processes sharing the
   * database never over-assign a node.
   */
  allocateUser(values: UserValues, policy: NodePolicy): Promise<UserRecord> {
    return this.run(
      async (db) => {
        const node = await this.bestNode(db, values.service, policy)
        if (node === undefined) throw new SyncError('noNodeAvailable', 'unable to get a node')
        await this.addUserToNode(db, node.id, policy)
        const uid = await this.insertUserRow(db, userRow({ ...values, nodeId: node.id }))
        return allocatedUser(values, node, uid)
      },
      { transaction: true },
    )
  }

  insertUser(values: UserValues & { nodeId: number }): Promise<number> {
    return this.run((db) => this.insertUserRow(db, userRow(values)))
  }

  async replaceUsers(key: UserKey & { replacedAt: bigint }): Promise<void> {
    const { users } = this.tables
    await this.run((db) =>
      this.updateUsers(db)
        .set({ replacedAt: key.replacedAt })
        .where(and(this.q.ofUser(key), this.q.current, lt(users.createdAt, key.replacedAt))),
    )
  }

  async replaceUser(row: { service: number; uid: number; replacedAt: bigint }): Promise<void> {
    const { users } = this.tables
    await this.run((db) =>
      this.updateUsers(db)
        .set({ replacedAt: row.replacedAt })
        .where(and(eq(users.service, row.service), eq(users.uid, row.uid))),
    )
  }

  async updateUser(key: UserKey & { generation: bigint; keysChangedAt: bigint | null }): Promise<void> {
    await this.run((db) =>
      this.updateUsers(db)
        .set({ generation: key.generation, keysChangedAt: key.keysChangedAt })
        .where(this.q.movesForward(key, this.keysChangedAtParam(key.keysChangedAt))),
    )
  }

  async retireUser(key: UserKey & { replacedAt: bigint }): Promise<void> {
    await this.run((db) =>
      this.updateUsers(db)
        .set({ generation: RETIRED_GENERATION, replacedAt: key.replacedAt })
        .where(and(this.q.ofUser(key), this.q.current)),
    )
  }

  async raiseGeneration(key: UserKey & { generation: bigint }): Promise<void> {
    const { users } = this.tables
    await this.run((db) =>
      this.updateUsers(db)
        .set({ generation: key.generation })
        .where(and(this.q.ofUser(key), this.q.current, lte(users.generation, key.generation))),
    )
  }

  nodeId(node: { service: number; node: string }): Promise<number | null> {
    const { nodes } = this.tables
    return this.run(async (db) => {
      const [row] = await this.selectNodeIds(db)
        .where(and(eq(nodes.service, node.service), eq(nodes.node, node.node)))
        .limit(1)
      return row?.id ?? null
    })
  }

  listNodes(service: number): Promise<NodeRecord[]> {
    const { nodes } = this.tables
    return this.run(async (db) => {
      const rows = await this.selectNodes(db).where(eq(nodes.service, service)).orderBy(asc(nodes.id))
      return rows.map(toNodeRecord)
    })
  }

  insertNode(node: NewNode): Promise<number | null> {
    return this.run((db) => this.insertNodeRow(db, nodeRow(node)))
  }

  updateNode(id: number, nodeChanges: NodeChanges): Promise<boolean> {
    const set = nodeChangeSet(nodeChanges)
    return this.run(async (db) => {
      if (Object.keys(set).length === 0) {
        return (await this.selectNodeIds(db).where(eq(this.tables.nodes.id, id))).length > 0
      }
      return this.changeNode(db, id, set)
    })
  }

  removeNode(node: { id: number; replacedAt: bigint }): Promise<boolean> {
    return this.run(
      async (db) => {
        const deleted = await this.deleteNode(db, node.id)
        await this.updateUsers(db)
          .set({ replacedAt: node.replacedAt })
          .where(and(eq(this.tables.users.nodeid, node.id), this.q.current))
        return deleted
      },
      { transaction: true },
    )
  }

  listUsers(query: { service: number; email?: string }): Promise<UserRecord[]> {
    return this.run((db) => this.selectUsers(db).where(this.q.listed(query)).orderBy(...this.q.byEmail))
  }

  /** §12.1 / §12.2, inside the allocation transaction. */
  private async bestNode(db: Db, service: number, policy: NodePolicy): Promise<{ id: number; node: string } | undefined> {
    const { nodes } = this.tables
    if (policy.spannerNodeId !== undefined) {
      const [row] = await this.selectNodeUrls(db).where(eq(nodes.id, policy.spannerNodeId)).for('update')
      return row
    }
    // Row locks on every node of the service, taken in one order by all allocating processes.
    await this.selectNodeIds(db).where(eq(nodes.service, service)).orderBy(asc(nodes.id)).for('update')
    return chooseNode(
      () => this.pickNode(this.selectNodeUrls(db).where(this.q.openNodes(service)).orderBy(...this.q.nodeRank).limit(1)),
      () => this.releaseCapacity(db, this.q.fullNodes(service), policy.releaseRate),
    )
  }

  private async addUserToNode(db: Db, nodeId: number, policy: NodePolicy): Promise<void> {
    const { nodes } = this.tables
    const currentLoad = sql`${nodes.currentLoad} + 1`
    // Spanner-node mode ignores capacity, so it only counts (§12.2).
    const set = policy.spannerNodeId === undefined ? { currentLoad, available: sql`greatest(${nodes.available} - 1, 0)` } : { currentLoad }
    await this.updateNodes(db).set(set).where(eq(nodes.id, nodeId))
  }
}
