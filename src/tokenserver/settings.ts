import type { RawSettings } from '../config/schema.ts'
import { parseDatabaseUrl } from '../db/url.ts'

export type TokenserverConfig = RawSettings['tokenserver']
export type NodeType = NonNullable<TokenserverConfig['node_type']>

/** What the tokenserver needs from the whole settings, with our defaults resolved. */
export interface TokenserverSettings {
  config: TokenserverConfig
  /** Signs tokens; the storage side verifies them with the same secret. */
  masterSecret: string
  /** Echoed as `node_type` (§10): the configured one, else the storage database's engine (ours). */
  nodeType: NodeType
  /** The node ensured at start: `init_node_url`, else `public_url` (ours); none when both are unset. */
  initNodeUrl: string | undefined
}

/**
 * @example
 * const settings = tokenserverSettings(await loadSettings(), masterSecret)
 */
export function tokenserverSettings(settings: RawSettings, masterSecret: string): TokenserverSettings {
  const config = settings.tokenserver
  return {
    config,
    masterSecret,
    nodeType: config.node_type ?? parseDatabaseUrl(settings.syncstorage.database_url).engine,
    initNodeUrl: config.init_node_url ?? settings.public_url,
  }
}
