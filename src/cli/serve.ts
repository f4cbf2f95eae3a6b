import { resolveSettings } from '../config/settings.ts'
import { ConfigError } from '../config/load.ts'
import { createLogger, stdoutIsTerminal } from '../http/logger.ts'
import type { Command } from './command.ts'
import { CONFIG_OPTION } from './command.ts'
import { nodeWarning, startBanner } from './banner.ts'
import { loadFor, SETTING_FLAGS } from './settings-input.ts'
import { reportReady, startWorkDone, superviseWorkers, workerCount, workerNumber } from './workers.ts'

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the Sync server (the default command)',
  options: [CONFIG_OPTION, ...SETTING_FLAGS],
  async run(input) {
    const loaded = await loadFor(input)
    const worker = workerNumber() !== undefined
    const human = loaded.settings.human_logs ?? (await stdoutIsTerminal())
    const logger = createLogger({ human, level: loaded.settings.log_level })
    // The supervisor speaks for its workers, which read the same settings.
    if (!worker) for (const warning of loaded.warnings) logger.warn(warning)
    // Nothing is written (secret, database, node) before the address is known to be free. A
    // worker takes the port its supervisor claimed (SYNC_PORT), whatever --port says.
    const port = worker ? Number(process.env.SYNC_PORT) : await claimPort(loaded.settings.host, loaded.settings.port)
    const raw = { ...loaded.settings, port, human_logs: human }
    const workers = worker ? 1 : workerCount(await resolveSettings(raw, { secret: 'none' }))
    // A supervisor serves nothing: its first worker generates the secret, if one is needed.
    if (workers > 1) return superviseWorkers(await resolveSettings(raw, { secret: 'none' }), workers)
    const settings = await resolveSettings(raw, { secret: 'create' })
    const { startServer } = await import('../server.ts')
    const firstStart = !startWorkDone()
    const server = await startServer(settings, { logger, reusePort: worker, skipNodeBootstrap: !firstStart, worker: workerNumber() })
    // The banner once per serve: from the single process, or the worker that did the start work.
    if (firstStart) {
      const banner = startBanner(settings, server.url, server.node)
      logger.notice('listening', banner.lines, banner.fields)
      const warning = nodeWarning(server.node)
      if (warning) logger.warn(warning)
    } else {
      logger.info('listening', { url: server.url, worker: workerNumber() })
    }
    let stopping = false
    const stop = (signal: string) => {
      // A worker under systemd gets SIGTERM twice (from the unit's cgroup and its supervisor).
      if (stopping) return
      stopping = true
      logger.info('shutting down', { signal })
      server.stop().then(
        () => process.exit(0),
        (error) => {
          logger.error('shutdown failed', { error: String(error) })
          process.exit(1)
        },
      )
    }
    // Installed after every driver import: Spanner's own handlers would keep the process alive.
    // SIGHUP (the terminal closed) stops gracefully too, rather than killing requests in flight.
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.removeAllListeners(signal)
      process.on(signal, () => stop(signal))
    }
    if (worker) reportReady(Number(new URL(server.url).port), stop)
    // Start-up garbage (configuration, migrations, schemas) would otherwise stay resident until
    // traffic triggers a collection, and an idle self-hosted server may see none for hours.
    // Collected a moment later, so the first health check does not wait for it; shrink() then
    // hands the freed heap back (~0.6 MB). It is marked deprecated, hence called only if present.
    // The JIT gets its normal policy back at the same moment (see normalJitPolicy).
    const { shrink } = Bun as { shrink?: () => void }
    setTimeout(() => {
      Bun.gc(true)
      shrink?.call(Bun)
      normalJitPolicy()
    }, 500).unref()
    // The listening server keeps the process alive until a signal stops it.
    return 0
  },
}

/**
 * Binds `host:port` for a moment: proves the address is usable before anything is written, and
 * turns port 0 into the port the system picked, so the node and the printed URLs carry it.
 */
async function claimPort(host: string, port: number): Promise<number> {
  try {
    const probe = Bun.serve({ hostname: host, port, fetch: () => new Response(null, { status: 503 }) })
    const claimed = probe.port as number
    await probe.stop(true)
    return claimed
  } catch (error) {
    throw new ConfigError(listenProblem(host, port, error))
  }
}

function listenProblem(host: string, port: number, error: unknown): string {
  const code = (error as { code?: string }).code
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
  switch (code) {
    case 'EADDRINUSE':
      return `cannot listen on ${where} (settings host and port): another program uses port ${port}. Fix: stop it, or choose another port: syncserver serve --port ${port + 1} (or SYNC_PORT, port in the config file)`
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return `cannot listen on ${where}: ${host} is not an address of this machine (setting host, SYNC_HOST). Fix: use 127.0.0.1 (this machine only), 0.0.0.0 (all IPv4 addresses) or :: (all addresses)`
    case 'EACCES':
      return `cannot listen on ${where}: ports below 1024 need privileges (setting port, SYNC_PORT). Fix: use a port such as 8000 and put a reverse proxy on 443`
    default:
      return `cannot listen on ${where} (settings host and port): ${(error as Error).message}`
  }
}

/**
 * The compiled binary starts with JavaScriptCore's tier-up thresholds raised (package.json's
 * build: --compile-jit-policy), so code that runs only at start (settings, migrations, building
 * the statements, the router's first match) stays in the interpreter: compiling it pulled ~3 MB
 * of the JIT compilers' code and ~1 MB of their data into an idle server that never runs it
 * again (idle RSS 50.1 -> 45.9 MB with workers = 1). Requests after the first half second get
 * the normal policy; every command but `serve` gets it at once (main.ts). A supervisor of
 * workers keeps the start-up policy: it serves nothing.
 */
export function normalJitPolicy(): void {
  Bun.unsafe.setJITPolicy(1)
}
