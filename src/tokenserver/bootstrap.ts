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
  | { action: 'left-alone'; nodes: number }

/**
 * At start, makes sure the init node exists for `sync-1.5` with `available = capacity`
 * (tokenserver.md §12.4). Ours beyond the reference: when the service has exactly one node
 * under another URL, that node is moved to the configured URL in place, so a changed public URL
 * keeps every user's uid (and therefore their data).
 * @throws Error when the `sync-1.5` service row is missing (migrations not applied).
 */
export async function bootstrapTokenserver(db: TokenserverDb, initNode: InitNode): Promise<InitNodeOutcome> {
  const { url, capacity } = initNode
  const service = await db.serviceId(SYNC_SERVICE)
  if (service === null) throw new Error(`the tokenserver database has no "${SYNC_SERVICE}" service; apply its migrations`)
  const existing = await db.listNodes(service)
  if (existing.some((node) => node.node === url)) return { action: 'present', node: url }
  if (!initNode.configured && existing.length > 0) return { action: 'left-alone', nodes: existing.length }
  const [only] = existing
  if (only !== undefined && existing.length === 1) {
    await db.updateNode(only.id, { node: url })
    return { action: 'moved', from: only.node, to: url, id: only.id }
  }
  const node = { service, node: url, available: capacity, currentLoad: 0, capacity, downed: false, backoff: false }
  const inserted = await db.insertNode(node)
  return inserted === null ? { action: 'present', node: url } : { action: 'inserted', node: url, capacity }
}
