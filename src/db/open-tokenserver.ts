import type { TokenserverDb } from './tokenserver-types.ts'
import { parseDatabaseUrl, type DatabaseLocation } from './url.ts'

/**
 * Picks the tokenserver backend from a database URL, as `openStorage` does for storage; drivers
 * load lazily.
 */
export async function openTokenserverDb(url: string, options: { runMigrations: boolean }): Promise<TokenserverDb> {
  const location = parseDatabaseUrl(url)
  switch (location.engine) {
    case 'sqlite':
      return (await import('./sqlite/open-tokenserver.ts')).openSqliteTokenserver(location.path, options)
    case 'postgres':
    case 'mysql':
    case 'spanner':
      throw notYetSupported(location)
  }
}

/** Applies the tokenserver migrations; returns the tags it applied. */
export async function migrateTokenserverDb(url: string): Promise<string[]> {
  const location = parseDatabaseUrl(url)
  switch (location.engine) {
    case 'sqlite':
      return (await import('./sqlite/open-tokenserver.ts')).migrateSqliteTokenserver(location.path)
    case 'postgres':
    case 'mysql':
    case 'spanner':
      throw notYetSupported(location)
  }
}

function notYetSupported(location: DatabaseLocation): Error {
  // Spanner keeps its tokenserver tables in MySQL or PostgreSQL, never in Spanner itself.
  return new Error(`the ${location.engine} tokenserver backend is not implemented yet; use a sqlite:/// URL`)
}
