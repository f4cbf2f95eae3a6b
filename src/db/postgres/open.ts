import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migratedSchema, type MigrationOptions } from '../migrated-schema.ts'
import { PostgresPool, type PoolOptions } from './connection.ts'
import { postgresMigrationAccess } from './migration-access.ts'
import { PostgresStorage } from './storage.ts'

const schema = migratedSchema(postgresMigrationAccess, 'storage', embeddedMigrations('postgres'))

export const openPostgresStorage = (url: string, options: PoolOptions & MigrationOptions): Promise<PostgresStorage> =>
  schema.open(url, options, () => new PostgresStorage(new PostgresPool(url, options)))

export const migratePostgresStorage = schema.migrate
