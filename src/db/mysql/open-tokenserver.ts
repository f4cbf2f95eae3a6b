import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migratedSchema, type MigrationOptions } from '../migrated-schema.ts'
import { MysqlPool, type PoolOptions } from './connection.ts'
import { mysqlMigrationAccess } from './migration-access.ts'
import { MysqlTokenserver } from './tokenserver.ts'

/**
 * Recorded in the same `__drizzle_migrations` table as the storage migrations (one database may
 * hold both): entries are told apart by their file hash, which differs. Every statement is
 * re-runnable (IF NOT EXISTS, INSERT IGNORE): MySQL DDL is not transactional, so a migration
 * interrupted half-way is simply run again.
 */
const schema = migratedSchema(mysqlMigrationAccess, 'tokenserver', embeddedMigrations('mysql-tokenserver'))

export const openMysqlTokenserver = (url: string, options: PoolOptions & MigrationOptions): Promise<MysqlTokenserver> =>
  schema.open(url, options, () => new MysqlTokenserver(new MysqlPool(url, options)))

/** Applies the tokenserver migrations; returns the tags it applied. */
export const migrateMysqlTokenserver = schema.migrate
