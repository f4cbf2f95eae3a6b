import { and, asc, desc, eq, isNull, lte, sql, type AnyColumn } from 'drizzle-orm'
import type { NodeChanges, NodeRecord, UserKey, UserRecord, UserValues } from './tokenserver-types.ts'
import { then, type Step } from '../step.ts'

/**
 * What every engine's tokenserver backend shares: the conditions, orderings and row shapes of
 * the reference's queries (built once over each engine's Drizzle columns), and the node
 * selection policy of tokenserver.md §12. Each backend adds only what its engine does
 * differently: locking, casts, how it learns affected rows and new ids.
 */

export const MAX_USER_ROWS = 20
/** Rounds of "pick a node, else release capacity" before giving up (tokenserver.md §12.1). */
const NODE_SELECTION_ROUNDS = 5

export interface UserColumns {
  uid: AnyColumn
  service: AnyColumn
  email: AnyColumn
  generation: AnyColumn
  clientState: AnyColumn
  createdAt: AnyColumn
  replacedAt: AnyColumn
  nodeid: AnyColumn
  keysChangedAt: AnyColumn
}

export interface NodeColumns {
  id: AnyColumn
  service: AnyColumn
  node: AnyColumn
  available: AnyColumn
  currentLoad: AnyColumn
  capacity: AnyColumn
  downed: AnyColumn
  backoff: AnyColumn
}

/** A user row with its node's URL, in each engine's own column types. */
export type UserSelection<U extends UserColumns, N extends NodeColumns> = {
  uid: U['uid']
  service: U['service']
  email: U['email']
  generation: U['generation']
  clientState: U['clientState']
  createdAt: U['createdAt']
  replacedAt: U['replacedAt']
  nodeId: U['nodeid']
  keysChangedAt: U['keysChangedAt']
  node: N['node']
}

/** The engine-independent SQL fragments over one engine's `users` and `nodes` tables. */
export function tokenserverSql<U extends UserColumns, N extends NodeColumns>(users: U, nodes: N) {
  const ofUser = (key: UserKey) => and(eq(users.service, key.service), eq(users.email, key.email))
  const current = isNull(users.replacedAt)
  const userColumns: UserSelection<U, N> = {
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
  return {
    /** A user row with its node's URL (left-joined). */
    userColumns,
    ofUser,
    current,
    /** listUsers: every row of the service, or of one user in it. */
    listed: (query: { service: number; email?: string }) =>
      and(eq(users.service, query.service), query.email === undefined ? undefined : eq(users.email, query.email)),
    /** getUsers: newest first. */
    newestFirst: [desc(users.createdAt), desc(users.uid)],
    /** listUsers: by email, newest first. */
    byEmail: [asc(users.email), desc(users.createdAt), desc(users.uid)],
    /**
     * updateUser's guard, so a value never goes backwards. `newKeysChangedAt` is the parameter
     * as the engine must type it.
     */
    movesForward: (key: UserKey & { generation: bigint }, newKeysChangedAt: unknown) =>
      and(
        ofUser(key),
        current,
        lte(users.generation, key.generation),
        sql`coalesce(${users.keysChangedAt}, 0) <= ${sql`coalesce(${newKeysChangedAt}, ${users.keysChangedAt}, 0)`}`,
      ),
    /**
     * Node ranking of §12.1: the reference's `CASE WHEN current_load = 0 THEN -1 ELSE
     * LN(current_load) / LN(capacity) END` (emptiest relative to capacity first, a load of 0
     * ahead of all since ln(0) is undefined; MySQL's `LOG(0)` would be NULL), with the port's
     * tie-breakers: more released slots, then the oldest node.
     */
    nodeRank: [
      sql`case when ${nodes.currentLoad} = 0 then -1 else ln(${nodes.currentLoad}) / ln(${nodes.capacity}) end`,
      desc(nodes.available),
      asc(nodes.id),
    ],
    /** §12.1: nodes of the service that can take a user now. */
    openNodes: (service: number) =>
      and(
        eq(nodes.service, service),
        sql`${nodes.available} > 0 and ${nodes.capacity} > ${nodes.currentLoad}`,
        eq(nodes.downed, 0),
        eq(nodes.backoff, 0),
      ),
    /** §12.1 step 2: full nodes that are up (backoff ones too) get capacity back. */
    fullNodes: (service: number) =>
      and(eq(nodes.service, service), sql`${nodes.available} <= 0 and ${nodes.capacity} > ${nodes.currentLoad}`, eq(nodes.downed, 0)),
  }
}

/** A `nodes` row with its 0/1 flags as booleans. */
export const toNodeRecord = <Row extends { downed: number; backoff: number }>(row: Row): Omit<Row, 'downed' | 'backoff'> & Pick<NodeRecord, 'downed' | 'backoff'> => ({
  ...row,
  downed: row.downed !== 0,
  backoff: row.backoff !== 0,
})

/** The flags of a new node as the 0/1 integers the table holds. */
export const nodeRow = <Node extends { downed: boolean; backoff: boolean }>(node: Node) => ({
  ...node,
  downed: Number(node.downed),
  backoff: Number(node.backoff),
})

/** The columns updateNode sets: the counts as given, flags as 0/1; empty when nothing changes. */
export function nodeChangeSet(changes: NodeChanges) {
  const { downed, backoff, ...counts } = changes
  return {
    ...counts,
    ...(downed === undefined ? {} : { downed: Number(downed) }),
    ...(backoff === undefined ? {} : { backoff: Number(backoff) }),
  }
}

/** The `users` row inserted for a new user on a node. */
export const userRow = (values: UserValues & { nodeId: number }) => ({
  service: values.service,
  email: values.email,
  generation: values.generation,
  clientState: values.clientState,
  createdAt: values.createdAt,
  replacedAt: null,
  nodeid: values.nodeId,
  keysChangedAt: values.keysChangedAt,
})

/** What allocateUser returns once the row is in. */
export const allocatedUser = (values: UserValues, node: { id: number; node: string }, uid: number): UserRecord => ({
  ...values,
  uid,
  nodeId: node.id,
  node: node.node,
  replacedAt: null,
})

/**
 * §12.1: pick the best open node; when there is none, release capacity on the full ones and
 * try again, up to NODE_SELECTION_ROUNDS times. Undefined when nothing could be released or the
 * rounds ran out. Synchronous when `pick` and `release` are.
 */
export function chooseNode<Node>(pick: () => Node | undefined, release: () => number): Node | undefined
export function chooseNode<Node>(pick: () => Promise<Node | undefined>, release: () => Promise<number>): Promise<Node | undefined>
export function chooseNode<Node>(pick: () => Step<Node | undefined>, release: () => Step<number>): Step<Node | undefined> {
  const round = (done: number): Step<Node | undefined> =>
    done === NODE_SELECTION_ROUNDS
      ? undefined
      : then(pick(), (found) =>
          found !== undefined ? found : then(release(), (released) => (released === 0 ? undefined : round(done + 1))),
        )
  return round(0)
}
