import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migratedSchema, type MigrationOptions } from '../migrated-schema.ts'
import { PostgresPool, type PoolOptions } from './connection.ts'
import { postgresMigrationAccess } from './migration-access.ts'
import { PostgresTokenserver } from './tokenserver.ts'

/**
 * Recorded in the same `drizzle.__drizzle_migrations` table as the storage migrations (one
 * database may hold both): entries are told apart by their file hash, which differs.
 */
const schema = migratedSchema(postgresMigrationAccess, 'tokenserver', embeddedMigrations('postgres-tokenserver'))

export const openPostgresTokenserver = (url: string, options: PoolOptions & MigrationOptions): Promise<PostgresTokenserver> =>
  schema.open(url, options, () => new PostgresTokenserver(new PostgresPool(url, options)))

/** Applies the tokenserver migrations; returns the tags it applied. */
export const migratePostgresTokenserver = schema.migrate
