import type { CopyEndpoint, StorageCopyEndpoint } from '../db/copy-types.ts'
import type { SpannerOptions } from '../db/spanner/settings.ts'
import { CONFIG_OPTION, UsageError, type Command, type CommandInput } from './command.ts'

const DEFAULT_CHUNK = 1000
const DEFAULT_INTERVAL_SECONDS = 10
/** Exit code when storage of some users was not copied for want of a tokenserver row to map it (see --allow-unmapped). */
const UNMAPPED_EXIT = 3

const isSpanner = (url: string) => url.toLowerCase().startsWith('spanner:')

/** The tokenserver database of one side: named, or the side's own database (never Spanner's). */
function tokenserverUrl(input: CommandInput, side: 'from' | 'to', storage: string): string {
  const named = stringOption(input, `${side}-tokenserver`)
  if (named !== undefined) return named
  if (isSpanner(storage)) {
    throw new UsageError(
      `--${side} is a Spanner database, which holds no tokenserver tables: name that side's tokenserver database (its server's tokenserver.database_url) with --${side}-tokenserver URL`,
    )
  }
  return storage
}

function stringOption(input: CommandInput, name: string): string | undefined {
  const value = input.options[name]
  return typeof value === 'string' ? value : undefined
}

function positiveInteger(input: CommandInput, name: string, fallback: number): number {
  const text = stringOption(input, name)
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value <= 0) throw new UsageError(`--${name} must be a positive integer`)
  return value
}

