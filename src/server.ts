import type { Settings } from './config/settings.ts'
import { openStorage } from './db/open.ts'
import { redact } from './db/url.ts'
import { createApp } from './http/app.ts'
import { createLogger, silentLogger, type Logger } from './http/logger.ts'
import { largestRequestBytes } from './storage/limits.ts'

export interface RunningServer {
  url: string
  logger: Logger
  /** Stops accepting, lets in-flight requests finish, closes the databases. */
  stop(): Promise<void>
}

/** Opens the databases, builds the app and listens. */
export async function startServer(settings: Settings, options: { quiet?: boolean } = {}): Promise<RunningServer> {
  const logger = options.quiet ? silentLogger : createLogger({ human: settings.human_logs })
  const storage = settings.syncstorage.enabled
    ? await openStorage(settings.syncstorage.database_url, { runMigrations: settings.syncstorage.run_migrations })
    : undefined
  const app = createApp({ settings, logger, storage })
  const server = Bun.serve({
    hostname: settings.host,
    port: settings.port,
    fetch: app.fetch,
    // Room for the largest body any collection accepts; the handlers enforce the real limits.
    maxRequestBodySize: largestRequestBytes(settings.syncstorage.limits) + 1024,
    idleTimeout: settings.actix_keep_alive ?? 75,
  })
  const url = `http://${server.hostname}:${server.port}`
  logger.info('listening', {
    url,
    storage: settings.syncstorage.enabled ? redact(settings.syncstorage.database_url) : 'disabled',
    master_secret: settings.masterSecretSource,
  })
  return {
    url,
    logger,
    async stop() {
      await server.stop()
      await storage?.close()
    },
  }
}
