import { SYNC_SERVICE, type TokenserverDb } from '../db/tokenserver-types.ts'
import type { TokenserverSettings } from './settings.ts'

/** What {@link bootstrapTokenserver} did, for the caller to log. */
export type InitNodeOutcome =
  | { action: 'none' }
  | { action: 'present'; node: string }
  | { action: 'inserted'; node: string; capacity: number }
  | { action: 'moved'; from: string; to: string; id: number }

/**
 * At start, makes sure the init node (`init_node_url`, else `public_url`) exists for
 * `sync-1.5` with `available = capacity` (tokenserver.md §12.4). Ours beyond the reference: when
 * the service has exactly one node under another URL, that node is moved to the new URL in
 * place, so a changed public URL keeps every user's uid (and therefore their data).
 * @throws Error when the `sync-1.5` service row is missing (migrations not applied).
 */
export async function bootstrapTokenserver(
  db: TokenserverDb,
  settings: Pick<TokenserverSettings, 'initNodeUrl' | 'config'>,
): Promise<InitNodeOutcome> {
  const url = settings.initNodeUrl
  const capacity = settings.config.init_node_capacity
  if (url === undefined) return { action: 'none' }
  const service = await db.serviceId(SYNC_SERVICE)
  if (service === null) throw new Error(`the tokenserver database has no "${SYNC_SERVICE}" service; apply its migrations`)
  const existing = await db.listNodes(service)
  if (existing.some((node) => node.node === url)) return { action: 'present', node: url }
  const [only] = existing
  if (only !== undefined && existing.length === 1) {
    await db.updateNode(only.id, { node: url })
    return { action: 'moved', from: only.node, to: url, id: only.id }
  }
  const node = { service, node: url, available: capacity, currentLoad: 0, capacity, downed: false, backoff: false }
  const inserted = await db.insertNode(node)
  return inserted === null ? { action: 'present', node: url } : { action: 'inserted', node: url, capacity }
}
