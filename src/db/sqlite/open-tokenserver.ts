import { applyMigrations, type MigrationReport } from '../migrations/apply.ts'
import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migrateOrRefuse } from '../migrations/require.ts'
import { SqliteConnection, sqliteMigrationTarget } from './connection.ts'
import { SqliteTokenserver } from './tokenserver.ts'

const TOKENSERVER_MIGRATIONS = embeddedMigrations('sqlite-tokenserver')

/** Opens the tokenserver tables; on a file shared with storage, the two share one connection. */
export async function openSqliteTokenserver(path: string, options: { runMigrations: boolean }): Promise<SqliteTokenserver> {
  const connection = SqliteConnection.shared(path)
  try {
    await migrateOrRefuse('tokenserver', sqliteMigrationTarget(connection), TOKENSERVER_MIGRATIONS, options.runMigrations)
  } catch (error) {
    connection.close()
    throw error
  }
  return new SqliteTokenserver(connection)
}

/** Applies the tokenserver migrations; returns the tags it applied. */
export async function migrateSqliteTokenserver(path: string): Promise<MigrationReport> {
  const connection = SqliteConnection.shared(path)
  try {
    return await applyMigrations(sqliteMigrationTarget(connection), TOKENSERVER_MIGRATIONS)
  } finally {
    connection.close()
  }
}
