import { parseDatabaseUrl } from '../db/url.ts'
import { createParentDirectory } from '../parent-directory.ts'
import { randomBytes } from '../random.ts'
import { ConfigError } from './load.ts'
import type { RawSettings } from './schema.ts'

type TokenserverSettings = RawSettings['tokenserver']

/** Settings with every derived default filled in: what the server runs with. */
export interface Settings extends Omit<RawSettings, 'master_secret' | 'public_url' | 'tokenserver'> {
  master_secret: string
  public_url: string
  tokenserver: Omit<TokenserverSettings, 'node_type' | 'init_node_url'> & {
    node_type: NonNullable<TokenserverSettings['node_type']>
    init_node_url: string
  }
  /** Where the master secret came from, for the start-up message (never the secret itself). */
  masterSecretSource: 'configured' | 'generated' | 'stored'
  /**
   * Whether the operator named the node URL (`init_node_url` or `public_url`); a URL derived
   * from the bind address only seeds an empty nodes table.
   */
  initNodeConfigured: boolean
}

/**
 * Fills in what the reference requires an operator to type: the tokenserver database defaults
 * to the storage one, the node URL to the server's public URL, and on SQLite a master secret is
 * generated once and kept in a file beside the database.
 */
export async function resolveSettings(raw: RawSettings): Promise<Settings> {
  const storageLocation = parseDatabaseUrl(raw.syncstorage.database_url)
  const publicUrl = raw.public_url ?? `http://${displayHost(raw.host)}:${raw.port}`
  const secret = await resolveMasterSecret(raw, storageLocation)
  return {
    ...raw,
    master_secret: secret.value,
    masterSecretSource: secret.source,
    initNodeConfigured: raw.tokenserver.init_node_url !== undefined || raw.public_url !== undefined,
    public_url: publicUrl,
    syncstorage: raw.syncstorage,
    tokenserver: {
      ...raw.tokenserver,
      database_url: raw.tokenserver.database_url || raw.syncstorage.database_url,
      node_type: raw.tokenserver.node_type ?? storageLocation.engine,
      init_node_url: raw.tokenserver.init_node_url ?? publicUrl,
    },
  }
}

// A wildcard bind address is not something a client can reach; name the loopback instead.
const displayHost = (host: string) => (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host)

/** Where a generated master secret is kept: beside the SQLite database it belongs to. */
export const secretFileOf = (databasePath: string): string => `${databasePath}.secret`

async function resolveMasterSecret(
  raw: RawSettings,
  storage: ReturnType<typeof parseDatabaseUrl>,
): Promise<{ value: string; source: Settings['masterSecretSource'] }> {
  if (raw.master_secret !== undefined) return { value: raw.master_secret, source: 'configured' }
  if (storage.engine !== 'sqlite') {
    // Several processes share one SQL database; each must use the same secret, so it is required.
    throw new ConfigError('invalid setting master_secret (SYNC_MASTER_SECRET): required unless the storage database is SQLite')
  }
  if (storage.path === ':memory:') return { value: randomSecret(), source: 'generated' }
  const file = secretFileOf(storage.path)
  const stored = Bun.file(file)
  if (await stored.exists()) return { value: (await stored.text()).trim(), source: 'stored' }
  return { value: await createSecretFile(file), source: 'generated' }
}

/**
 * Writes a new secret that only its owner may read; `wx` fails rather than replace a secret
 * another process has just written. Bun's file API cannot create a file exclusively, so node:fs
 * is loaded for this, on a database's first start only (its sync half: node:fs/promises costs
 * more memory).
 */
async function createSecretFile(file: string): Promise<string> {
  const { chmodSync, writeFileSync } = await import('node:fs')
  const value = randomSecret()
  createParentDirectory(file)
  writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' })
  chmodSync(file, 0o600)
  return value
}

const randomSecret = () => randomBytes(32).toString('hex')
