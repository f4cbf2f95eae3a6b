import { allSettingPaths } from '../config/known-settings.ts'
import { resolveSettings, type Settings } from '../config/settings.ts'
import { redact } from '../db/url.ts'
import { describeDatabase } from './banner.ts'
import type { Command } from './command.ts'
import { CONFIG_OPTION } from './command.ts'
import { loadFor, printWarnings, SETTING_FLAGS } from './settings-input.ts'

/** Settings whose values are never printed. */
const SECRET = /(^|\.)(master_secret|previous_master_secrets|fxa_metrics_hash_secret)$|secret|password/

/** Settings the server fills in when unset, and from what. */
const DERIVED: Record<string, string> = {
  public_url: 'derived from host and port',
  'tokenserver.database_url': 'derived: the storage database',
  'tokenserver.init_node_url': 'derived: public_url',
  'tokenserver.node_type': 'derived from the storage database URL',
  'syncstorage.limits.max_request_bytes': 'derived: max_post_bytes + 4096',
  'syncstorage.limits.max_total_bytes': 'derived: 100 × max_post_bytes',
}

/** `syncserver config`: every setting, its effective value and where it came from. */
export const configCommand: Command = {
  name: 'config',
  summary: 'print every effective setting (secrets hidden) and where each came from; writes nothing',
  options: [CONFIG_OPTION, ...SETTING_FLAGS],
  async run(input) {
    const loaded = await loadFor(input)
    printWarnings(loaded.warnings)
    const settings = await resolveSettings(loaded.settings, { secret: 'read' })
    console.log(formatSettings(settings, loaded.sources))
    return 0
  },
}

/** TOML a person can read (and copy into a config file), with the source of each line. */
export function formatSettings(settings: Settings, sources: ReadonlyMap<string, string>): string {
  const lines: string[] = []
  let section = ''
  for (const path of allSettingPaths()) {
    const table = path.slice(0, -1).join('.')
    if (table !== section) {
      lines.push('', `[${table}]`)
      section = table
    }
    const dotted = path.join('.')
    const value = path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], settings)
    const source = sources.get(dotted) ?? (DERIVED[dotted] && value !== undefined ? DERIVED[dotted] : 'default')
    const key = path.at(-1) as string
    const assignment = value === undefined ? `# ${key} = (unset)` : `${key} = ${display(dotted, value, settings)}`
    lines.push(`${assignment.padEnd(60)} # ${source}`)
  }
  return lines.join('\n').trim()
}

function display(setting: string, value: unknown, settings: Settings): string {
  if (setting === 'master_secret') return secretDisplay(settings)
  if (SECRET.test(setting)) return Array.isArray(value) ? `[${value.map(() => '"(hidden)"').join(', ')}]` : '"(hidden)"'
  if (setting.endsWith('database_url') && typeof value === 'string' && value !== '') {
    return `${JSON.stringify(redact(value))}  # = ${describeDatabase(value)}`
  }
  return typeof value === 'bigint' ? value.toString() : JSON.stringify(value)
}

function secretDisplay(settings: Settings): string {
  switch (settings.masterSecretSource) {
    case 'configured':
      return '"(hidden)"'
    case 'stored':
      return `"(hidden)"  # kept in ${settings.masterSecretFile}`
    default:
      return settings.masterSecretFile ? `"(generated at first start)"  # into ${settings.masterSecretFile}` : '"(generated at start)"'
  }
}
