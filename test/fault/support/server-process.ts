import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { freePorts } from '../../support/server-process.ts'
import { SyncClient } from '../../support/sync-client.ts'

const ROOT = join(import.meta.dir, '../../..')

/** `syncserver serve` as its own process, so a fault that kills it shows as an exit, not a failed test runner. */
export interface ServerProcess {
  origin: string
  masterSecret: string
  pid: number
  /** The exit code once it exited, else null. */
  exitCode(): number | null
  output(): string
  /** Resolves with true once the output holds `text` (false after `timeoutMs`): the server writes its log as it can, not as it answers. */
  waitForOutput(text: string, timeoutMs: number): Promise<boolean>
  client(uid?: number): SyncClient
  /** Resolves with true once GET `path` answers `status` (false after `timeoutMs`). */
  waitFor(path: string, status: number, timeoutMs: number): Promise<boolean>
  kill(signal?: NodeJS.Signals): Promise<void>
}

export interface ServerProcessOptions {
  databaseUrl: string
  tokenserverDatabaseUrl?: string
  env?: Record<string, string>
  masterSecret?: string
  port?: number
}

export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const port = options.port ?? (await freePorts(1))[0]!
  const masterSecret = options.masterSecret ?? randomBytes(32).toString('hex')
  const origin = `http://127.0.0.1:${port}`
  const tokenserver = options.tokenserverDatabaseUrl
  const child = Bun.spawn([process.execPath, join(ROOT, 'src/main.ts'), 'serve'], {
    cwd: ROOT,
    env: {
      PATH: Bun.env.PATH ?? '/usr/bin:/bin',
      SYNC_HOST: '127.0.0.1',
      SYNC_PORT: String(port),
      SYNC_MASTER_SECRET: masterSecret,
      SYNC_HUMAN_LOGS: 'true',
      // One process, so a SIGKILL or a crash hits the process that serves (not a supervisor).
      SYNC_WORKERS: '1',
      SYNC_SYNCSTORAGE__DATABASE_URL: options.databaseUrl,
      SYNC_SYNCSTORAGE__DATABASE_POOL_CONNECTION_TIMEOUT: '3',
      ...(tokenserver === undefined
        ? {}
        : {
            SYNC_TOKENSERVER__ENABLED: 'true',
            SYNC_TOKENSERVER__DATABASE_URL: tokenserver,
            SYNC_TOKENSERVER__DATABASE_POOL_CONNECTION_TIMEOUT: '3',
            SYNC_TOKENSERVER__FXA_EMAIL_DOMAIN: 'example.com',
            SYNC_TOKENSERVER__INIT_NODE_URL: origin,
          }),
      ...options.env,
    },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let text = ''
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true })
  }
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)])
  const server: ServerProcess = {
    origin,
    masterSecret,
    pid: child.pid,
    exitCode: () => child.exitCode,
    output: () => text,
    async waitForOutput(wanted, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      while (!text.includes(wanted) && Date.now() < deadline) await Bun.sleep(20)
      return text.includes(wanted)
    },
    client: (uid) => new SyncClient(origin, masterSecret, uid),
    async waitFor(path, status, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline && child.exitCode === null) {
        const got = await fetch(`${origin}${path}`, { signal: AbortSignal.timeout(2000) }).then(
          (response) => response.status,
          () => 0,
        )
        if (got === status) return true
        await Bun.sleep(50)
      }
      return false
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(5000).then(() => false)])
      if (!exited) child.kill('SIGKILL')
      await child.exited
      await drained
    },
  }
  return server
}
