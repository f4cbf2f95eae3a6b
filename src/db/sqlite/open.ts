import { applyMigrations, type MigrationReport } from '../migrations/apply.ts'
import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migrateOrRefuse } from '../migrations/require.ts'
import { SqliteConnection, sqliteMigrationTarget } from './connection.ts'
import { SqliteStorage } from './storage.ts'

const STORAGE_MIGRATIONS = embeddedMigrations('sqlite')

export async function openSqliteStorage(path: string, options: { runMigrations: boolean }): Promise<SqliteStorage> {
  const connection = SqliteConnection.shared(path)
  try {
    await migrateOrRefuse('storage', sqliteMigrationTarget(connection), STORAGE_MIGRATIONS, options.runMigrations)
  } catch (error) {
    connection.close()
    throw error
  }
  return new SqliteStorage(connection)
}

export async function migrateSqliteStorage(path: string): Promise<MigrationReport> {
  const connection = SqliteConnection.shared(path)
  try {
    return await applyMigrations(sqliteMigrationTarget(connection), STORAGE_MIGRATIONS)
  } finally {
    connection.close()
  }
}
