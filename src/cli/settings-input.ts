import { loadSettings } from '../config/load.ts'
import { resolveSettings, type Settings } from '../config/settings.ts'
import type { CommandInput } from './command.ts'

/** Settings for a command: `--config FILE` (if given) plus the SYNC_* environment. */
export async function settingsFor(input: CommandInput): Promise<Settings> {
  const configFile = typeof input.options.config === 'string' ? input.options.config : undefined
  return resolveSettings(await loadSettings({ configFile }))
}
