import type { Engine, OpenOptions, StorageEngine, TokenserverEngine } from './engine.ts'
import type { MigrationReport } from './migrations/apply.ts'
import type { TokenserverDb } from './tokenserver-types.ts'
import type { StorageBackend } from './types.ts'
import { parseDatabaseUrl } from './url.ts'

export type OpenDatabaseOptions = Pick<OpenOptions, 'runMigrations'> & Partial<OpenOptions>

/** The SQL engines, by the engine a URL names; each loads its driver only when asked for. */
async function sqlEngineFor(url: string): Promise<{ engine: Engine; target: string } | undefined> {
  const location = parseDatabaseUrl(url)
  switch (location.engine) {
    case 'sqlite':
      return { engine: (await import('./sqlite/open.ts')).sqliteEngine, target: location.path }
    case 'postgres':
      return { engine: (await import('./postgres/open.ts')).postgresEngine, target: location.url }
    case 'mysql':
      return { engine: (await import('./mysql/open.ts')).mysqlEngine, target: location.url }
    case 'spanner':
      return undefined
  }
}

/**
 * The one place that picks a storage engine from a database URL. Drivers load lazily, so a
 * server on SQLite never pays for postgres.js, mysql2 or Spanner at start.
 */
async function storageEngineFor(url: string): Promise<{ engine: StorageEngine; target: string }> {
  const sql = await sqlEngineFor(url)
  if (sql !== undefined) return sql
  return { engine: (await import('./spanner/open.ts')).spannerEngine, target: url }
}

/** The tokenserver's tables live in a SQL engine only (Spanner deployments keep them in MySQL or PostgreSQL). */
async function tokenserverEngineFor(url: string): Promise<{ engine: TokenserverEngine; target: string }> {
  const sql = await sqlEngineFor(url)
  if (sql !== undefined) return sql
  throw new Error((await import('./spanner/settings.ts')).TOKENSERVER_NOT_ON_SPANNER)
}

const withPoolDefaults = (options: OpenDatabaseOptions): OpenOptions => ({
  poolMaxSize: 10,
  connectionTimeoutSeconds: 30,
  ...options,
})

export async function openStorage(url: string, options: OpenDatabaseOptions): Promise<StorageBackend> {
  const { engine, target } = await storageEngineFor(url)
  return engine.openStorage(target, withPoolDefaults(options))
}

/** Applies the storage migrations (adopting a syncstorage-rs schema); reports what it did. */
export async function migrateStorage(url: string, options: Pick<OpenOptions, 'spanner'> = {}): Promise<MigrationReport> {
  const { engine, target } = await storageEngineFor(url)
  return engine.migrateStorage(target, options)
}

export async function openTokenserverDb(url: string, options: OpenDatabaseOptions): Promise<TokenserverDb> {
  const { engine, target } = await tokenserverEngineFor(url)
  return engine.openTokenserver(target, withPoolDefaults(options))
}

/** Applies the tokenserver migrations (adopting a syncstorage-rs schema); reports what it did. */
export async function migrateTokenserverDb(url: string): Promise<MigrationReport> {
  const { engine, target } = await tokenserverEngineFor(url)
  return engine.migrateTokenserver(target)
}