export const copyCommand: Command = {
  name: 'copy',
  summary: 'copy every user (storage and tokenserver tables) from one database to another, of any engine',
  options: [
    CONFIG_OPTION,
    { name: 'from', value: 'URL', description: 'source database (read only)' },
    { name: 'to', value: 'URL', description: 'target database (migrated first; must be empty unless --resume or --catch-up)' },
    { name: 'from-tokenserver', value: 'URL', description: "source tokenserver database, when not the source's URL (required with Spanner)" },
    { name: 'to-tokenserver', value: 'URL', description: "target tokenserver database, when not the target's URL (required with Spanner)" },
    { name: 'resume', description: 'continue an interrupted copy into a non-empty target' },
    { name: 'catch-up', description: 'copy what changed on the source since the last copy, deletions included' },
    { name: 'chunk', value: 'N', description: `records per read and per write (default ${DEFAULT_CHUNK})` },
    { name: 'progress-interval', value: 'SECONDS', description: `seconds between progress lines off a terminal (default ${DEFAULT_INTERVAL_SECONDS})` },
    { name: 'no-verify', description: 'skip the verification pass (e.g. for a copy of a source still being written)' },
    {
      name: 'allow-unmapped',
      description: `exit 0 even when some users' storage could not be mapped between uid and fxa_uid/fxa_kid keys (listed either way; otherwise exit ${UNMAPPED_EXIT})`,
    },
  ],
  async run(input) {
    const from = stringOption(input, 'from')
    const to = stringOption(input, 'to')
    if (from === undefined || to === undefined) throw new UsageError('copy needs --from URL and --to URL')
    if (from === to) throw new UsageError('--from and --to name the same database')
    if (input.options.resume === true && input.options['catch-up'] === true) throw new UsageError('pass either --resume or --catch-up, not both')
    const fromTokens = tokenserverUrl(input, 'from', from)
    const toTokens = tokenserverUrl(input, 'to', to)
    const chunk = positiveInteger(input, 'chunk', DEFAULT_CHUNK)
    const intervalMs = positiveInteger(input, 'progress-interval', DEFAULT_INTERVAL_SECONDS) * 1000
    const mode = input.options.resume === true ? 'resume' : input.options['catch-up'] === true ? 'catch-up' : 'fresh'

    // Spanner's settings (spanner_emulator_host, route to leader) come from the configuration, as for serve.
    const spanner = isSpanner(from) || isSpanner(to) ? await spannerSettings(input) : { routeToLeader: false }
    const { migrateStorage, migrateTokenserverDb } = await import('../db/open.ts')
    const { redact } = await import('../db/url.ts')
    await migrateStorage(to, { spanner })
    await migrateTokenserverDb(toTokens)

    const { openCopyEndpoint, openStorageCopyEndpoint } = await import('../copy/open.ts')
    const { copyAll, CollectionMap, NonEmptyTargetError, userMaps } = await import('../copy/copy.ts')
    const { Progress } = await import('../copy/progress.ts')
    const { verifyCopy } = await import('../copy/verify.ts')
    // One connection per database, whether it holds storage, tokenserver tables or both.
    const opened = new Map<string, Promise<CopyEndpoint | StorageCopyEndpoint>>()
    const open = <T extends CopyEndpoint | StorageCopyEndpoint>(url: string, how: (url: string) => Promise<T>): Promise<T> => {
      if (!opened.has(url)) opened.set(url, how(url))
      return opened.get(url) as Promise<T>
    }
    const storageOf = (url: string) => open(url, (at) => openStorageCopyEndpoint(at, spanner))
    try {
      const storage = { source: await storageOf(from), target: await storageOf(to) }
      const tokenserver = { source: await open(fromTokens, openCopyEndpoint), target: await open(toTokens, openCopyEndpoint) }
      const tty = process.stderr.isTTY === true
      const progress = new Progress(await storage.source.countBsos(), (line, inPlace) => process.stderr.write(inPlace ? `\r${line}\u001b[K` : `${line}\n`), tty, intervalMs)
      console.log(`copy (${mode}) from ${redact(from)} to ${redact(to)}`)
      let report: Awaited<ReturnType<typeof copyAll>>
      try {
        report = await copyAll({ storage, tokenserver, mode, chunk, progress })
      } catch (error) {
        if (error instanceof NonEmptyTargetError) {
          console.error(`syncserver: ${error.message}`)
          return 1
        }
        throw error
      }
      progress.finish()
      const { users, records, bytes } = progress.counts
      const seconds = progress.elapsedSeconds()
      console.log(
        `copied ${users} users, ${records} records, ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s ` +
          `(${Math.round(records / seconds)} records/s, ${(bytes / 1e6 / seconds).toFixed(2)} MB/s)`,
      )
      if (report.unmappedCount > 0) {
        console.log(
          `NOT COPIED: the storage of ${report.unmappedCount} users, which no tokenserver row maps between the source's and the target's user keys:`,
        )
        for (const miss of report.unmapped) console.log(`  ${miss.user}: ${miss.reason}`)
        if (report.unmappedCount > report.unmapped.length) console.log(`  … and ${report.unmappedCount - report.unmapped.length} more`)
      }
      const unmappedExit = report.unmappedCount > 0 && input.options['allow-unmapped'] !== true ? UNMAPPED_EXIT : 0
      if (input.options['no-verify'] === true) return unmappedExit
      const verification = await verifyCopy(storage, tokenserver, new CollectionMap(storage.source, storage.target), userMaps({ storage, tokenserver }).forward, chunk)
      console.log(
        `verified ${verification.users} users, ${verification.collections} collections, ${verification.records} records ` +
          `(checksum ${verification.checksum}): ${verification.differenceCount === 0 ? 'identical' : `${verification.differenceCount} differences`}` +
          (verification.unmapped > 0 ? `; ${verification.unmapped} unmapped users not compared` : ''),
      )
      for (const difference of verification.differences) console.log(`  ${difference}`)
      return verification.differenceCount === 0 ? unmappedExit : 1
    } finally {
      for (const endpoint of opened.values()) await (await endpoint.catch(() => undefined))?.close()
    }
  },
}

async function spannerSettings(input: CommandInput): Promise<SpannerOptions> {
  const [{ loadSettings }, { spannerOptions }] = await Promise.all([import('../config/load.ts'), import('../db/spanner/settings.ts')])
  const configFile = typeof input.options.config === 'string' ? input.options.config : undefined
  return spannerOptions((await loadSettings({ configFile })).syncstorage)
}
