import { applyMigrations, pendingMigrations, type MigrationTarget } from './apply.ts'
import type { EmbeddedMigration } from './embed.ts'

/**
 * At start: apply pending migrations when allowed, otherwise refuse to run on an outdated
 * schema and say what to run.
 */
export async function migrateOrRefuse(
  what: string,
  target: MigrationTarget,
  migrations: readonly EmbeddedMigration[],
  allowed: boolean,
): Promise<void> {
  if (allowed) {
    await applyMigrations(target, migrations)
    return
  }
  const pending = pendingMigrations(migrations, await target.appliedHashes())
  if (pending.length > 0) {
    const tags = pending.map((migration) => migration.tag).join(', ')
    throw new Error(`the ${what} database has ${pending.length} pending migration(s) (${tags}); run \`syncserver migrate\` first`)
  }
}
