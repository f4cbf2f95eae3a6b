import type { Settings } from './config/settings.ts'
import { openStorage, openTokenserverDb } from './db/open.ts'
import { redact } from './db/url.ts'
import { createApp } from './app.ts'
import { createLogger, silentLogger, type Logger } from './http/logger.ts'
import type { TokenserverDb } from './db/tokenserver-types.ts'

export interface RunningServer {
  url: string
  logger: Logger
  /** Stops accepting, lets in-flight requests finish, closes the databases. */
  stop(): Promise<void>
}

export interface StartOptions {
  quiet?: boolean
  /** Share the port with other processes (the workers of one `serve`). */
  reusePort?: boolean
  /** Leave the tokenserver's node alone: another worker already made sure of it. */
  skipNodeBootstrap?: boolean
}

/** Opens the databases, builds the app and listens. */
export async function startServer(settings: Settings, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.quiet ? silentLogger : createLogger({ human: settings.human_logs })
  const storage = settings.syncstorage.enabled
    ? await openStorage(settings.syncstorage.database_url, {
        runMigrations: settings.syncstorage.run_migrations,
        poolMaxSize: settings.syncstorage.database_pool_max_size,
        connectionTimeoutSeconds: settings.syncstorage.database_pool_connection_timeout,
        quotaTotals: settings.syncstorage.enable_quota,
      })
    : undefined
  const tokenserver = settings.tokenserver.enabled ? await openTokenserver(settings, logger, options.skipNodeBootstrap === true) : undefined
  const app = createApp({ settings, logger, storage, tokenserver: tokenserver?.parts })
  const server = Bun.serve({
    hostname: settings.host,
    port: settings.port,
    fetch: app.fetch,
    // Bun's own limit answers a bare 413; the handlers refuse an oversized Content-Length before
    // reading and stop reading a chunked body at the limit, with the protocol's error bodies.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: settings.actix_keep_alive ?? 75,
    reusePort: options.reusePort === true,
  })
  const url = `http://${server.hostname}:${server.port}`
  logger.info('listening', {
    url,
    storage: settings.syncstorage.enabled ? redact(settings.syncstorage.database_url) : 'disabled',
    tokenserver: settings.tokenserver.enabled ? redact(settings.tokenserver.database_url) : 'disabled',
    master_secret: settings.masterSecretSource,
  })
  if (settings.tokenserver.enabled) {
    logger.info(`Firefox setting: identity.sync.tokenserver.uri = ${settings.public_url}/1.0/sync/1.5`, {
      hint: 'set it in about:config before signing in to Sync',
    })
  }
  return {
    url,
    logger,
    async stop() {
      await server.stop()
      await Promise.all([storage?.close(), tokenserver?.db.close()])
    },
  }
}

/**
 * Opens the tokenserver database, makes sure this server is a storage node, builds the API.
 * Loaded only when enabled: a storage-only node never pays for the tokenserver (and jose).
 */
async function openTokenserver(settings: Settings, logger: Logger, skipNodeBootstrap: boolean) {
  const [{ bootstrapTokenserver }, { createTokenserverApi }] = await Promise.all([
    import('./tokenserver/bootstrap.ts'),
    import('./tokenserver/api.ts'),
  ])
  const db: TokenserverDb = await openTokenserverDb(settings.tokenserver.database_url, {
    runMigrations: settings.tokenserver.run_migrations,
    poolMaxSize: settings.tokenserver.database_pool_max_size,
    connectionTimeoutSeconds: settings.tokenserver.database_pool_connection_timeout,
  })
  if (!skipNodeBootstrap) {
    const outcome = await bootstrapTokenserver(db, {
      url: settings.tokenserver.init_node_url,
      capacity: settings.tokenserver.init_node_capacity,
      configured: settings.initNodeConfigured,
    })
    logger.info('storage node', { ...outcome })
  }
  return { db, parts: { api: createTokenserverApi({ db, settings, logger }), check: () => db.check() } }
}
