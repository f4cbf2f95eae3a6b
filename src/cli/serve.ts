import type { Command } from './command.ts'
import { CONFIG_OPTION } from './command.ts'
import { settingsFor } from './settings-input.ts'
import { reportReady, startWorkDone, superviseWorkers, workerCount, workerNumber } from './workers.ts'

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the Sync server (the default command)',
  options: [CONFIG_OPTION],
  async run(input) {
    const settings = await settingsFor(input)
    const worker = workerNumber() !== undefined
    const workers = worker ? 1 : workerCount(settings)
    if (workers > 1) return superviseWorkers(settings, workers)
    const { startServer } = await import('../server.ts')
    const server = await startServer(settings, { reusePort: worker, skipNodeBootstrap: startWorkDone() })
    let stopping = false
    const stop = (signal: string) => {
      // A worker under systemd gets SIGTERM twice (from the unit's cgroup and its supervisor).
      if (stopping) return
      stopping = true
      server.logger.info('shutting down', { signal })
      server.stop().then(
        () => process.exit(0),
        (error) => {
          server.logger.error('shutdown failed', { error: String(error) })
          process.exit(1)
        },
      )
    }
    // Installed after every driver import: Spanner's own handlers would keep the process alive.
    process.removeAllListeners('SIGTERM')
    process.removeAllListeners('SIGINT')
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    if (worker) reportReady(Number(new URL(server.url).port), stop)
    // Start-up garbage (configuration, migrations, schemas) would otherwise stay resident until
    // traffic triggers a collection, and an idle self-hosted server may see none for hours.
    // Collected a moment later, so the first health check does not wait for it; shrink() then
    // hands the freed heap back (~0.6 MB). It is marked deprecated, hence called only if present.
    const { shrink } = Bun as { shrink?: () => void }
    setTimeout(() => {
      Bun.gc(true)
      shrink?.call(Bun)
    }, 500).unref()
    // The listening server keeps the process alive until a signal stops it.
    return 0
  },
}
