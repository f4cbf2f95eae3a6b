import { and, asc, eq, lt, lte, sql } from 'drizzle-orm'
import { drizzle, type BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core'
import { SyncError } from '../../errors.ts'
import {
  allocatedUser,
  chooseNode,
  MAX_USER_ROWS,
  nodeChangeSet,
  nodeRow,
  toNodeRecord,
  tokenserverSql,
  userRow,
} from '../tokenserver-common.ts'
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
import { translateLockError, type SqliteConnection } from './connection.ts'
import { nodes, services, users } from './tokenserver-schema.ts'

/** Drizzle types bun:sqlite's `run()` as void; it returns the statement's change count. */
const changes = (result: unknown): number => (result as { changes: number }).changes

/** bun:sqlite reads INTEGER as a double; its text form keeps all 64 bits (tokenserver.md §4.2). */
const exact = (column: SQLiteColumn) => sql<string>`cast(${column} as text)`.mapWith(BigInt)
const exactOrNull = (column: SQLiteColumn) =>
  sql<string | null>`cast(${column} as text)`.mapWith((text: string | null) => (text === null ? null : BigInt(text)))

const q = tokenserverSql(users, nodes)

/** The shared user columns, the 64-bit ones read exactly. */
const userColumns = {
  ...q.userColumns,
  generation: exact(users.generation),
  createdAt: exact(users.createdAt),
  replacedAt: exactOrNull(users.replacedAt),
  keysChangedAt: exactOrNull(users.keysChangedAt),
}

/** The tokenserver tables on embedded SQLite, sharing the storage's connection queue. */
export class SqliteTokenserver implements TokenserverDb {
  readonly engine = 'sqlite'
  private readonly db: BunSQLiteDatabase
  private readonly userRows: ReturnType<typeof prepareUserLookup>

  constructor(private readonly connection: SqliteConnection) {
    this.db = drizzle({ client: connection.client })
    this.userRows = prepareUserLookup(this.db)
  }

  /**
   * Runs `work` alone on the connection (never inside a storage transaction) and, when it writes
   * several statements, as one immediate transaction, committed before the promise resolves.
   */
  private run<T>(work: () => T, options: { transaction?: boolean } = {}): Promise<T> {
    return this.connection.exclusive(async () => {
      try {
        return options.transaction === true ? this.connection.client.transaction(work).immediate() : work()
      } catch (error) {
        throw translateLockError(error, 'unavailable')
      }
    })
  }

  serviceId(name: string): Promise<number | null> {
    return this.run(() => this.db.select({ id: services.id }).from(services).where(eq(services.service, name)).get()?.id ?? null)
  }

  getUsers(key: UserKey): Promise<UserRecord[]> {
    return this.run(() => this.userRows.all({ service: key.service, email: key.email }))
  }

  allocateUser(values: UserValues, policy: NodePolicy): Promise<UserRecord> {
    return this.run(
      () => {
        const node = this.bestNode(values.service, policy)
        if (node === undefined) throw new SyncError('noNodeAvailable', 'unable to get a node')
        this.addUserToNode(node.id, policy)
        const uid = this.insertRow({ ...values, nodeId: node.id })
        return allocatedUser(values, node, uid)
      },
      { transaction: true },
    )
  }

  private bestNode(service: number, policy: NodePolicy): { id: number; node: string } | undefined {
    const columns = { id: nodes.id, node: nodes.node }
    if (policy.spannerNodeId !== undefined) {
      return this.db.select(columns).from(nodes).where(eq(nodes.id, policy.spannerNodeId)).get()
    }
    return chooseNode(
      () => this.db.select(columns).from(nodes).where(q.openNodes(service)).orderBy(...q.nodeRank).limit(1).get(),
      () => this.releaseCapacity(service, policy.releaseRate),
    )
  }

  /** §12.1 step 2: full nodes that are up get a fraction of their capacity back (backoff ones too). */
  private releaseCapacity(service: number, releaseRate: number): number {
    const result = this.db
      .update(nodes)
      .set({
        // The reference stores the product in an INTEGER column, which rounds it.
        available: sql`cast(round(min(${nodes.capacity} * ${releaseRate}, ${nodes.capacity} - ${nodes.currentLoad})) as integer)`,
      })
      .where(q.fullNodes(service))
      .run()
    return changes(result)
  }

  private addUserToNode(nodeId: number, policy: NodePolicy): void {
    // Spanner-node mode ignores capacity, so it only counts (§12.2).
    const available = policy.spannerNodeId === undefined ? sql`max(${nodes.available} - 1, 0)` : nodes.available
    this.db
      .update(nodes)
      .set({ currentLoad: sql`${nodes.currentLoad} + 1`, available })
      .where(eq(nodes.id, nodeId))
      .run()
  }

  private insertRow(values: UserValues & { nodeId: number }): number {
    const inserted = this.db
      .insert(users)
      .values(userRow(values))
      .returning({ uid: users.uid })
      .get()
    return inserted.uid
  }

  insertUser(values: UserValues & { nodeId: number }): Promise<number> {
    return this.run(() => this.insertRow(values))
  }

  async replaceUsers(key: UserKey & { replacedAt: bigint }): Promise<void> {
    await this.run(() =>
      this.db
        .update(users)
        .set({ replacedAt: key.replacedAt })
        .where(and(q.ofUser(key), q.current, lt(users.createdAt, key.replacedAt)))
        .run(),
    )
  }

  async replaceUser(row: { service: number; uid: number; replacedAt: bigint }): Promise<void> {
    await this.run(() =>
      this.db
        .update(users)
        .set({ replacedAt: row.replacedAt })
        .where(and(eq(users.service, row.service), eq(users.uid, row.uid)))
        .run(),
    )
  }

  async updateUser(key: UserKey & { generation: bigint; keysChangedAt: bigint | null }): Promise<void> {
    await this.run(() =>
      this.db
        .update(users)
        .set({ generation: key.generation, keysChangedAt: key.keysChangedAt })
        .where(q.movesForward(key, key.keysChangedAt))
        .run(),
    )
  }

  async retireUser(key: UserKey & { replacedAt: bigint }): Promise<void> {
    await this.run(() =>
      this.db
        .update(users)
        .set({ generation: RETIRED_GENERATION, replacedAt: key.replacedAt })
        .where(and(q.ofUser(key), q.current))
        .run(),
    )
  }

  async raiseGeneration(key: UserKey & { generation: bigint }): Promise<void> {
    await this.run(() =>
      this.db
        .update(users)
        .set({ generation: key.generation })
        .where(and(q.ofUser(key), q.current, lte(users.generation, key.generation)))
        .run(),
    )
  }

  nodeId(node: { service: number; node: string }): Promise<number | null> {
    return this.run(
      () =>
        this.db
          .select({ id: nodes.id })
          .from(nodes)
          .where(and(eq(nodes.service, node.service), eq(nodes.node, node.node)))
          .get()?.id ?? null,
    )
  }

  listNodes(service: number): Promise<NodeRecord[]> {
    return this.run(() =>
      this.db
        .select()
        .from(nodes)
        .where(eq(nodes.service, service))
        .orderBy(asc(nodes.id))
        .all()
        .map(toNodeRecord),
    )
  }

  insertNode(node: NewNode): Promise<number | null> {
    return this.run(() => {
      const inserted = this.db
        .insert(nodes)
        .values(nodeRow(node))
        .onConflictDoNothing()
        .returning({ id: nodes.id })
        .get()
      return inserted?.id ?? null
    })
  }

  updateNode(id: number, nodeChanges: NodeChanges): Promise<boolean> {
    const set = nodeChangeSet(nodeChanges)
    if (Object.keys(set).length === 0) return this.run(() => this.nodeExists(id))
    return this.run(() => changes(this.db.update(nodes).set(set).where(eq(nodes.id, id)).run()) > 0)
  }

  private nodeExists(id: number): boolean {
    return this.db.select({ id: nodes.id }).from(nodes).where(eq(nodes.id, id)).get() !== undefined
  }

  removeNode(node: { id: number; replacedAt: bigint }): Promise<boolean> {
    return this.run(
      () => {
        const deleted = changes(this.db.delete(nodes).where(eq(nodes.id, node.id)).run())
        this.db
          .update(users)
          .set({ replacedAt: node.replacedAt })
          .where(and(eq(users.nodeid, node.id), q.current))
          .run()
        return deleted > 0
      },
      { transaction: true },
    )
  }

  listUsers(query: { service: number; email?: string }): Promise<UserRecord[]> {
    return this.run(() =>
      this.db
        .select(userColumns)
        .from(users)
        .leftJoin(nodes, eq(nodes.id, users.nodeid))
        .where(q.listed(query))
        .orderBy(...q.byEmail)
        .all(),
    )
  }

  check(): Promise<boolean> {
    return this.run(() => this.connection.client.query('SELECT 1 AS ok').get() !== null)
  }

  async close(): Promise<void> {
    await this.connection.exclusive(async () => this.connection.close())
  }
}

function prepareUserLookup(db: BunSQLiteDatabase) {
  return db
    .select(userColumns)
    .from(users)
    .leftJoin(nodes, eq(nodes.id, users.nodeid))
    .where(and(eq(users.service, sql.placeholder('service')), eq(users.email, sql.placeholder('email'))))
    .orderBy(...q.newestFirst)
    .limit(MAX_USER_ROWS)
    .prepare()
}

