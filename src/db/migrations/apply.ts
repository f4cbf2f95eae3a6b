import type { EmbeddedMigration } from './embed.ts'

/** What a backend offers the migration runner; its bookkeeping is drizzle's `__drizzle_migrations`. */
export interface MigrationTarget {
  /** Creates the bookkeeping table if needed and returns the hashes already applied. */
  appliedHashes(): Promise<Set<string>>
  /** Runs one migration and records it (transactionally where the engine allows). */
  apply(migration: EmbeddedMigration): Promise<void>
}

export function pendingMigrations(migrations: readonly EmbeddedMigration[], applied: Set<string>): EmbeddedMigration[] {
  return migrations.filter((migration) => !applied.has(migration.hash))
}

/** Applies what is pending, in journal order; returns the tags it applied. */
export async function applyMigrations(target: MigrationTarget, migrations: readonly EmbeddedMigration[]): Promise<string[]> {
  const pending = pendingMigrations(migrations, await target.appliedHashes())
  for (const migration of pending) await target.apply(migration)
  return pending.map((migration) => migration.tag)
}
