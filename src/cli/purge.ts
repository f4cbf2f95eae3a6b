import type { Command, CommandInput } from './command.ts'
import { CONFIG_OPTION, UsageError } from './command.ts'
import type { PurgeMode, PurgeProgress, PurgeReport } from '../db/purge.ts'

const MODES: readonly PurgeMode[] = ['both', 'bsos', 'batches']
const EXPIRY_MODES = ['now', 'midnight'] as const

/** Progress lines at most this often, so a purge of millions of rows stays readable. */
const PROGRESS_EVERY_MS = 1000

const TABLE_NAMES: Record<PurgeProgress['table'], string> = {
  bsos: 'expired records',
  batchItems: 'records staged in expired batches',
  batches: 'expired batches',
}

/**
 * `syncserver purge`: what the server's background purge does, once, now. Option names follow
 * the reference's purge_ttl script (`--mode`, `--expiry_mode`, `--dryrun`), whose spellings are
 * accepted beside ours.
 */
export const purgeCommand: Command = {
  name: 'purge',
  summary: 'delete expired records and batches from the storage database (the server also does this in the background)',
  options: [
    CONFIG_OPTION,
    { name: 'dry-run', description: 'count what would be deleted; delete nothing' },
    { name: 'dryrun', description: 'the same as --dry-run (the spelling of the reference\'s purge_ttl)' },
    { name: 'mode', value: 'both|bsos|batches', description: 'what to purge: records, batches (with their staged records) or both (default)' },
    { name: 'expiry-mode', value: 'now|midnight', description: 'expired by now (default) or by the start of the current UTC day' },
    { name: 'expiry_mode', value: 'now|midnight', description: 'the same as --expiry-mode (purge_ttl\'s spelling)' },
    { name: 'chunk-size', value: 'N', description: 'rows deleted per statement at most (default: syncstorage.purge_ttl_chunk_size)' },
  ],
  async run(input) {
    const mode = choice(input, 'mode', MODES, 'both')
    const expiryMode = choice(input, input.options.expiry_mode === undefined ? 'expiry-mode' : 'expiry_mode', EXPIRY_MODES, 'now')
    const dryRun = input.options['dry-run'] === true || input.options.dryrun === true
    const [{ loadSettings }, { parseDatabaseUrl, redact }, purge] = await Promise.all([
      import('../config/load.ts'),
      import('../db/url.ts'),
      import('../db/purge.ts'),
    ])
    const configFile = typeof input.options.config === 'string' ? input.options.config : undefined
    const settings = await loadSettings({ configFile })
    const chunkSize = chunkSizeOf(input, settings.syncstorage.purge_ttl_chunk_size)
    const url = settings.syncstorage.database_url
    if (parseDatabaseUrl(url).engine === 'spanner') {
      console.error(`syncserver: nothing to purge on Spanner. ${purge.SPANNER_PURGE_REFUSAL}.`)
      return 1
    }
    const { openStorage } = await import('../db/open.ts')
    // Never migrates: a purge must not be what upgrades a schema behind the operator's back.
    const storage = await openStorage(url, { runMigrations: false, poolMaxSize: 1 })
    try {
      const expiredBy = purge.expiryBound(expiryMode)
      console.log(
        `${dryRun ? 'counting' : 'purging'} ${mode === 'both' ? 'records and batches' : mode === 'bsos' ? 'records' : 'batches'} ` +
          `expired by ${new Date(expiredBy).toISOString()} in ${redact(url)}`,
      )
      const report = await purge.purgeExpired(purge.expiredRowsOf(storage), {
        mode,
        expiredBy,
        chunkSize,
        dryRun,
        onProgress: progressPrinter(dryRun),
      })
      console.log(summary(report))
      return 0
    } finally {
      await storage.close()
    }
  },
}

function choice<T extends string>(input: CommandInput, name: string, allowed: readonly T[], fallback: T): T {
  const value = input.options[name]
  if (value === undefined) return fallback
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T
  throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`)
}

function chunkSizeOf(input: CommandInput, configured: number): number {
  const value = input.options['chunk-size']
  if (value === undefined) return configured
  const size = Number(value)
  if (typeof value !== 'string' || !/^\d+$/.test(value) || size < 1) throw new UsageError('--chunk-size must be a positive integer')
  return size
}

/** One line per table when it is done, and in between at most one a second. */
function progressPrinter(dryRun: boolean): (progress: PurgeProgress) => void {
  let lastPrinted = performance.now()
  return ({ table, rows, done }) => {
    const now = performance.now()
    if (!done && now - lastPrinted < PROGRESS_EVERY_MS) return
    lastPrinted = now
    const verb = dryRun ? 'would delete' : done ? 'deleted' : 'deleted so far'
    console.log(`  ${TABLE_NAMES[table]}: ${verb} ${rows}`)
  }
}

function summary(report: PurgeReport): string {
  const { bsos, batches, batchItems } = report.rows
  const seconds = (report.durationMs.total / 1000).toFixed(1)
  if (report.dryRun) return `dry run: ${bsos} records, ${batches} batches and ${batchItems} staged records would be deleted; nothing was`
  return (
    `deleted ${bsos} records, ${batches} batches and ${batchItems} staged records in ${seconds} s ` +
    `(${report.chunks} statements, the longest ${Math.round(report.longestChunkMs)} ms)`
  )
}
