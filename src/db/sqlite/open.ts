import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migratedSchema, type MigrationOptions } from '../migrated-schema.ts'
import { sqliteMigrationAccess } from './migration-access.ts'
import { SqliteStorage } from './storage.ts'

const schema = migratedSchema(sqliteMigrationAccess, 'storage', embeddedMigrations('sqlite'))

export const openSqliteStorage = (path: string, options: MigrationOptions): Promise<SqliteStorage> =>
  schema.open(path, options, (connection) => new SqliteStorage(connection))

export const migrateSqliteStorage = schema.migrate
