import type { MigrationReport } from './migrations/apply.ts'
import type { MigrationOptions } from './migrated-schema.ts'
import type { TokenserverDb } from './tokenserver-types.ts'
import type { StorageBackend } from './types.ts'

export interface PoolSettings {
  /** Connections per process for server databases (`database_pool_max_size`). */
  poolMaxSize: number
  /** Longest wait for a pooled connection before answering 503 (`database_pool_connection_timeout`). */
  connectionTimeoutSeconds: number
}

export type OpenOptions = MigrationOptions & PoolSettings

/**
 * What one database engine offers: its storage and tokenserver schemas, each opened (migrated
 * first, or refused when outdated) or migrated. `target` is a file path for SQLite, a URL for
 * the server engines.
 */
export interface Engine {
  openStorage(target: string, options: OpenOptions): Promise<StorageBackend>
  migrateStorage(target: string): Promise<MigrationReport>
  openTokenserver(target: string, options: OpenOptions): Promise<TokenserverDb>
  migrateTokenserver(target: string): Promise<MigrationReport>
}
