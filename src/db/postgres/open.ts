import postgres from 'postgres'
import { applyMigrations, type MigrationReport } from '../migrations/apply.ts'
import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migrateOrRefuse } from '../migrations/require.ts'
import { postgresMigrationTarget, PostgresPool, type PoolOptions } from './connection.ts'
import { PostgresStorage } from './storage.ts'

const STORAGE_MIGRATIONS = embeddedMigrations('postgres')

export interface PostgresOpenOptions extends PoolOptions {
  runMigrations: boolean
}

export async function openPostgresStorage(url: string, options: PostgresOpenOptions): Promise<PostgresStorage> {
  await withMigrationClient(url, options.connectionTimeoutSeconds, (client) =>
    migrateOrRefuse('storage', postgresMigrationTarget(client), STORAGE_MIGRATIONS, options.runMigrations),
  )
  return new PostgresStorage(new PostgresPool(url, options))
}

export async function migratePostgresStorage(url: string): Promise<MigrationReport> {
  return withMigrationClient(url, 30, (client) => applyMigrations(postgresMigrationTarget(client), STORAGE_MIGRATIONS))
}

/** Migrations run on a connection of their own, closed before the pool opens. */
async function withMigrationClient<T>(url: string, timeoutSeconds: number, work: (client: postgres.Sql) => Promise<T>): Promise<T> {
  const client = postgres(url, { max: 1, connect_timeout: timeoutSeconds, onnotice: () => {} })
  try {
    return await work(client)
  } finally {
    await client.end({ timeout: 5 })
  }
}
