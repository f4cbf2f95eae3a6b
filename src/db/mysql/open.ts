import mysql from 'mysql2/promise'
import { applyMigrations, type MigrationReport } from '../migrations/apply.ts'
import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migrateOrRefuse } from '../migrations/require.ts'
import { MysqlPool, mysqlMigrationTarget, type PoolOptions } from './connection.ts'
import { MysqlStorage } from './storage.ts'

const STORAGE_MIGRATIONS = embeddedMigrations('mysql')

export interface MysqlOpenOptions extends PoolOptions {
  runMigrations: boolean
}

export async function openMysqlStorage(url: string, options: MysqlOpenOptions): Promise<MysqlStorage> {
  await withMigrationConnection(url, options.connectionTimeoutSeconds, (connection) =>
    migrateOrRefuse('storage', mysqlMigrationTarget(connection), STORAGE_MIGRATIONS, options.runMigrations),
  )
  return new MysqlStorage(new MysqlPool(url, options))
}

export async function migrateMysqlStorage(url: string): Promise<MigrationReport> {
  return withMigrationConnection(url, 30, (connection) => applyMigrations(mysqlMigrationTarget(connection), STORAGE_MIGRATIONS))
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
