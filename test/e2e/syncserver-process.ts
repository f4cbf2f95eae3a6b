/**
 * Runs the compiled server (`dist/syncserver serve`) as a child process configured only through
 * SYNC_* variables, the way an operator would, with storage and tokenserver in one SQLite file.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { freePorts, startServerProcess } from '../support/server-process.ts'
import { parseRequestLog, type LoggedRequest } from './request-log.ts'

export { freePorts }

export interface SyncServerOptions {
  binary: string
  /** Working directory for the process and its database; created if missing. */
  dir: string
  fxaUrl: string
  maxPostRecords?: number
}

export interface SyncServer {
  origin: string
  /** What Firefox's `identity.sync.tokenserver.uri` must be. */
  tokenserverUri: string
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string
  requests(): LoggedRequest[]
  stop(): Promise<void>
}

export function serverEnv(options: SyncServerOptions, port: number): Record<string, string> {
  const databaseUrl = `sqlite:///${join(options.dir, 'sync.db')}`
  return {
    SYNC_HOST: '127.0.0.1',
    SYNC_PORT: String(port),
    SYNC_MASTER_SECRET: randomBytes(32).toString('hex'),
    SYNC_SYNCSTORAGE__DATABASE_URL: databaseUrl,
    SYNC_TOKENSERVER__ENABLED: 'true',
    SYNC_TOKENSERVER__DATABASE_URL: databaseUrl,
    SYNC_TOKENSERVER__FXA_OAUTH_SERVER_URL: options.fxaUrl,
    SYNC_TOKENSERVER__FXA_EMAIL_DOMAIN: 'api-accounts.stage.mozaws.net',
    SYNC_TOKENSERVER__INIT_NODE_URL: `http://127.0.0.1:${port}`,
    SYNC_HUMAN_LOGS: 'true',
    ...(options.maxPostRecords === undefined ? {} : { SYNC_SYNCSTORAGE__LIMITS__MAX_POST_RECORDS: String(options.maxPostRecords) }),
  }
}

/**
 * Starts the server on a free loopback port and resolves once `/__heartbeat__` answers 200.
 *
 * @example
 * const server = await startSyncServer({ binary: 'dist/syncserver', dir, fxaUrl: fxa.url })
 * // Firefox pref identity.sync.tokenserver.uri = server.tokenserverUri
 */
export async function startSyncServer(options: SyncServerOptions): Promise<SyncServer> {
  mkdirSync(options.dir, { recursive: true })
  const [port] = (await freePorts(1)) as [number]
  const server = await startServerProcess({
    command: [options.binary, 'serve'],
    cwd: options.dir,
    env: serverEnv(options, port),
    port,
  })
  const origin = server.origin
  return {
    origin,
    tokenserverUri: `${origin}/1.0/sync/1.5`,
    output: server.output,
    requests: () => parseRequestLog(server.output()),
    stop: async () => {
      await server.stop()
    },
  }
}
