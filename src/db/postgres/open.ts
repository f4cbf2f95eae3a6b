import type { Engine } from '../engine.ts'
import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migratedSchema } from '../migrated-schema.ts'
import { withExpiredRows } from '../purge.ts'
import { PostgresPool } from './connection.ts'
import { postgresMigrationAccess } from './migration-access.ts'
import { postgresExpiredRows } from './purge.ts'
import { PostgresStorage } from './storage.ts'
import { PostgresTokenserver } from './tokenserver.ts'

/**
 * Both schemas record themselves in the one `drizzle.__drizzle_migrations` table (a database may
 * hold both): entries are told apart by their file hash, which differs.
 */
const storage = migratedSchema(postgresMigrationAccess, 'storage', embeddedMigrations('postgres'))
const tokenserver = migratedSchema(postgresMigrationAccess, 'tokenserver', embeddedMigrations('postgres-tokenserver'))

export const postgresEngine: Engine = {
  openStorage: (url, options) =>
    storage.open(url, options, () => {
      const pool = new PostgresPool(url, options, { infoConnection: true })
      const opened = new PostgresStorage(pool, options)
      // Start-up work like the migrations: done by the process that runs them (the first worker).
      if (options.runMigrations) void opened.analyzeIfStale()
      return withExpiredRows(opened, postgresExpiredRows(pool))
    }),
  migrateStorage: storage.migrate,
  openTokenserver: (url, options) => tokenserver.open(url, options, () => new PostgresTokenserver(new PostgresPool(url, options))),
  migrateTokenserver: tokenserver.migrate,
}
