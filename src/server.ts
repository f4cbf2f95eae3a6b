import type { Settings } from './config/settings.ts'
import { openStorage, openTokenserverDb } from './db/open.ts'
import { openingDatabase } from './config/database-errors.ts'
import { spannerOptions } from './db/spanner/settings.ts'
import { createApp } from './app.ts'
import { createLogger, silentLogger, type Logger } from './http/logger.ts'
import type { TokenserverDb } from './db/tokenserver-types.ts'
import type { InitNodeOutcome } from './tokenserver/bootstrap.ts'

export interface RunningServer {
  url: string
  logger: Logger
  /** What the tokenserver did about this server's storage node at start, if it registers one. */
  node?: InitNodeOutcome
  /** Stops accepting, lets in-flight requests finish, closes the databases. */
  stop(): Promise<void>
}

export interface StartOptions {
  quiet?: boolean
  /** Where to log; by default a logger made from the settings (or none when quiet). */
  logger?: Logger
  /** Share the port with other processes (the workers of one `serve`). */
  reusePort?: boolean
  /** Leave the tokenserver's node alone: another worker already made sure of it. */
  skipNodeBootstrap?: boolean
}

/** Opens the databases, builds the app and listens. */
export async function startServer(settings: Settings, options: StartOptions = {}): Promise<RunningServer> {
  const logger =
    options.logger ?? (options.quiet ? silentLogger : createLogger({ human: settings.human_logs ?? false, level: settings.log_level }))
  const storage = settings.syncstorage.enabled
    ? await openingDatabase('syncstorage.database_url', settings.syncstorage.database_url, () =>
        openStorage(settings.syncstorage.database_url, {
          runMigrations: settings.syncstorage.run_migrations,
          poolMaxSize: settings.syncstorage.database_pool_max_size,
          connectionTimeoutSeconds: settings.syncstorage.database_pool_connection_timeout,
          quotaTotals: settings.syncstorage.enable_quota,
          spanner: spannerOptions(settings.syncstorage),
        }),
      )
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
  const hostname = server.hostname ?? settings.host
  const url = `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${server.port}`
  return {
    url,
    logger,
    ...(tokenserver?.node === undefined ? {} : { node: tokenserver.node }),
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
  const db: TokenserverDb = await openingDatabase('tokenserver.database_url', settings.tokenserver.database_url, () =>
    openTokenserverDb(settings.tokenserver.database_url, {
      runMigrations: settings.tokenserver.run_migrations,
      poolMaxSize: settings.tokenserver.database_pool_max_size,
      connectionTimeoutSeconds: settings.tokenserver.database_pool_connection_timeout,
    }),
  )
  // A tokenserver-only server is no storage node: the nodes are the storage servers'; and
  // another worker may already have made sure of the node.
  const node = settings.syncstorage.enabled && !skipNodeBootstrap
    ? await bootstrapTokenserver(db, {
        url: settings.tokenserver.init_node_url,
        capacity: settings.tokenserver.init_node_capacity,
        configured: settings.initNodeConfigured,
      })
    : undefined
  return { db, node, parts: { api: createTokenserverApi({ db, settings, logger }), check: () => db.check() } }
}
