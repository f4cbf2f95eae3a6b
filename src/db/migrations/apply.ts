import type { EmbeddedMigration } from './embed.ts'

/** What a backend offers the migration runner; its bookkeeping is drizzle's `__drizzle_migrations`. */
export interface MigrationTarget {
  /** Creates the bookkeeping table if needed and returns the hashes already applied. */
  appliedHashes(): Promise<Set<string>>
  /** Runs one migration and records it (transactionally where the engine allows). */
  apply(migration: EmbeddedMigration): Promise<void>
  /** Records a migration as applied without running it (adopting a schema that is already there). */
  record(migration: EmbeddedMigration): Promise<void>
  /** Names of the tables in the database. */
  tableNames(): Promise<Set<string>>
}

export interface MigrationReport {
  applied: string[]
  /** The baseline recorded as already present because syncstorage-rs created the same schema. */
  adopted?: string
}

/** The bookkeeping table of diesel, the migration tool of syncstorage-rs. */
const DIESEL_MIGRATIONS = '__diesel_schema_migrations'

export function pendingMigrations(migrations: readonly EmbeddedMigration[], applied: Set<string>): EmbeddedMigration[] {
  return migrations.filter((migration) => !applied.has(migration.hash))
}

/**
 * Applies what is pending, in journal order. A database created by syncstorage-rs (diesel's
 * bookkeeping plus every table our first migration creates) is adopted: the first migration is
 * recorded without running, because our baseline is that schema, and no row is touched.
 */
export async function applyMigrations(target: MigrationTarget, migrations: readonly EmbeddedMigration[]): Promise<MigrationReport> {
  const report: MigrationReport = { applied: [] }
  let pending = pendingMigrations(migrations, await target.appliedHashes())
  const [baseline] = migrations
  if (baseline !== undefined && pending[0] === baseline && (await isSyncstorageRsSchema(target, baseline))) {
    await target.record(baseline)
    report.adopted = baseline.tag
    pending = pending.slice(1)
  }
  for (const migration of pending) {
    await target.apply(migration)
    report.applied.push(migration.tag)
  }
  return report
}

async function isSyncstorageRsSchema(target: MigrationTarget, baseline: EmbeddedMigration): Promise<boolean> {
  const tables = await target.tableNames()
  const created = tablesCreatedBy(baseline)
  return tables.has(DIESEL_MIGRATIONS) && created.length > 0 && created.every((table) => tables.has(table))
}

const CREATE_TABLE = /create\s+table\s+(?:if\s+not\s+exists\s+)?[`"]?(\w+)[`"]?/gi

export function tablesCreatedBy(migration: EmbeddedMigration): string[] {
  return migration.statements.flatMap((statement) => [...statement.matchAll(CREATE_TABLE)].map((match) => match[1] as string))
}
