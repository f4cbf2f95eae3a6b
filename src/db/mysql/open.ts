import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migratedSchema, type MigrationOptions } from '../migrated-schema.ts'
import { MysqlPool, type PoolOptions } from './connection.ts'
import { mysqlMigrationAccess } from './migration-access.ts'
import { MysqlStorage } from './storage.ts'

const schema = migratedSchema(mysqlMigrationAccess, 'storage', embeddedMigrations('mysql'))

export const openMysqlStorage = (url: string, options: PoolOptions & MigrationOptions): Promise<MysqlStorage> =>
  schema.open(url, options, () => new MysqlStorage(new MysqlPool(url, options)))

export const migrateMysqlStorage = schema.migrate
