import type { Engine } from '../engine.ts'
import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migratedSchema } from '../migrated-schema.ts'
import { withExpiredRows } from '../purge.ts'
import { sqliteMigrationAccess } from './migration-access.ts'
import { sqliteExpiredRows } from './purge.ts'
import { SqliteStorage } from './storage.ts'
import { SqliteTokenserver } from './tokenserver.ts'

const storage = migratedSchema(sqliteMigrationAccess, 'storage', embeddedMigrations('sqlite'))
const tokenserver = migratedSchema(sqliteMigrationAccess, 'tokenserver', embeddedMigrations('sqlite-tokenserver'))

/** SQLite: storage and tokenserver on one file share one connection, so they never lock each other out. */
export const sqliteEngine: Engine = {
  openStorage: (path, options) =>
    storage.open(path, options, (connection) => withExpiredRows(new SqliteStorage(connection, options), sqliteExpiredRows(connection))),
  migrateStorage: storage.migrate,
  openTokenserver: (path, options) => tokenserver.open(path, options, (connection) => new SqliteTokenserver(connection)),
  migrateTokenserver: tokenserver.migrate,
}
