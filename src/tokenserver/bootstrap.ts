import { SYNC_SERVICE, type TokenserverDb } from '../db/tokenserver-types.ts'

/** The node a server ensures at start. */
export interface InitNode {
  url: string
  capacity: number
  /**
   * The operator named this URL (`init_node_url` or `public_url`). A derived default (the bind
   * address) only seeds an empty table: nodes someone added by hand are left alone.
   */
  configured: boolean
}

/** What {@link bootstrapTokenserver} did, for the caller to log. */
export type InitNodeOutcome =
  | { action: 'present'; node: string }
  | { action: 'inserted'; node: string; capacity: number }
  | { action: 'moved'; from: string; to: string; id: number }
  /** The server's URL is none of the nodes and moving one is not ours to decide: say how. */
  | { action: 'left-alone'; node: string; nodes: string[] }

/**
 * At start, makes sure the init node exists for `sync-1.5` with `available = capacity`
 * (tokenserver.md §12.4). Ours beyond the reference: when the service has exactly one node
 * under another URL, and that node is this server's (the URL was configured, or the node's URL
 * is one a server derived from its bind address), it is moved to the new URL in place, so a
 * changed address keeps every user's uid (and therefore their data).
 * @throws Error when the `sync-1.5` service row is missing (migrations not applied).
 */
export async function bootstrapTokenserver(db: TokenserverDb, initNode: InitNode): Promise<InitNodeOutcome> {
  const { url, capacity } = initNode
  const service = await db.serviceId(SYNC_SERVICE)
  if (service === null) throw new Error(`the tokenserver database has no "${SYNC_SERVICE}" service; apply its migrations`)
  const existing = await db.listNodes(service)
  if (existing.some((node) => node.node === url)) return { action: 'present', node: url }
  const [only] = existing
  if (only !== undefined && existing.length === 1 && (initNode.configured || looksDerived(only.node))) {
    await db.updateNode(only.id, { node: url })
    return { action: 'moved', from: only.node, to: url, id: only.id }
  }
  if (!initNode.configured && existing.length > 0) return { action: 'left-alone', node: url, nodes: existing.map((n) => n.node) }
  const node = { service, node: url, available: capacity, currentLoad: 0, capacity, downed: false, backoff: false }
  const inserted = await db.insertNode(node)
  return inserted === null ? { action: 'present', node: url } : { action: 'inserted', node: url, capacity }
}

/**
 * A URL of the form a server derives from its bind address (`http://<host>:<port>`, no path):
 * what this server registered when no public_url was set. A node an operator added by hand
 * (`https://sync.example.com`) has another form and is never moved without being named.
 */
function looksDerived(url: string): boolean {
  const parsed = URL.parse(url)
  return parsed !== null && parsed.protocol === 'http:' && parsed.port !== '' && (parsed.pathname === '/' || parsed.pathname === '')
}
