import type { MigrationReport } from './migrations/apply.ts'
import type { Settings } from '../config/settings.ts'
import { migrateStorage, migrateTokenserverDb } from './open.ts'
import { spannerOptions } from './spanner/settings.ts'
import { redact } from './url.ts'

/** Applies every pending migration of the databases the settings use; returns report lines. */
export async function migrateAll(settings: Settings): Promise<string[]> {
  const lines: string[] = []
  if (settings.syncstorage.enabled) {
    const applied = await migrateStorage(settings.syncstorage.database_url, { spanner: spannerOptions(settings.syncstorage) })
    lines.push(report('storage', settings.syncstorage.database_url, applied))
  }
  if (settings.tokenserver.enabled) {
    const applied = await migrateTokenserverDb(settings.tokenserver.database_url)
    lines.push(report('tokenserver', settings.tokenserver.database_url, applied))
  }
  return lines
}

function report(what: string, url: string, { applied, adopted }: MigrationReport): string {
  const done = [
    ...(adopted === undefined ? [] : [`adopted the syncstorage-rs schema as ${adopted} (no data changed)`]),
    ...(applied.length === 0 ? [] : [`applied ${applied.join(', ')}`]),
  ]
  return `${what} database ${redact(url)}: ${done.length === 0 ? 'up to date' : done.join('; ')}`
}
