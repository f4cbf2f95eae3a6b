import type { MigrationReport } from './migrations/apply.ts'
import type { TokenserverDb } from './tokenserver-types.ts'
import { parseDatabaseUrl, type DatabaseLocation } from './url.ts'

export interface OpenTokenserverOptions {
  runMigrations: boolean
  /** Connections per process for server databases (`tokenserver.database_pool_max_size`, default 10). */
  poolMaxSize?: number
  /** Longest wait for a pooled connection before answering 503 (`tokenserver.database_pool_connection_timeout`, default 30). */
  connectionTimeoutSeconds?: number
}

const poolOptions = (options: OpenTokenserverOptions) => ({
  runMigrations: options.runMigrations,
  poolMaxSize: options.poolMaxSize ?? 10,
  connectionTimeoutSeconds: options.connectionTimeoutSeconds ?? 30,
})

/**
 * Picks the tokenserver backend from a database URL, as `openStorage` does for storage; drivers
 * load lazily.
 */
export async function openTokenserverDb(url: string, options: OpenTokenserverOptions): Promise<TokenserverDb> {
  const location = parseDatabaseUrl(url)
  switch (location.engine) {
    case 'sqlite':
      return (await import('./sqlite/open-tokenserver.ts')).openSqliteTokenserver(location.path, options)
    case 'postgres':
      return (await import('./postgres/open-tokenserver.ts')).openPostgresTokenserver(location.url, poolOptions(options))
    case 'mysql':
      return (await import('./mysql/open-tokenserver.ts')).openMysqlTokenserver(location.url, poolOptions(options))
    case 'spanner':
      throw notSupported(location)
  }
}

/** Applies the tokenserver migrations; returns the tags it applied. */
export async function migrateTokenserverDb(url: string): Promise<MigrationReport> {
  const location = parseDatabaseUrl(url)
  switch (location.engine) {
    case 'sqlite':
      return (await import('./sqlite/open-tokenserver.ts')).migrateSqliteTokenserver(location.path)
    case 'postgres':
      return (await import('./postgres/open-tokenserver.ts')).migratePostgresTokenserver(location.url)
    case 'mysql':
      return (await import('./mysql/open-tokenserver.ts')).migrateMysqlTokenserver(location.url)
    case 'spanner':
      throw notSupported(location)
  }
}

function notSupported(location: DatabaseLocation): Error {
  // Spanner keeps its tokenserver tables in MySQL or PostgreSQL, never in Spanner itself.
  return new Error(
    `the tokenserver database cannot be ${location.engine}; set tokenserver.database_url to a sqlite:///, postgres:// or mysql:// URL`,
  )
}
