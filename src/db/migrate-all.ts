import type { Settings } from '../config/settings.ts'
import { migrateStorage } from './open.ts'
import { migrateTokenserverDb } from './open-tokenserver.ts'
import { redact } from './url.ts'

/** Applies every pending migration of the databases the settings use; returns report lines. */
export async function migrateAll(settings: Settings): Promise<string[]> {
  const lines: string[] = []
  if (settings.syncstorage.enabled) {
    const applied = await migrateStorage(settings.syncstorage.database_url)
    lines.push(report('storage', settings.syncstorage.database_url, applied))
  }
  if (settings.tokenserver.enabled) {
    const applied = await migrateTokenserverDb(settings.tokenserver.database_url)
    lines.push(report('tokenserver', settings.tokenserver.database_url, applied))
  }
  return lines
}

const report = (what: string, url: string, applied: string[]) =>
  applied.length === 0
    ? `${what} database ${redact(url)}: up to date`
    : `${what} database ${redact(url)}: applied ${applied.join(', ')}`
