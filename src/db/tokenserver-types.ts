/**
 * The tokenserver database interface every backend implements (SQLite now, PostgreSQL and
 * MySQL later). It speaks in protocol terms: services, nodes, user rows and their
 * generation / keys_changed_at / client state (tokenserver.md §8, §9, §12). The tables are
 * shared with ops tooling (database.md §5), so backends never cache rows and every call commits
 * before it resolves.
 *
 * Columns that are 64-bit in the reference schema (generation, keys_changed_at, created_at,
 * replaced_at) are `bigint`: generation 9223372036854775807 marks a retired user and must
 * survive a round trip exactly (tokenserver.md §4.2).
 */

/** `generation` of a retired user (tokenserver.md §12.3). */
export const RETIRED_GENERATION = 9_223_372_036_854_775_807n

/** The one service this server issues tokens for (tokenserver.md §7). */
export const SYNC_SERVICE = 'sync-1.5'

/** A row of `users`, with the URL of its node (null when the node row is gone). */
export interface UserRecord {
  uid: number
  service: number
  /** `<fxa_uid>@<fxa_email_domain>`. */
  email: string
  /** 0 when never reported; RETIRED_GENERATION when retired. */
  generation: bigint
  /** Lowercase hex; may be ''. */
  clientState: string
  /** Milliseconds. */
  createdAt: bigint
  /** Milliseconds; null while the row is current. */
  replacedAt: bigint | null
  nodeId: number
  keysChangedAt: bigint | null
  /** The node's URL through a left join: null when `nodeid` matches no node. */
  node: string | null
}

/** A row of `nodes`. */
export interface NodeRecord {
  id: number
  service: number
  /** Origin URL, e.g. `https://sync-1.example.com`. */
  node: string
  available: number
  currentLoad: number
  capacity: number
  downed: boolean
  backoff: boolean
}

export type NewNode = Omit<NodeRecord, 'id'>

/** Node columns an operator may change; the URL only for the bootstrap's in-place move. */
export type NodeChanges = Partial<Pick<NodeRecord, 'node' | 'available' | 'currentLoad' | 'capacity' | 'downed' | 'backoff'>>

/** How a node is chosen for a new user (tokenserver.md §12). */
export interface NodePolicy {
  /** Fraction of capacity released when every node is full (`node_capacity_release_rate`). */
  releaseRate: number
  /** Spanner-node mode: every user goes to this `nodes.id`, whatever its flags (§12.2). */
  spannerNodeId?: number
}

/** The facts a user row is created with. */
export interface UserValues {
  service: number
  email: string
  generation: bigint
  clientState: string
  keysChangedAt: bigint | null
  createdAt: bigint
}

export interface UserKey {
  service: number
  email: string
}

export interface TokenserverDb {
  readonly engine: 'sqlite' | 'postgres' | 'mysql'

  /** The id of the `services` row with this name; null when there is none. */
  serviceId(name: string): Promise<number | null>

  /** Up to 20 rows of the user, newest first (`created_at DESC, uid DESC`), nodes left-joined. */
  getUsers(key: UserKey): Promise<UserRecord[]>

  /**
   * §8.1: picks the best node (§12, releasing capacity when all are full), adds one to its load
   * and inserts the row there.
   * @throws SyncError('noNodeAvailable') when no node can take the user.
   */
  allocateUser(values: UserValues, policy: NodePolicy): Promise<UserRecord>

  /** §9.3 client-state change: inserts a row on a known node without touching its load; returns the uid. */
  insertUser(values: UserValues & { nodeId: number }): Promise<number>

  /** Marks every current row of the user created before `replacedAt` as replaced at that time. */
  replaceUsers(key: UserKey & { replacedAt: bigint }): Promise<void>

  /** Marks one row replaced. */
  replaceUser(row: { service: number; uid: number; replacedAt: bigint }): Promise<void>

  /**
   * Moves the user's current rows forward in place, guarded so a value never goes backwards:
   * only rows with `generation <= new` and `COALESCE(keys_changed_at, 0) <= COALESCE(new, keys_changed_at, 0)`.
   */
  updateUser(key: UserKey & { generation: bigint; keysChangedAt: bigint | null }): Promise<void>

  /** FxA account deletion: current rows get RETIRED_GENERATION and `replaced_at` (§12.3). */
  retireUser(key: UserKey & { replacedAt: bigint }): Promise<void>

  /** FxA password change: raises `generation` of current rows that are at most `generation` (§13). */
  raiseGeneration(key: UserKey & { generation: bigint }): Promise<void>

  /** The id of the node with this URL in the service; null when there is none. */
  nodeId(node: { service: number; node: string }): Promise<number | null>

  /** Every node of the service, by id. */
  listNodes(service: number): Promise<NodeRecord[]>

  /** Inserts a node; null (and no change) when the service already has a node with that URL. */
  insertNode(node: NewNode): Promise<number | null>

  /** Changes a node; false when there is no node with that id. */
  updateNode(id: number, changes: NodeChanges): Promise<boolean>

  /** Deletes a node and unassigns its users (sets `replaced_at`); false when there was none. */
  removeNode(node: { id: number; replacedAt: bigint }): Promise<boolean>

  /** Every row of the service (or of one user), by email, newest first. */
  listUsers(query: { service: number; email?: string }): Promise<UserRecord[]>

  /** Heartbeat: a trivial query. */
  check(): Promise<boolean>

  close(): Promise<void>
}
