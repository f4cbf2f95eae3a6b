import type { Command } from './command.ts'
import { CONFIG_OPTION } from './command.ts'
import { loadSettings } from '../config/load.ts'

/** For container HEALTHCHECKs: the image has no curl, the binary asks itself. */
export const healthcheckCommand: Command = {
  name: 'healthcheck',
  summary: 'exit 0 when the local server answers /__lbheartbeat__ with 200, 1 otherwise',
  options: [CONFIG_OPTION, { name: 'url', value: 'URL', description: 'server origin (default: from host and port settings)' }],
  async run(input) {
    const configFile = typeof input.options.config === 'string' ? input.options.config : undefined
    const origin = typeof input.options.url === 'string' ? input.options.url : await localOrigin(configFile)
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

async function localOrigin(configFile: string | undefined): Promise<string> {
  const settings = await loadSettings({ configFile })
  const host = settings.host === '0.0.0.0' || settings.host === '::' ? '127.0.0.1' : settings.host
  return `http://${host.includes(':') ? `[${host}]` : host}:${settings.port}`
}
