import type { Settings } from '../config/settings.ts'
import { parseDatabaseUrl, redact } from '../db/url.ts'
import type { LogFields } from '../http/logger.ts'
import type { InitNodeOutcome } from '../tokenserver/bootstrap.ts'
import { VERSION } from '../version.ts'

/** The value Firefox's `identity.sync.tokenserver.uri` must have for this server. */
export const tokenserverUri = (settings: Pick<Settings, 'public_url'>) => `${settings.public_url}/1.0/sync/1.5`

/** A database as a person should read it: the engine, and a SQLite file as an absolute path. */
export function describeDatabase(url: string): string {
  const location = parseDatabaseUrl(url)
  switch (location.engine) {
    case 'sqlite':
      return location.path === ':memory:' ? 'SQLite in memory (lost at exit)' : `SQLite file ${location.path}`
    case 'postgres':
      return `PostgreSQL ${redact(url)}`
    case 'mysql':
      return `MySQL ${redact(url)}`
    case 'spanner':
      return `Spanner ${location.database}`
  }
}

function describeSecret(settings: Settings): string {
  const file = settings.masterSecretFile
  switch (settings.masterSecretSource) {
    case 'configured':
      return 'from the settings (master_secret)'
    case 'generated':
      return file ? `${file} (generated now; back it up with the database)` : 'generated, in memory only (lost at exit)'
    case 'stored':
      return `${file} (kept beside the database)`
    case 'unneeded':
      return 'not used'
  }
}

function describeNode(node: InitNodeOutcome | undefined, settings: Settings): string {
  if (!settings.syncstorage.enabled) return 'none (syncstorage.enabled = false: this server hands out tokens for other storage servers)'
  switch (node?.action) {
    case undefined:
      return 'not registered (the tokenserver is disabled)'
    case 'present':
      return `${node.node} (registered)`
    case 'inserted':
      return `${node.node} (registered now, capacity ${node.capacity})`
    case 'moved':
      return `${node.to} (moved from ${node.from}; users keep their data)`
    case 'left-alone':
      return `NOT ${node.node}: the tokenserver knows only ${node.nodes.join(', ')}`
  }
}

/** What a person needs when the server has started, and the same facts as log fields. */
export function startBanner(settings: Settings, listening: string, node: InitNodeOutcome | undefined): { lines: string[]; fields: LogFields } {
  const storage = settings.syncstorage.enabled ? describeDatabase(settings.syncstorage.database_url) : 'disabled'
  const tokenserver = !settings.tokenserver.enabled
    ? 'disabled'
    : settings.tokenserver.database_url === settings.syncstorage.database_url && settings.syncstorage.enabled
      ? 'in the storage database'
      : describeDatabase(settings.tokenserver.database_url)
  const lines = [
    `syncserver ${VERSION} is listening on ${listening}`,
    `  storage      ${storage}`,
    `  tokenserver  ${tokenserver}`,
    `  secret       ${describeSecret(settings)}`,
    `  node         ${describeNode(node, settings)}`,
    '',
  ]
  if (settings.tokenserver.enabled) {
    lines.push(
      'To sync Firefox with this server, before signing in to Sync:',
      `  desktop: about:config → identity.sync.tokenserver.uri = ${tokenserverUri(settings)}`,
      `  Android and details: open ${settings.public_url}/ in a browser`,
    )
  }
  if (isLoopback(settings.public_url)) {
    lines.push(
      `Only this machine can reach ${settings.public_url}. For other devices: --host 0.0.0.0 and --public-url with the`,
      '  address they use (behind a reverse proxy: the proxy\'s https:// URL).',
    )
  }
  lines.push('Check the setup: syncserver doctor · all commands: syncserver --help · stop: Ctrl-C', '')
  const fields: LogFields = {
    text: lines[0],
    url: listening,
    public_url: settings.public_url,
    storage,
    tokenserver,
    master_secret: settings.masterSecretSource,
    master_secret_file: settings.masterSecretFile,
    node: describeNode(node, settings),
    firefox_setting: settings.tokenserver.enabled ? `identity.sync.tokenserver.uri = ${tokenserverUri(settings)}` : undefined,
  }
  return { lines, fields }
}

/** The loud warning for a node the server did not move, with the command that would. */
export function nodeWarning(node: InitNodeOutcome | undefined): string | undefined {
  if (node?.action !== 'left-alone') return undefined
  const commands = node.nodes.map((old) => `syncserver nodes update ${old} --move-to ${node.node}`)
  return (
    `Firefox will NOT reach this server: the tokenserver sends users to ${node.nodes.join(', ')}, not to ${node.node}. ` +
    `If this server moved, run: ${commands.join('  or  ')} (users keep their data); ` +
    'or set public_url to the URL of the node it should serve'
  )
}

function isLoopback(url: string): boolean {
  const host = URL.parse(url)?.hostname ?? ''
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]'
}
