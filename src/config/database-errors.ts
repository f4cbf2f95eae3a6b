import { redact } from '../db/url.ts'
import { envName } from './known-settings.ts'
import { ConfigError } from './load.ts'

export type DatabaseSetting = 'syncstorage.database_url' | 'tokenserver.database_url'

/**
 * Runs `open` (connect, migrate) and turns a failure into a ConfigError that names the setting,
 * the database (password hidden, SQLite as an absolute path) and what to do about it.
 */
export async function openingDatabase<T>(setting: DatabaseSetting, url: string, open: () => Promise<T>): Promise<T> {
  try {
    return await open()
  } catch (error) {
    throw explainDatabaseError(setting, url, error)
  }
}

export function explainDatabaseError(setting: DatabaseSetting, url: string, error: unknown): Error {
  if (error instanceof ConfigError) return error
  const message = error instanceof Error ? error.message : String(error)
  const fix = fixFor(url, error as { code?: string; errno?: number }, message)
  const what = setting === 'syncstorage.database_url' ? 'storage database' : 'tokenserver database'
  return new ConfigError(
    `cannot open the ${what} ${describe(url)} (setting ${setting}, ${envName(setting.split('.'))}): ${message}${fix ? `. Fix: ${fix}` : ''}`,
  )
}

function describe(url: string): string {
  const path = sqlitePathOf(url)
  return path === undefined ? redact(url) : `${redact(url)} = file ${path}`
}

function sqlitePathOf(url: string): string | undefined {
  if (!/^sqlite:/i.test(url)) return undefined
  const rest = url.slice('sqlite:'.length)
  const cleaned = rest.startsWith('//') ? rest.slice(3) : rest
  if (cleaned === ':memory:') return undefined
  return cleaned.startsWith('/') ? cleaned : `${process.cwd()}/${cleaned}`
}

function fixFor(url: string, error: { code?: string; errno?: number }, message: string): string | undefined {
  const parsed = URL.parse(url)
  const database = parsed?.pathname.replace(/^\//, '') || '(none)'
  const user = decodeURIComponent(parsed?.username ?? '') || '(none)'
  const server = parsed ? `${parsed.hostname}:${parsed.port || (/^mysql|^mariadb/i.test(url) ? 3306 : 5432)}` : ''
  switch (error.code) {
    case '3D000':
      return `create it: createdb -h ${parsed?.hostname || '127.0.0.1'} -U ${user === '(none)' ? 'postgres' : user} ${database} (or correct the database name in the URL)`
    case 'ER_BAD_DB_ERROR':
      return `create it: mysql -h ${parsed?.hostname || '127.0.0.1'} -u root -e "CREATE DATABASE ${database}" (or correct the database name in the URL)`
    case '28000':
    case '28P01':
      return `the user ${user} cannot sign in: create it (createuser -h ${parsed?.hostname || '127.0.0.1'} ${user}), or put an existing user and its password in the URL (postgres://user:password@host/db)`
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR':
      return `the user ${user} cannot sign in: put an existing user and its password in the URL (mysql://user:password@host/db) and GRANT it access to ${database}`
    case 'ECONNREFUSED':
      return `nothing accepts connections at ${server}: start the database server, or correct the host and port in the URL`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host ${parsed?.hostname} is unknown: correct the host in the URL`
    case 'ETIMEDOUT':
      return `no answer from ${server}: check the host, the port and any firewall in between`
    case 'EACCES':
    case 'EPERM':
      return `let uid ${process.getuid?.() ?? '?'} write ${folderOf(url)} (the SQLite file, its -wal/-shm/-lockwait files and the secret live there)`
    case 'ENOENT':
    case 'EEXIST':
    case 'ENOTDIR':
      return `${folderOf(url)} cannot be a folder here: choose a path in an existing, writable folder`
  }
  if (/unable to open database file/i.test(message)) {
    return `check that ${folderOf(url)} exists and uid ${process.getuid?.() ?? '?'} may write there`
  }
  return undefined
}

function folderOf(url: string): string {
  const path = sqlitePathOf(url) ?? url
  return path.slice(0, path.lastIndexOf('/')) || '/'
}
