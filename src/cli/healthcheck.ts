import { derivedPublicUrl } from '../config/settings.ts'
import type { Command, CommandInput } from './command.ts'
import { CONFIG_OPTION, parseArgs } from './command.ts'
import { loadFor, SETTING_FLAGS } from './settings-input.ts'

/** For container HEALTHCHECKs: the image has no curl, the binary asks itself. */
export const healthcheckCommand: Command = {
  name: 'healthcheck',
  summary: 'exit 0 when the local server answers /__lbheartbeat__ with 200, 1 otherwise',
  options: [
    { ...CONFIG_OPTION, description: "read host and port from this TOML file (default: the serving container process's --config)" },
    { name: 'url', value: 'URL', description: 'server origin (default: from the host and port settings)' },
  ],
  async run(input) {
    const origin = typeof input.options.url === 'string' ? input.options.url : await localOrigin(input)
    try {
      const response = await fetch(`${origin.replace(/\/+$/, '')}/__lbheartbeat__`, { signal: AbortSignal.timeout(3000) })
      console.log(`${response.status} ${await response.text()}`)
      return response.ok ? 0 : 1
    } catch (error) {
      console.error(`syncserver: healthcheck: ${origin} unreachable: ${(error as Error).message}`)
      return 1
    }
  },
}

async function localOrigin(input: CommandInput): Promise<string> {
  const given = typeof input.options.config === 'string'
  const { settings } = await loadFor(given ? input : ((await servingProcessInput()) ?? input))
  return derivedPublicUrl(settings.host === '::' ? '::1' : settings.host, settings.port)
}

/**
 * The settings arguments of the `syncserver serve` that runs as PID 1, i.e. in a container: a
 * HEALTHCHECK runs in the same container and environment, so reading its `--config`, `--port`
 * and `--host` makes the check follow however the server was started.
 */
export async function servingProcessInput(cmdline = '/proc/1/cmdline'): Promise<CommandInput | undefined> {
  // Not Bun.file: it reads as many bytes as stat reports, and a /proc file reports none.
  const { readFileSync } = await import('node:fs')
  let text: string
  try {
    text = readFileSync(cmdline, 'utf8')
  } catch {
    return undefined
  }
  const [program = '', ...args] = text.split('\0').filter((arg) => arg !== '')
  if (!/(^|\/)syncserver[^/]*$/.test(program)) return undefined
  try {
    return parseArgs(args[0] === 'serve' ? args.slice(1) : args, [CONFIG_OPTION, ...SETTING_FLAGS])
  } catch {
    return undefined
  }
}
