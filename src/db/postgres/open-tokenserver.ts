import postgres from 'postgres'
import { applyMigrations, type MigrationReport } from '../migrations/apply.ts'
import { embeddedMigrations } from '../migrations/embed.ts' with { type: 'macro' }
import { migrateOrRefuse } from '../migrations/require.ts'
import { postgresMigrationTarget, PostgresPool, type PoolOptions } from './connection.ts'
import { PostgresTokenserver } from './tokenserver.ts'

/**
 * Recorded in the same `drizzle.__drizzle_migrations` table as the storage migrations (one
 * database may hold both): entries are told apart by their file hash, which differs.
 */
const TOKENSERVER_MIGRATIONS = embeddedMigrations('postgres-tokenserver')

export interface PostgresTokenserverOptions extends PoolOptions {
  runMigrations: boolean
}

export async function openPostgresTokenserver(url: string, options: PostgresTokenserverOptions): Promise<PostgresTokenserver> {
  await withMigrationClient(url, options.connectionTimeoutSeconds, (client) =>
    migrateOrRefuse('tokenserver', postgresMigrationTarget(client), TOKENSERVER_MIGRATIONS, options.runMigrations),
  )
  return new PostgresTokenserver(new PostgresPool(url, options))
}

/** Applies the tokenserver migrations; returns the tags it applied. */
export async function migratePostgresTokenserver(url: string): Promise<MigrationReport> {
  return withMigrationClient(url, 30, (client) => applyMigrations(postgresMigrationTarget(client), TOKENSERVER_MIGRATIONS))
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
