import mysql from 'mysql2/promise'
import { applyMigrations, type MigrationReport } from '../migrations/apply.ts'
import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migrateOrRefuse } from '../migrations/require.ts'
import { MysqlPool, mysqlMigrationTarget, type PoolOptions } from './connection.ts'
import { MysqlTokenserver } from './tokenserver.ts'

/**
 * Recorded in the same `__drizzle_migrations` table as the storage migrations (one database may
 * hold both): entries are told apart by their file hash, which differs. Every statement is
 * re-runnable (IF NOT EXISTS, INSERT IGNORE): MySQL DDL is not transactional, so a migration
 * interrupted half-way is simply run again.
 */
const TOKENSERVER_MIGRATIONS = embeddedMigrations('mysql-tokenserver')

export interface MysqlTokenserverOptions extends PoolOptions {
  runMigrations: boolean
}

export async function openMysqlTokenserver(url: string, options: MysqlTokenserverOptions): Promise<MysqlTokenserver> {
  await withMigrationConnection(url, options.connectionTimeoutSeconds, (connection) =>
    migrateOrRefuse('tokenserver', mysqlMigrationTarget(connection), TOKENSERVER_MIGRATIONS, options.runMigrations),
  )
  return new MysqlTokenserver(new MysqlPool(url, options))
}

/** Applies the tokenserver migrations; returns the tags it applied. */
export async function migrateMysqlTokenserver(url: string): Promise<MigrationReport> {
  return withMigrationConnection(url, 30, (connection) => applyMigrations(mysqlMigrationTarget(connection), TOKENSERVER_MIGRATIONS))
}

/** Migrations run on a connection of their own, closed before the pool opens. */
async function withMigrationConnection<T>(
  url: string,
  timeoutSeconds: number,
  work: (connection: mysql.Connection) => Promise<T>,
): Promise<T> {
  const connection = await mysql.createConnection({ uri: url, connectTimeout: timeoutSeconds * 1000, charset: 'utf8mb4' })
  try {
    return await work(connection)
  } finally {
    await connection.end()
  }
}
