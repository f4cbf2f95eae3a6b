import postgres from 'postgres'
import { connectPostgres } from './client.ts'
import type { MigrationAccess } from '../migrated-schema.ts'
import { postgresMigrationTarget } from './connection.ts'

/** Migrations run on a connection of their own, closed before the pool opens. */
export const postgresMigrationAccess: MigrationAccess<string, postgres.Sql> = {
  connect: (url, timeoutSeconds) => connectPostgres(url, { max: 1, connect_timeout: timeoutSeconds, onnotice: () => {} }),
  target: postgresMigrationTarget,
  close: (client) => client.end({ timeout: 5 }),
  handsOver: false,
}
