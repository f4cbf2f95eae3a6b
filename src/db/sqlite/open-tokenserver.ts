import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migratedSchema, type MigrationOptions } from '../migrated-schema.ts'
import { sqliteMigrationAccess } from './migration-access.ts'
import { SqliteTokenserver } from './tokenserver.ts'

const schema = migratedSchema(sqliteMigrationAccess, 'tokenserver', embeddedMigrations('sqlite-tokenserver'))

/** Opens the tokenserver tables; on a file shared with storage, the two share one connection. */
export const openSqliteTokenserver = (path: string, options: MigrationOptions): Promise<SqliteTokenserver> =>
  schema.open(path, options, (connection) => new SqliteTokenserver(connection))

/** Applies the tokenserver migrations; returns the tags it applied. */
export const migrateSqliteTokenserver = schema.migrate
