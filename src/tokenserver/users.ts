import {
  RETIRED_GENERATION,
  type NodePolicy,
  type TokenserverDb,
  type UserRecord,
  type UserValues,
} from '../db/tokenserver-types.ts'
import { SyncError } from '../errors.ts'

/** What a token request says about the account, after verification and X-KeyID (§4.3, §5). */
export interface AccountClaims {
  /** `<fxa_uid>@<fxa_email_domain>`. */
  email: string
  /** null when absent or 0. */
  generation: bigint | null
  /** null when absent or 0. */
  keysChangedAt: bigint | null
  /** Lowercase hex; may be ''. */
  clientState: string
}

export interface AssignmentPolicy {
  allowNewUsers: boolean
  nodes: NodePolicy
}

export interface AssignmentRequest {
  service: number
  claims: AccountClaims
  policy: AssignmentPolicy
  /** Milliseconds, read at each write. */
  now: () => bigint
}

/** The user the token is for, with the values the request left in the database. */
export interface Assignment {
  uid: number
  node: string
  generation: bigint
  keysChangedAt: bigint | null
  clientState: string
  /** created_at of the user's oldest row among the 20 looked at (logged as first_seen_at). */
  firstSeenAt: bigint
}

type LiveUser = UserRecord & { node: string }

/** The user row a request matched (§8) and what its history forbids. */
export interface MatchedUser {
  user: LiveUser
  oldClientStates: ReadonlySet<string>
  firstSeenAt: bigint
}

/**
 * §8 then §9: finds or creates the user's row, refuses claims that go backwards, and moves the
 * row forward (or replaces it on a client-state change).
 */
export async function assignUser(db: TokenserverDb, request: AssignmentRequest): Promise<Assignment> {
  const matched = await getOrCreateUser(db, request)
  validateClaims(request.claims, matched)
  return { ...(await updateUser(db, request, matched.user)), firstSeenAt: matched.firstSeenAt }
}

/** §8 `get_or_create_user`. */
export async function getOrCreateUser(db: TokenserverDb, request: AssignmentRequest): Promise<MatchedUser> {
  const { service, claims, policy } = request
  const rows = await db.getUsers({ service, email: claims.email })
  const [current, ...others] = currentFirst(rows)
  if (current === undefined) {
    if (!policy.allowNewUsers) throw new SyncError('newUsersDisabled', 'new users are not allowed')
    const user = await allocate(db, request, {
      generation: claims.generation ?? 0n,
      clientState: claims.clientState,
      keysChangedAt: claims.keysChangedAt,
    })
    return { user, oldClientStates: new Set(), firstSeenAt: user.createdAt }
  }
  // Rows left current by a race are retired as of the current row's creation.
  for (const row of others) {
    if (row.replacedAt === null) await db.replaceUser({ service, uid: row.uid, replacedAt: current.createdAt })
  }
  return {
    user: await liveUser(db, request, current),
    oldClientStates: new Set(others.map((row) => row.clientState).filter((state) => state !== current.clientState)),
    firstSeenAt: (others.at(-1) ?? current).createdAt,
  }
}

/**
 * Highest generation first, then newest; a stable sort, so rows tying on both keep the query's
 * `uid DESC` order.
 */
function currentFirst(rows: readonly UserRecord[]): UserRecord[] {
  return [...rows].sort((a, b) => descending(a.generation, b.generation) || descending(a.createdAt, b.createdAt))
}

const descending = (a: bigint, b: bigint): number => (a > b ? -1 : a < b ? 1 : 0)

/** A replaced row, or one whose node is gone, is followed by a fresh row with its values. */
async function liveUser(db: TokenserverDb, request: AssignmentRequest, current: UserRecord): Promise<LiveUser> {
  const usable = current.replacedAt === null && hasNode(current)
  if (!usable && current.generation < RETIRED_GENERATION) return allocate(db, request, current)
  if (hasNode(current)) return current
  throw new SyncError('tokenInternal', 'retired user has no node')
}

const hasNode = (row: UserRecord): row is LiveUser => row.node !== null

