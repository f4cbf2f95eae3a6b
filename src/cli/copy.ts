import { UsageError, type Command, type CommandInput } from './command.ts'

const DEFAULT_CHUNK = 1000
const DEFAULT_INTERVAL_SECONDS = 10

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
    { name: 'from', value: 'URL', description: 'source database (read only)' },
    { name: 'to', value: 'URL', description: 'target database (migrated first; must be empty unless --resume or --catch-up)' },
    { name: 'from-tokenserver', value: 'URL', description: "source tokenserver database, when not the source's URL" },
    { name: 'to-tokenserver', value: 'URL', description: "target tokenserver database, when not the target's URL" },
    { name: 'resume', description: 'continue an interrupted copy into a non-empty target' },
    { name: 'catch-up', description: 'copy what changed on the source since the last copy, deletions included' },
    { name: 'chunk', value: 'N', description: `records per read and per write (default ${DEFAULT_CHUNK})` },
    { name: 'progress-interval', value: 'SECONDS', description: `seconds between progress lines off a terminal (default ${DEFAULT_INTERVAL_SECONDS})` },
    { name: 'no-verify', description: 'skip the verification pass (e.g. for a copy of a source still being written)' },
  ],
  async run(input) {
    const from = stringOption(input, 'from')
    const to = stringOption(input, 'to')
    if (from === undefined || to === undefined) throw new UsageError('copy needs --from URL and --to URL')
    if (from === to) throw new UsageError('--from and --to name the same database')
    if (input.options.resume === true && input.options['catch-up'] === true) throw new UsageError('pass either --resume or --catch-up, not both')
    const fromTokens = stringOption(input, 'from-tokenserver') ?? from
    const toTokens = stringOption(input, 'to-tokenserver') ?? to
    const chunk = positiveInteger(input, 'chunk', DEFAULT_CHUNK)
    const intervalMs = positiveInteger(input, 'progress-interval', DEFAULT_INTERVAL_SECONDS) * 1000
    const mode = input.options.resume === true ? 'resume' : input.options['catch-up'] === true ? 'catch-up' : 'fresh'

    const { migrateStorage, migrateTokenserverDb } = await import('../db/open.ts')
    const { redact } = await import('../db/url.ts')
    await migrateStorage(to)
    await migrateTokenserverDb(toTokens)

    const { openCopyEndpoint } = await import('../copy/open.ts')
    const { copyAll, CollectionMap, NonEmptyTargetError } = await import('../copy/copy.ts')
    const { Progress } = await import('../copy/progress.ts')
    const { verifyCopy } = await import('../copy/verify.ts')
    const opened: { url: string; endpoint: Awaited<ReturnType<typeof openCopyEndpoint>> }[] = []
    const open = async (url: string) => {
      const known = opened.find((entry) => entry.url === url)
      if (known !== undefined) return known.endpoint
      const endpoint = await openCopyEndpoint(url)
      opened.push({ url, endpoint })
      return endpoint
    }
    try {
      const storage = { source: await open(from), target: await open(to) }
      const tokenserver = { source: await open(fromTokens), target: await open(toTokens) }
      const tty = process.stderr.isTTY === true
      const progress = new Progress(await storage.source.countBsos(), (line, inPlace) => process.stderr.write(inPlace ? `\r${line}\u001b[K` : `${line}\n`), tty, intervalMs)
      console.log(`copy (${mode}) from ${redact(from)} to ${redact(to)}`)
      try {
        await copyAll({ storage, tokenserver, mode, chunk, progress })
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
      if (input.options['no-verify'] === true) return 0
      const verification = await verifyCopy(storage, tokenserver, new CollectionMap(storage.source, storage.target), chunk)
      console.log(
        `verified ${verification.users} users, ${verification.collections} collections, ${verification.records} records ` +
          `(checksum ${verification.checksum}): ${verification.differenceCount === 0 ? 'identical' : `${verification.differenceCount} differences`}`,
      )
      for (const difference of verification.differences) console.log(`  ${difference}`)
      return verification.differenceCount === 0 ? 0 : 1
    } finally {
      for (const { endpoint } of opened) await endpoint.close()
    }
  },
}
