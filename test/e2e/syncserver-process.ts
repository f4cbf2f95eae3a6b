/**
 * Runs the compiled server (`dist/syncserver serve`) as a child process configured only through
 * SYNC_* variables, the way an operator would, with storage and tokenserver in one SQLite file.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { join } from 'node:path'
import { parseRequestLog, type LoggedRequest } from './request-log.ts'

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

/**
 * Ports that were free a moment ago; good enough on loopback in a test. All probes stay open until
 * every port is picked, so one call never hands out the same port twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const probes = await Promise.all(Array.from({ length: count }, () => listenOnAnyPort()))
  const ports = probes.map((probe) => (probe.address() as AddressInfo).port)
  await Promise.all(probes.map((probe) => new Promise((resolve) => probe.close(resolve))))
  return ports
}

function listenOnAnyPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => resolve(probe))
  })
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

async function collect(stream: ReadableStream<Uint8Array>, sink: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder()
  for await (const chunk of stream) sink(decoder.decode(chunk, { stream: true }))
}

async function waitForHeartbeat(origin: string, child: Bun.Subprocess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`syncserver exited with ${child.exitCode} before it was ready:\n${output()}`)
    const status = await fetch(`${origin}/__heartbeat__`).then((r) => r.status, () => 0)
    if (status === 200) return
    await Bun.sleep(100)
  }
  throw new Error(`syncserver: GET /__heartbeat__ did not answer 200 within ${timeoutMs} ms:\n${output()}`)
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
  const origin = `http://127.0.0.1:${port}`
  const child = Bun.spawn([options.binary, 'serve'], {
    cwd: options.dir,
    env: { PATH: Bun.env.PATH ?? '/usr/bin:/bin', ...serverEnv(options, port) },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let text = ''
  const append = (chunk: string): void => {
    text += chunk
  }
  const drained = Promise.all([collect(child.stdout, append), collect(child.stderr, append)])
  const output = (): string => text

  const stop = async (): Promise<void> => {
    child.kill('SIGTERM')
    const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(5_000).then(() => false)])
    if (!exited) child.kill('SIGKILL')
    await drained
  }

  try {
    await waitForHeartbeat(origin, child, output, 30_000)
  } catch (error) {
    await stop()
    throw error
  }
  return {
    origin,
    tokenserverUri: `${origin}/1.0/sync/1.5`,
    output,
    requests: () => parseRequestLog(text),
    stop,
  }
}
