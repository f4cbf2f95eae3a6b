import { afterAll, beforeAll } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { parseSettings } from '../../src/config/load.ts'
import { resolveSettings } from '../../src/config/settings.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { SETUP_TIMEOUT_MS, type TestBackend } from './backends.ts'
import { BINARY, emptyDir, freePort, run } from './binary.ts'
import { startServerProcess } from './server-process.ts'
import { emulatorHost } from './spanner-emulator.ts'
import { SyncClient, type ClientOptions } from './sync-client.ts'

export interface TestServer {
  url: string
  masterSecret: string
  /** A client for a fresh user (or the given uid). */
  client(uid?: number, options?: ClientOptions): SyncClient
  stop(): Promise<void>
}

type SettingsTree = Record<string, unknown>

/**
 * Starts the real server in this process on a free loopback port, with the given settings on
 * top of a test baseline (quiet logs, random master secret).
 */
export async function startTestServer(databaseUrl: string, overrides: SettingsTree = {}, how: { binary?: boolean } = {}): Promise<TestServer> {
  const masterSecret = randomBytes(16).toString('hex')
  // A Spanner URL of the tests names a database on this process's emulator.
  const emulator = databaseUrl.startsWith('spanner:') ? { spanner_emulator_host: await emulatorHost() } : {}
  const tree = merge(
    {
      host: '127.0.0.1',
      port: 0,
      master_secret: masterSecret,
      // No background purge (src/db/purge.ts) under the tests' feet; test/purge turns it on.
      syncstorage: { database_url: databaseUrl, ...emulator, purge_ttl_interval: 0 },
      tokenserver: { enabled: false },
    },
    overrides,
  )
  if (servedByBinary || how.binary === true) return startBinaryServer(tree, String(tree.master_secret))
  const settings = await resolveSettings(parseSettings(tree))
  const server: RunningServer = await startServer(settings, { quiet: true })
  return {
    url: server.url,
    masterSecret: settings.master_secret,
    client: (uid, options) => new SyncClient(server.url, settings.master_secret, uid, options),
    stop: () => server.stop(),
  }
}

/** Tests that move this process's clock (setSystemTime) need the server in this process. */
export const servedByBinary = process.env.SYNCSERVER_TEST_SERVER === 'binary'

/**
 * SYNCSERVER_TEST_SERVER=binary: the same settings as a config file for `dist/syncserver serve`
 * (built beforehand), after `dist/syncserver prepare-spanner` on a Spanner URL, so a suite
 * proves what an operator runs, not only the sources.
 */
async function startBinaryServer(tree: SettingsTree, masterSecret: string): Promise<TestServer> {
  const port = await freePort()
  const dir = emptyDir()
  const config = join(dir, 'syncserver.toml')
  // Request lines would pile up in the collected output of a whole suite.
  await Bun.write(config, toToml(merge(tree, { port, log_requests: false })))
  const databaseUrl = String((tree.syncstorage as SettingsTree).database_url)
  if (databaseUrl.startsWith('spanner:')) {
    const prepared = await run(['prepare-spanner', '--config', config], dir)
    if (prepared.code !== 0) throw new Error(`dist/syncserver prepare-spanner failed:\n${prepared.stdout}${prepared.stderr}`)
  }
  const server = await startServerProcess({ command: [BINARY, 'serve', '--config', config], cwd: dir, env: {}, port })
  const url = server.origin
  return {
    url,
    masterSecret,
    client: (uid, options) => new SyncClient(url, masterSecret, uid, options),
    stop: async () => {
      await server.stop()
    },
  }
}

/** TOML for a settings tree: scalars and arrays first, then each table under its dotted name. */
function toToml(tree: SettingsTree, table = ''): string {
  const isTable = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value)
  const lines: string[] = table === '' ? [] : [`[${table}]`]
  for (const [key, value] of Object.entries(tree)) {
    if (value !== undefined && !isTable(value)) lines.push(`${key} = ${JSON.stringify(value)}`)
  }
  const tables = Object.entries(tree).filter(([, value]) => isTable(value))
  return [lines.join('\n'), ...tables.map(([key, value]) => toToml(value as SettingsTree, table === '' ? key : `${table}.${key}`))].join('\n\n')
}

function merge(base: SettingsTree, override: SettingsTree): SettingsTree {
  const out: SettingsTree = { ...base }
  for (const [key, value] of Object.entries(override)) {
    const existing = out[key]
    const bothObjects = [existing, value].every((item) => typeof item === 'object' && item !== null && !Array.isArray(item))
    out[key] = bothObjects ? merge(existing as SettingsTree, value as SettingsTree) : value
  }
  return out
}

/**
 * One real server on a fresh database of `backend` for the enclosing describe block: started
 * before its tests, stopped after them.
 */
export function serverForSuite(backend: TestBackend, overrides: SettingsTree = {}): TestServer {
  let running: TestServer | undefined
  beforeAll(async () => {
    running = await startTestServer(await backend.freshDatabaseUrl(), overrides)
  }, SETUP_TIMEOUT_MS)
  afterAll(() => running?.stop(), SETUP_TIMEOUT_MS)
  const current = (): TestServer => {
    if (running === undefined) throw new Error('the suite server is not running')
    return running
  }
  return {
    get url() {
      return current().url
    },
    get masterSecret() {
      return current().masterSecret
    },
    client: (uid, options) => current().client(uid, options),
    stop: () => current().stop(),
  }
}
