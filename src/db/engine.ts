import type { MigrationReport } from './migrations/apply.ts'
import type { MigrationOptions } from './migrated-schema.ts'
import type { TokenserverDb } from './tokenserver-types.ts'
import type { SpannerOptions } from './spanner/settings.ts'
import type { StorageBackend } from './types.ts'

export interface PoolSettings {
  /** Connections per process for server databases (`database_pool_max_size`). */
  poolMaxSize: number
  /** Longest wait for a pooled connection before answering 503 (`database_pool_connection_timeout`). */
  connectionTimeoutSeconds: number
}

export interface StorageOptions {
  /**
   * Keep the per-collection byte and record totals that quota reads (`enable_quota`): the
   * backend refreshes them before each write commits. Off, they are left alone.
   */
  quotaTotals?: boolean
}

export type OpenOptions = MigrationOptions & PoolSettings & StorageOptions & {
  /** Settings only the Spanner engine reads (emulator host, session recycling, routing). */
  spanner?: SpannerOptions
}

/**
 * What a storage engine offers: its storage opened (schema brought up to date first, or refused
 * when outdated) or its schema brought up to date. How is the engine's business: the SQL
 * engines apply embedded Drizzle migrations; an engine with its own DDL tool runs that.
 * `target` is a file path for SQLite, a URL for the server engines.
 */
export interface StorageEngine {
  openStorage(target: string, options: OpenOptions): Promise<StorageBackend>
  migrateStorage(target: string, options?: Pick<OpenOptions, 'spanner'>): Promise<MigrationReport>
}

/** What an engine that can hold the tokenserver's tables offers (not every storage engine can). */
export interface TokenserverEngine {
  openTokenserver(target: string, options: OpenOptions): Promise<TokenserverDb>
  migrateTokenserver(target: string): Promise<MigrationReport>
}

/** The SQL engines hold both. */
export type Engine = StorageEngine & TokenserverEngine
