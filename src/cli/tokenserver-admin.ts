import { openingDatabase } from '../config/database-errors.ts'
import type { Settings } from '../config/settings.ts'
import { openTokenserverDb } from '../db/open.ts'
import { SYNC_SERVICE, type TokenserverDb } from '../db/tokenserver-types.ts'
import { UsageError, type CommandInput, type OptionSpec } from './command.ts'
import { settingsFor } from './settings-input.ts'

/** What the `nodes` and `users` admin commands share: settings, the database, output. */

export const JSON_OPTION: OptionSpec = { name: 'json', description: 'print JSON instead of a table' }

export interface AdminContext {
  settings: Settings
  db: TokenserverDb
  /** The id of `sync-1.5`. */
  service: number
  /** Prints `value` as JSON with --json, else the table. */
  print(value: unknown, table: () => string): void
}

/** A failure the operator can act on: printed as is, exit code 1. */
export class AdminError extends Error {
  override name = 'AdminError'
}

/**
 * Checks the action (the first positional), loads the settings (`--config`), opens the
 * tokenserver database, runs `work` and closes it. Returns the exit code: `work`'s, 2 for a
 * UsageError, 1 for any other failure (printed).
 */
export async function runAdminCommand<A extends string>(
  input: CommandInput,
  actions: readonly A[],
  work: (action: A, context: AdminContext) => Promise<number>,
): Promise<number> {
  try {
    const action = actionOf(input, actions)
    const settings = await settingsFor(input)
    const url = settings.tokenserver.database_url
    const db = await openingDatabase('tokenserver.database_url', url, () => openTokenserverDb(url, { runMigrations: settings.tokenserver.run_migrations }))
    try {
      const service = await db.serviceId(SYNC_SERVICE)
      if (service === null) throw new AdminError(`the tokenserver database has no "${SYNC_SERVICE}" service`)
      const json = input.options.json === true
      const print = (value: unknown, table: () => string) => console.log(json ? toJson(value) : table())
      return await work(action, { settings, db, service, print })
    } finally {
      await db.close()
    }
  } catch (error) {
    console.error(`syncserver: ${error instanceof Error ? error.message : String(error)}`)
    return error instanceof UsageError ? 2 : 1
  }
}

export function stringOption(input: CommandInput, name: string): string | undefined {
  const value = input.options[name]
  if (value === true) throw new UsageError(`--${name} needs a value`)
  return value
}

/** A non-negative integer option, or undefined when absent. */
export function countOption(input: CommandInput, name: string): number | undefined {
  const value = stringOption(input, name)
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`--${name} must be a non-negative integer, got "${value}"`)
  return Number(value)
}

/** A 0|1 flag option, or undefined when absent. */
export function flagOption(input: CommandInput, name: string): boolean | undefined {
  const value = stringOption(input, name)
  if (value === undefined) return undefined
  if (value !== '0' && value !== '1') throw new UsageError(`--${name} must be 0 or 1, got "${value}"`)
  return value === '1'
}

/** The first positional argument, which must be one of `actions`. */
function actionOf<A extends string>(input: CommandInput, actions: readonly A[]): A {
  const action = input.positionals[0]
  const known = actions.find((candidate) => candidate === action)
  if (known === undefined) throw new UsageError(`expected one of ${actions.join(', ')}; got ${action ?? 'nothing'}`)
  return known
}

/** The one positional argument after the action, e.g. `<url>`. */
export function singleArgument(input: CommandInput, what: string): string {
  const [, value, ...extra] = input.positionals
  if (value === undefined) throw new UsageError(`missing ${what}`)
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`)
  return value
}

/** Columns padded to their widest cell. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '(none)'
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}

/** JSON with 64-bit integers written as exact numbers. */
export function toJson(value: unknown): string {
  const { rawJSON } = JSON as unknown as { rawJSON(text: string): unknown }
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? rawJSON(item.toString()) : item), 2)
}
