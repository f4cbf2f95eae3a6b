import type { StorageBackend } from './types.ts'
import { parseDatabaseUrl, type DatabaseLocation } from './url.ts'

/**
 * The one place that picks an engine from a database URL. Drivers load lazily, so a server on
 * SQLite never pays for postgres.js, mysql2 or Spanner at start.
 */
export async function openStorage(url: string, options: { runMigrations: boolean }): Promise<StorageBackend> {
  const location = parseDatabaseUrl(url)
  switch (location.engine) {
    case 'sqlite':
      return (await import('./sqlite/open.ts')).openSqliteStorage(location.path, options)
    case 'postgres':
    case 'mysql':
    case 'spanner':
      throw notYetSupported(location)
  }
}

/** Applies the storage migrations; returns the tags it applied. */
export async function migrateStorage(url: string): Promise<string[]> {
  const location = parseDatabaseUrl(url)
  switch (location.engine) {
    case 'sqlite':
      return (await import('./sqlite/open.ts')).migrateSqliteStorage(location.path)
    case 'postgres':
    case 'mysql':
    case 'spanner':
      throw notYetSupported(location)
  }
}

function notYetSupported(location: DatabaseLocation): Error {
  return new Error(`the ${location.engine} storage backend is not implemented yet; use a sqlite:/// URL`)
}
