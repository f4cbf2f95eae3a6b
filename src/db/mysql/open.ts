import type { Engine } from '../engine.ts'
import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migratedSchema } from '../migrated-schema.ts'
import { withExpiredRows } from '../purge.ts'
import { MysqlPool } from './connection.ts'
import { mysqlMigrationAccess } from './migration-access.ts'
import { mysqlExpiredRows } from './purge.ts'
import { MysqlStorage } from './storage.ts'
import { MysqlTokenserver } from './tokenserver.ts'

/**
 * Both schemas record themselves in the one `__drizzle_migrations` table, told apart by file
 * hash. Every statement is re-runnable (IF NOT EXISTS, INSERT IGNORE): MySQL DDL is not
 * transactional, so a migration interrupted half-way is simply run again.
 */
const storage = migratedSchema(mysqlMigrationAccess, 'storage', embeddedMigrations('mysql'))
const tokenserver = migratedSchema(mysqlMigrationAccess, 'tokenserver', embeddedMigrations('mysql-tokenserver'))

export const mysqlEngine: Engine = {
  openStorage: (url, options) =>
    storage.open(url, options, () => {
      const pool = new MysqlPool(url, options)
      return withExpiredRows(new MysqlStorage(pool, options), mysqlExpiredRows(pool))
    }),
  migrateStorage: storage.migrate,
  openTokenserver: (url, options) => tokenserver.open(url, options, () => new MysqlTokenserver(new MysqlPool(url, options))),
  migrateTokenserver: tokenserver.migrate,
}
