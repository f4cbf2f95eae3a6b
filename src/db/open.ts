import type { MigrationReport } from './migrations/apply.ts'
import type { StorageBackend } from './types.ts'
import { parseDatabaseUrl, type DatabaseLocation } from './url.ts'

/**
 * The one place that picks an engine from a database URL. Drivers load lazily, so a server on
 * SQLite never pays for postgres.js, mysql2 or Spanner at start.
 */
export interface OpenStorageOptions {
  runMigrations: boolean
  /** Connections per process for server databases (`database_pool_max_size`, default 10). */
  poolMaxSize?: number
  /** Longest wait for a pooled connection before answering 503 (`database_pool_connection_timeout`, default 30). */
  connectionTimeoutSeconds?: number
}

const poolOptions = (options: OpenStorageOptions) => ({
  runMigrations: options.runMigrations,
  poolMaxSize: options.poolMaxSize ?? 10,
  connectionTimeoutSeconds: options.connectionTimeoutSeconds ?? 30,
})

export async function openStorage(url: string, options: OpenStorageOptions): Promise<StorageBackend> {
  const location = parseDatabaseUrl(url)
  switch (location.engine) {
    case 'sqlite':
      return (await import('./sqlite/open.ts')).openSqliteStorage(location.path, options)
    case 'postgres':
      return (await import('./postgres/open.ts')).openPostgresStorage(location.url, poolOptions(options))
    case 'mysql':
      return (await import('./mysql/open.ts')).openMysqlStorage(location.url, poolOptions(options))
    case 'spanner':
      throw notYetSupported(location)
  }
}

/** Applies the storage migrations; returns the tags it applied. */
export async function migrateStorage(url: string): Promise<MigrationReport> {
  const location = parseDatabaseUrl(url)
  switch (location.engine) {
    case 'sqlite':
      return (await import('./sqlite/open.ts')).migrateSqliteStorage(location.path)
    case 'postgres':
      return (await import('./postgres/open.ts')).migratePostgresStorage(location.url)
    case 'mysql':
      return (await import('./mysql/open.ts')).migrateMysqlStorage(location.url)
    case 'spanner':
      throw notYetSupported(location)
  }
}

function notYetSupported(location: DatabaseLocation): Error {
  return new Error(`the ${location.engine} storage backend is not implemented yet; use a sqlite:///, postgres:// or mysql:// URL`)
}
