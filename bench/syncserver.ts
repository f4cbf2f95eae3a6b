import { freePort, startProcess, type StartOutcome } from './server.ts'

export interface SyncServerOptions {
  binary: string
  /** Runs this instead of `<binary> serve`, e.g. the sources under a profiler (bench/profile.ts). */
  command?: string[]
  databaseUrl: string
  masterSecret: string
  /** Extra SYNC_* settings, e.g. the tokenserver's. Storage-only when absent. */
  env?: Record<string, string>
  /** `workers` (SYNC_WORKERS): 1 by default, so figures compare with a single process; 'default' leaves it unset (one per CPU). */
  workers?: number | 'default'
}

/**
 * Starts the compiled binary the way an operator would, configured only through SYNC_*
 * variables. Inherited SYNC_* variables are dropped so the caller's shell cannot change what is
 * measured.
 */
export async function startSyncServer(options: SyncServerOptions): Promise<StartOutcome> {
  const port = freePort()
  const env: Record<string, string> = {
    SYNC_HOST: '127.0.0.1',
    SYNC_PORT: String(port),
    SYNC_MASTER_SECRET: options.masterSecret,
    SYNC_SYNCSTORAGE__DATABASE_URL: options.databaseUrl,
    SYNC_TOKENSERVER__ENABLED: 'false',
    ...(options.workers === 'default' ? {} : { SYNC_WORKERS: String(options.workers ?? 1) }),
    ...options.env,
  }
  return startProcess({ cmd: options.command ?? [options.binary, 'serve'], env: { ...withoutSyncVariables(), ...env }, port, readyPath: '/__lbheartbeat__' })
}

/** Starts the hello-world `Bun.serve` (bench/hello.ts) under the same Bun that runs the benchmark. */
export async function startHelloWorld(): Promise<StartOutcome> {
  const port = freePort()
  return startProcess({
    cmd: [process.execPath, `${import.meta.dir}/hello.ts`],
    env: { ...withoutSyncVariables(), HELLO_PORT: String(port) },
    port,
    readyPath: '/',
  })
}

function withoutSyncVariables(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^SYNC_/i.test(name)) env[name] = value
  }
  return env
}
