import type { Command } from './command.ts'
import { CONFIG_OPTION } from './command.ts'
import { settingsFor } from './settings-input.ts'

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'create or upgrade the storage and tokenserver database schemas (safe to re-run)',
  options: [CONFIG_OPTION],
  async run(input) {
    const settings = await settingsFor(input)
    const { migrateAll } = await import('../db/migrate-all.ts')
    for (const line of await migrateAll(settings)) console.log(line)
    return 0
  },
}
