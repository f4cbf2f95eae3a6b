import { loadConfiguration, type LoadedSettings } from '../config/load.ts'
import { resolveSettings, settingWarnings, type SecretNeed, type Settings } from '../config/settings.ts'
import type { CommandInput, OptionSpec } from './command.ts'

/** Flags that set the settings people change most, winning over the file and SYNC_* variables. */
export const SETTING_FLAGS: readonly (OptionSpec & { setting: string[] })[] = [
  { name: 'port', value: 'N', setting: ['port'], description: 'port to listen on (setting port, SYNC_PORT; 0 picks a free one)' },
  { name: 'host', value: 'ADDRESS', setting: ['host'], description: 'address to listen on (setting host, SYNC_HOST; 0.0.0.0 for all)' },
  {
    name: 'database-url',
    value: 'URL',
    setting: ['syncstorage', 'database_url'],
    description: 'storage database (syncstorage.database_url), e.g. sqlite:////var/lib/syncserver/sync.db',
  },
  {
    name: 'public-url',
    value: 'URL',
    setting: ['public_url'],
    description: 'the URL Firefox reaches this server at (public_url), e.g. https://sync.example.com',
  },
]

/** `--config FILE`, the SYNC_* environment and the setting flags, merged; warnings printed. */
export async function loadFor(input: CommandInput): Promise<LoadedSettings> {
  const configFile = typeof input.options.config === 'string' ? input.options.config : undefined
  const values: Record<string, unknown> = {}
  const sources = new Map<string, string>()
  for (const flag of SETTING_FLAGS) {
    const value = input.options[flag.name]
    if (typeof value !== 'string') continue
    const parent = flag.setting.slice(0, -1).reduce<Record<string, unknown>>((node, key) => (node[key] ??= {}) as Record<string, unknown>, values)
    parent[flag.setting.at(-1) as string] = value
    sources.set(flag.setting.join('.'), `--${flag.name}`)
  }
  const loaded = await loadConfiguration({ configFile, overrides: { values, sources } })
  loaded.warnings.push(...settingWarnings(loaded.settings))
  return loaded
}

export function printWarnings(warnings: readonly string[]): void {
  for (const warning of warnings) console.error(`syncserver: warning: ${warning}`)
}

/** Settings for a command; `secret` says whether it uses the master secret (see SecretNeed). */
export async function settingsFor(input: CommandInput, secret: SecretNeed = 'none'): Promise<Settings> {
  const loaded = await loadFor(input)
  printWarnings(loaded.warnings)
  return resolveSettings(loaded.settings, { secret })
}
