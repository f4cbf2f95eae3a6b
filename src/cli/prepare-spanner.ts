import type { Command } from './command.ts'
import { CONFIG_OPTION, UsageError } from './command.ts'
import { loadSettings } from '../config/load.ts'
import type { PrepareReport } from '../db/spanner/prepare.ts'

export const prepareSpannerCommand: Command = {
  name: 'prepare-spanner',
  summary: 'create or update the schema of a Spanner storage database from schema.ddl (safe to re-run)',
  options: [
    CONFIG_OPTION,
    { name: 'print-ddl', description: 'print the statements of schema.ddl and exit' },
  ],
  async run(input) {
    const { schemaStatements, prepareSpanner } = await import('../db/spanner/prepare.ts')
    if (input.options['print-ddl'] === true) {
      for (const statement of schemaStatements()) console.log(`${statement};`)
      return 0
    }
    const configFile = typeof input.options.config === 'string' ? input.options.config : undefined
    const settings = await loadSettings({ configFile })
    const url = settings.syncstorage.database_url
    if (!url.startsWith('spanner:')) {
      throw new UsageError(
        `the storage database is not Spanner (${url.split(':')[0]}): set syncstorage.database_url (SYNC_SYNCSTORAGE__DATABASE_URL) to spanner://projects/P/instances/I/databases/D`,
      )
    }
    const { parseSpannerUrl, spannerOptions } = await import('../db/spanner/settings.ts')
    const location = parseSpannerUrl(url)
    const report = await prepareSpanner(location, spannerOptions(settings.syncstorage))
    for (const line of describeReport(report)) console.log(line)
    return 0
  },
}

function describeReport(report: PrepareReport): string[] {
  const lines = report.created.map((what) => `created ${what}`)
  lines.push(...report.applied.map((statement) => `applied: ${statement}`))
  lines.push(...report.skipped.map(({ statement, reason }) => `skipped (not needed by this server; the database said: ${reason}): ${statement}`))
  if (report.applied.length === 0 && report.created.length === 0) lines.push('schema up to date')
  return lines
}
