import type { DatabaseLocation } from '../db/url.ts'
import { CONFIG_OPTION, UsageError, type Command } from './command.ts'

/** What to use instead where `backup` cannot help: the engine's own consistent dump tools. */
const OTHER_ENGINES: Record<Exclude<DatabaseLocation['engine'], 'sqlite'>, string> = {
  postgres: 'back up PostgreSQL with its own tool, e.g. `pg_dump --format=custom --file=FILE URL` (README, "Backups")',
  mysql: 'back up MySQL/MariaDB with its own tool, e.g. `mariadb-dump --single-transaction DATABASE > FILE` (README, "Backups")',
  spanner: 'back up Cloud Spanner with its managed backups, e.g. `gcloud spanner backups create`',
}

export const backupCommand: Command = {
  name: 'backup',
  summary: 'copy the SQLite database (and its generated secret) consistently while the server runs',
  args: '<file>',
  options: [CONFIG_OPTION],
  async run(input) {
    const [target, ...extra] = input.positionals
    if (target === undefined || extra.length > 0) throw new UsageError('backup needs exactly one argument: the file to write')
    // Raw settings: resolving them would create a secret for a database that does not exist yet.
    const { loadSettings } = await import('../config/load.ts')
    const settings = await loadSettings({ configFile: typeof input.options.config === 'string' ? input.options.config : undefined })
    const { resolve } = await import('node:path')
    const { parseDatabaseUrl } = await import('../db/url.ts')
    const storage = sqliteFileOf(parseDatabaseUrl(settings.syncstorage.database_url))
    const tokenserver = sqliteFileOf(parseDatabaseUrl(settings.tokenserver.database_url || settings.syncstorage.database_url))
    const copies = [{ source: storage, target: resolve(target) }]
    if (tokenserver !== storage) copies.push({ source: tokenserver, target: `${resolve(target)}.tokenserver` })
    const { backupSqlite } = await import('../db/sqlite/backup.ts')
    for (const copy of copies) {
      const { bytes, seconds } = backupSqlite(copy.source, copy.target)
      console.log(`backed up ${copy.source} to ${copy.target}: ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s, integrity_check ok`)
    }
    console.log(await copySecret(settings.master_secret, storage, resolve(target)))
    return 0
  },
}

/** The file of a SQLite database; any other database is refused with the tool to use instead. */
function sqliteFileOf(location: DatabaseLocation): string {
  if (location.engine !== 'sqlite') throw new Error(`backup copies SQLite databases only; ${OTHER_ENGINES[location.engine]}`)
  if (location.path === ':memory:') throw new Error('an in-memory SQLite database has nothing on disk to back up')
  return location.path
}

/** A generated secret lives beside the database and must travel with it, or every token breaks. */
async function copySecret(configured: string | undefined, databasePath: string, target: string): Promise<string> {
  if (configured !== undefined) return 'the master secret is set in your configuration: keep that with the backup'
  const { secretFileOf } = await import('../config/settings.ts')
  const { chmodSync, constants, copyFileSync, existsSync } = await import('node:fs')
  const source = secretFileOf(databasePath)
  if (!existsSync(source)) return `no secret file at ${source} to copy`
  const copy = secretFileOf(target)
  copyFileSync(source, copy, constants.COPYFILE_EXCL)
  chmodSync(copy, 0o600)
  return `copied the secret ${source} to ${copy} (mode 600)`
}
