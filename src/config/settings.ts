import { TOKENSERVER_NOT_ON_SPANNER } from '../db/spanner/settings.ts'
import { parseDatabaseUrl, type DatabaseLocation } from '../db/url.ts'
import { createParentDirectory } from '../parent-directory.ts'
import { randomBytes } from '../random.ts'
import { envName } from './known-settings.ts'
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
  /**
   * Where the master secret came from, for the start-up message (never the secret itself);
   * `unneeded` when the command does not use it (migrate, admin commands) and none is set.
   */
  masterSecretSource: 'configured' | 'generated' | 'stored' | 'unneeded'
  /** The absolute path of the file that keeps a generated secret, when one does. */
  masterSecretFile?: string
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
export async function resolveSettings(raw: RawSettings, options: { secret?: SecretNeed } = {}): Promise<Settings> {
  refuseShortSecrets(raw)
  const storageLocation = databaseLocation('syncstorage.database_url', raw.syncstorage.database_url)
  if (raw.tokenserver.database_url) databaseLocation('tokenserver.database_url', raw.tokenserver.database_url)
  const publicUrl = raw.public_url ?? derivedPublicUrl(raw.host, raw.port)
  const secret = await resolveMasterSecret(raw, storageLocation, options.secret ?? 'create')
  // Spanner deployments keep the tokenserver's tables in a SQL database (spanner.md §7).
  if (storageLocation.engine === 'spanner' && raw.tokenserver.enabled && raw.tokenserver.database_url === '') {
    throw new ConfigError(TOKENSERVER_NOT_ON_SPANNER)
  }
  return {
    ...raw,
    master_secret: secret.value,
    masterSecretSource: secret.source,
    ...(secret.file === undefined ? {} : { masterSecretFile: secret.file }),
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

/**
 * What a command needs of the master secret: `create` (serve: read or generate it), `read`
 * (report it without writing anything), `none` (migrate and admin commands never use it).
 */
export type SecretNeed = 'create' | 'read' | 'none'

/** Where a generated master secret is kept: beside the SQLite database it belongs to. */
export const secretFileOf = (databasePath: string): string => `${databasePath}.secret`

/**
 * The URL a client reaches a server bound to `host:port` at, when no public_url is set. A
 * wildcard bind address is not something a client can reach; the loopback is named instead.
 */
export function derivedPublicUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`
}

function databaseLocation(setting: string, url: string): DatabaseLocation {
  try {
    return parseDatabaseUrl(url)
  } catch (error) {
    throw new ConfigError(`invalid setting ${setting} (${envName(setting.split('.'))}): ${(error as Error).message}`)
  }
}

interface ResolvedSecret {
  value: string
  source: Settings['masterSecretSource']
  file?: string
}

async function resolveMasterSecret(raw: RawSettings, storage: DatabaseLocation, need: SecretNeed): Promise<ResolvedSecret> {
  if (raw.master_secret !== undefined) return { value: raw.master_secret, source: 'configured' }
  if (need === 'none') return { value: '', source: 'unneeded' }
  if (storage.engine !== 'sqlite') {
    // Several processes share one SQL database; each must use the same secret, so it is required.
    throw new ConfigError(
      'invalid setting master_secret (SYNC_MASTER_SECRET): required unless the storage database is SQLite; ' +
        'generate one with `openssl rand -hex 32` and give every server process the same value',
    )
  }
  if (storage.path === ':memory:') return { value: randomSecret(), source: 'generated' }
  const file = secretFileOf(storage.path)
  const secret = await secretFromFile(file, need)
  if (secret.source === 'stored' && need === 'create') {
    refuseShortSecret(`the master secret in ${file}`, secret.value, `delete ${file} for a new one to be generated, or write`)
  }
  return secret
}

async function secretFromFile(file: string, need: SecretNeed): Promise<ResolvedSecret> {
  try {
    const stored = Bun.file(file)
    if (await stored.exists()) return { value: (await stored.text()).trim(), source: 'stored', file }
    if (need === 'read') return { value: '', source: 'generated', file }
    return { value: await createSecretFile(file), source: 'generated', file }
  } catch (error) {
    throw new ConfigError(secretFileProblem(file, error))
  }
}

function secretFileProblem(file: string, error: unknown): string {
  const code = (error as { code?: string }).code
  const reason = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOENT' ? 'its folder cannot be created' : (error as Error).message
  const uid = process.getuid?.()
  return (
    `cannot read or create the master secret file ${file} (master_secret, kept beside the SQLite database): ${reason}. ` +
    `Fix: let ${uid === undefined ? 'this user' : `uid ${uid}`} read and write ${file.slice(0, file.lastIndexOf('/')) || '/'} ` +
    `(e.g. chown ${uid ?? '$(id -u)'} on it), or set master_secret (SYNC_MASTER_SECRET) yourself`
  )
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

/** 32 characters: 128 random bits written in hex. */
const MIN_SECRET_LENGTH = 32

/**
 * Every token carries an HMAC keyed from the master secret, so anyone who holds one token can
 * test guesses of the secret offline: a short one is refused. Only tokens derive from it and
 * they live an hour, so replacing it loses nothing: Firefox fetches a new token.
 */
function refuseShortSecrets(raw: RawSettings): void {
  if (raw.master_secret !== undefined) refuseShortSecret('setting master_secret (SYNC_MASTER_SECRET)', raw.master_secret, 'set it to')
  for (const previous of raw.previous_master_secrets) {
    refuseShortSecret('a secret in previous_master_secrets (SYNC_PREVIOUS_MASTER_SECRETS)', previous, 'remove it (Firefox replaces the tokens it signed); secrets need')
  }
}

function refuseShortSecret(what: string, secret: string, fix: string): void {
  if (secret.length >= MIN_SECRET_LENGTH) return
  throw new ConfigError(
    `${what} has ${secret.length} characters, too few to be safe (anyone holding a token can guess it offline). ` +
      `Fix: ${fix} at least ${MIN_SECRET_LENGTH} random characters, e.g. the output of \`openssl rand -hex 32\`; ` +
      'this loses no data: Firefox just fetches a new token',
  )
}

const SYSTEM_FOLDER = /^(var|srv|opt|home|data|tmp|etc|usr|mnt|media|root)\//

/**
 * Settings that load but are probably not what the operator meant; each message says what the
 * server will actually do and how to say the other thing.
 */
export function settingWarnings(raw: RawSettings, cwd = process.cwd()): string[] {
  const warnings: string[] = []
  for (const setting of ['syncstorage', 'tokenserver'] as const) {
    const url = raw[setting].database_url
    const relative = /^sqlite:\/\/\/(?!\/)(.*)$/i.exec(url)?.[1]
    if (relative !== undefined && SYSTEM_FOLDER.test(relative)) {
      const location = parseDatabaseUrl(url, cwd) as { path: string }
      warnings.push(
        `${setting}.database_url ${url} is a path relative to the working folder: the database is ${location.path}. ` +
          `For /${relative} write sqlite:////${relative} (four slashes), as in syncstorage-rs`,
      )
    }
  }
  if (raw.public_url === undefined && (raw.host === '0.0.0.0' || raw.host === '::')) {
    warnings.push(
      `host is ${raw.host} but public_url is not set: Firefox is told ${derivedPublicUrl(raw.host, raw.port)}, which ` +
        'only this machine can reach; set public_url (SYNC_PUBLIC_URL) to the URL other machines use, e.g. https://sync.example.com',
    )
  }
  return warnings
}