async function allocate(
  db: TokenserverDb,
  request: AssignmentRequest,
  values: Pick<UserValues, 'generation' | 'clientState' | 'keysChangedAt'>,
): Promise<LiveUser> {
  const user = await db.allocateUser(
    {
      service: request.service,
      email: request.claims.email,
      generation: values.generation,
      clientState: values.clientState,
      keysChangedAt: values.keysChangedAt,
      createdAt: request.now(),
    },
    request.policy.nodes,
  )
  if (!hasNode(user)) throw new SyncError('noNodeAvailable', 'allocated user has no node')
  return user
}

// Comparisons of §9: false whenever a side is absent.
const gt = (a: bigint | null, b: bigint | null): boolean => a !== null && b !== null && a > b
const lt = (a: bigint | null, b: bigint | null): boolean => gt(b, a)
const le = (a: bigint | null, b: bigint | null): boolean => a !== null && b !== null && a <= b

/** §9.1: the first rule a request breaks, in the reference's order. */
export function validateClaims(claims: AccountClaims, matched: MatchedUser): void {
  const { user } = matched
  const stateChanged = claims.clientState !== user.clientState
  if (gt(claims.keysChangedAt, user.keysChangedAt) && lt(claims.generation, claims.keysChangedAt)) {
    throw new SyncError('invalidKeysChangedAt', 'keys_changed_at ahead of generation')
  }
  if (user.clientState !== '' && claims.clientState === '') throw unacceptableClientState('empty string')
  if (matched.oldClientStates.has(claims.clientState)) throw unacceptableClientState('stale value')
  if (stateChanged && le(claims.generation, user.generation)) {
    throw unacceptableClientState('new value with no generation change')
  }
  if (stateChanged && le(claims.keysChangedAt, user.keysChangedAt)) {
    throw unacceptableClientState('new value with no keys_changed_at change')
  }
  if (gt(user.generation, claims.generation)) throw new SyncError('invalidGeneration', 'generation went backwards')
  if (gt(user.keysChangedAt, claims.keysChangedAt)) {
    throw new SyncError('invalidKeysChangedAt', 'keys_changed_at went backwards')
  }
  // Once a client has sent keys_changed_at it may not stop: a missing one would read as "any key".
  if (claims.keysChangedAt === null && user.keysChangedAt !== null && user.keysChangedAt !== 0n) {
    throw new SyncError('invalidKeysChangedAt', 'keys_changed_at missing')
  }
}

function unacceptableClientState(reason: string): SyncError {
  return new SyncError('invalidClientState', `client state: ${reason}`, {
    location: 'header',
    name: 'X-Client-State',
    description: `Unacceptable client-state value ${reason}`,
  })
}

/** §9.2: the values the user moves to. */
export function nextValues(claims: AccountClaims, user: UserRecord): { generation: bigint; keysChangedAt: bigint | null } {
  // Validation leaves a stored keys_changed_at of only null or 0 when the request has none.
  const keysChangedAt = claims.keysChangedAt ?? user.keysChangedAt
  const requestKca = claims.keysChangedAt
  const kcaRaisesGeneration =
    requestKca !== null && requestKca > user.generation && (user.keysChangedAt === null || requestKca > user.keysChangedAt)
  const generation = claims.generation ?? (kcaRaisesGeneration ? requestKca : user.generation)
  return { generation, keysChangedAt }
}

/** §9.3: a new client state gets a new row (new uid) on the same node; otherwise the row moves in place. */
async function updateUser(
  db: TokenserverDb,
  request: AssignmentRequest,
  user: LiveUser,
): Promise<Omit<Assignment, 'firstSeenAt'>> {
  const { service, claims } = request
  const values = nextValues(claims, user)
  const assignment = { uid: user.uid, node: user.node, clientState: claims.clientState, ...values }
  if (claims.clientState !== user.clientState) {
    const createdAt = request.now()
    const nodeId = request.policy.nodes.spannerNodeId ?? (await db.nodeId({ service, node: user.node }))
    if (nodeId === null) throw new SyncError('noNodeAvailable', `node ${user.node} is gone`)
    const uid = await db.insertUser({ service, email: claims.email, clientState: claims.clientState, createdAt, nodeId, ...values })
    await db.replaceUsers({ service, email: claims.email, replacedAt: createdAt })
    return { ...assignment, uid }
  }
  if (values.generation !== user.generation || values.keysChangedAt !== user.keysChangedAt) {
    await db.updateUser({ service, email: claims.email, ...values })
  }
  return assignment
}
