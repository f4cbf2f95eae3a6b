import type { Settings } from './config/settings.ts'
import { explainDatabaseError, openingDatabase } from './config/database-errors.ts'
import { openStorage, openTokenserverDb } from './db/open.ts'
import { spannerOptions } from './db/spanner/settings.ts'
import { parseDatabaseUrl } from './db/url.ts'
import { openWhenReachable } from './db/when-reachable.ts'
import { writeHealth } from './db/retry.ts'
import type { StorageBackend } from './db/types.ts'
import { schedulePurge, type ExpiredRows, type PurgeReport } from './db/purge.ts'
import { createApp } from './app.ts'
import { paceUpload } from './upload-pacing.ts'
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
  /** Which worker of a `serve` this is (1-based), when there are several. */
  worker?: number
}

/**
 * Opens the databases, builds the app and listens. A database whose server cannot be reached
 * yet does not stop the start (it answers 503 until it is back); any other failure to open
 * stops it with a message naming the setting and the fix.
 */
export async function startServer(settings: Settings, options: StartOptions = {}): Promise<RunningServer> {
  const logger =
    options.logger ?? (options.quiet ? silentLogger : createLogger({ human: settings.human_logs ?? false, level: settings.log_level }))
  writeHealth.reportTo(logger)
  await applySqliteDurability(settings)
  const storage = settings.syncstorage.enabled
    ? await openingDatabase('syncstorage.database_url', settings.syncstorage.database_url, () => openStorageWhenReachable(settings, logger))
    : undefined
  const tokenserver = settings.tokenserver.enabled ? await openTokenserver(settings, logger, options.skipNodeBootstrap === true) : undefined
  const metrics =
    settings.statsd_host !== undefined || settings.prometheus_port !== undefined
      ? await (await import('./metrics/index.ts')).openMetrics({ settings, logger, storage, worker: options.worker })
      : undefined
  // One purge per server, however many workers share it: the first worker's.
  const purge = (options.worker ?? 1) === 1 ? startPurge(settings, storage, logger, metrics?.purged) : undefined
  const app = createApp({ settings, logger, storage, tokenserver: tokenserver?.parts, metrics: metrics?.layer, sharedPort: options.reusePort === true })
  const idleSeconds = settings.actix_keep_alive ?? 75
  const timerSeconds = connectionTimerSeconds(idleSeconds)
  const uploads = { stallMs: idleSeconds * 1000, totalMs: settings.upload_timeout * 1000 }
  const upload = async (request: Request, server: Bun.Server<undefined>) => {
    // The body is held to the upload limits instead of Bun's deadline (upload-pacing.ts).
    server.timeout(request, 0)
    paceUpload(request, uploads)
    try {
      return await app.fetch(request)
    } finally {
      // The connection's timer, stopped for the body, would stay stopped for the connection's
      // later idle time too, so it is put back (the response's write restarts it).
      server.timeout(request, timerSeconds)
    }
  }
  const server = Bun.serve({
    hostname: settings.host,
    port: settings.port,
    fetch: (request, server) => (request.body === null ? app.fetch(request) : upload(request, server)),
    // Bun's own limit answers a bare 413; the handlers refuse an oversized Content-Length before
    // reading and stop reading a chunked body at the limit, with the protocol's error bodies.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: timerSeconds,
    reusePort: options.reusePort === true,
  })
  const hostname = server.hostname ?? settings.host
  const url = `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${server.port}`
  const node = tokenserver?.node()
  // The Prometheus listener is not in the start banner (src/cli/banner.ts): one line of its own.
  if (metrics?.prometheusUrl !== undefined) logger.info('metrics', { url: metrics.prometheusUrl, worker: options.worker })
  return {
    url,
    logger,
    ...(node === undefined ? {} : { node }),
    async stop() {
      await purge?.stop()
      await server.stop()
      await Promise.all([storage?.close(), tokenserver?.db.close(), metrics?.close()])
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
  const url = settings.tokenserver.database_url
  let node: InitNodeOutcome | undefined
  const open = async (): Promise<TokenserverDb> => {
    const db = await openTokenserverDb(url, {
      runMigrations: settings.tokenserver.run_migrations,
      poolMaxSize: settings.tokenserver.database_pool_max_size,
      connectionTimeoutSeconds: settings.tokenserver.database_pool_connection_timeout,
    })
    // A tokenserver-only server is no storage node: the nodes are the storage servers'; and
    // another worker may already have made sure of the node.
    if (!settings.syncstorage.enabled || skipNodeBootstrap) return db
    try {
      node = await bootstrapTokenserver(db, {
        url: settings.tokenserver.init_node_url,
        capacity: settings.tokenserver.init_node_capacity,
        configured: settings.initNodeConfigured,
      })
      return db
    } catch (error) {
      await db.close()
      throw error
    }
  }
  const db = await openingDatabase('tokenserver.database_url', url, () =>
    openWhenReachable(open, {
      what: 'tokenserver database',
      logger,
      explain: (error) => explainDatabaseError('tokenserver.database_url', url, error).message,
      placeholders: { engine: tokenserverEngine(url) },
    }),
  )
  // The node is known once the database opened: at start, or later when it becomes reachable.
  return { db, node: () => node, parts: { api: createTokenserverApi({ db, settings, logger }), check: () => db.check() } }
}

/** The storage database, or a stand-in answering 503 until its server answers (see `openWhenReachable`). */
function openStorageWhenReachable(settings: Settings, logger: Logger): Promise<StorageBackend> {
  const { database_url: url, database_pool_max_size: poolMaxSize } = settings.syncstorage
  const open = () =>
    openStorage(url, {
      runMigrations: settings.syncstorage.run_migrations,
      poolMaxSize,
      connectionTimeoutSeconds: settings.syncstorage.database_pool_connection_timeout,
      quotaTotals: settings.syncstorage.enable_quota,
      spanner: spannerOptions(settings.syncstorage),
    })
  return openWhenReachable(open, {
    what: 'storage database',
    logger,
    explain: (error) => explainDatabaseError('syncstorage.database_url', url, error).message,
    placeholders: {
      engine: parseDatabaseUrl(url).engine,
      // Any id gets as far as the transaction, which answers 503 until the database is back.
      isWellFormedBatchId: () => true,
      poolStatus: () => ({ active: 0, idle: 0, max: poolMaxSize }),
      // Read once at start; no engine that can be unreachable declares any.
      limits: undefined,
    },
  })
}

// (A spanner URL never gets this far: opening it fails at once with its own message.)
const tokenserverEngine = (url: string) => parseDatabaseUrl(url).engine as TokenserverDb['engine']

/**
 * What to give Bun for an idle timeout of `idleSeconds`. Bun's connection timer ticks every 4 s
 * on a grid of its own and closes at the ⌈n/4⌉-th tick after it is armed, so `n` alone closes
 * after 4·⌈n/4⌉ − 4 to 4·⌈n/4⌉ s (measured on Bun 1.4.5: `2` closed idle connections after 0.7
 * to 4 s). One tick more makes the setting a floor: the close comes 4·⌈n/4⌉ to 4·⌈n/4⌉ + 4 s
 * after the last response, never before `idleSeconds`.
 */
function connectionTimerSeconds(idleSeconds: number): number {
  const step = 4
  return step * (Math.ceil(idleSeconds / step) + 1)
}

/** SQLite's `synchronous` level, before any SQLite file (storage or tokenserver) is opened. */
async function applySqliteDurability(settings: Settings): Promise<void> {
  const urls = [settings.syncstorage.database_url, settings.tokenserver.database_url]
  if (!urls.some((url) => url !== '' && parseDatabaseUrl(url).engine === 'sqlite')) return
  const { SqliteConnection } = await import('./db/sqlite/connection.ts')
  SqliteConnection.synchronous = settings.syncstorage.sqlite_synchronous
}

/** The background purge of expired data (`syncstorage.purge_ttl_interval`; Spanner's schema does its own). */
function startPurge(
  settings: Settings,
  storage: StorageBackend | undefined,
  logger: Logger,
  purged: ((report: PurgeReport) => void) | undefined,
) {
  const interval = settings.syncstorage.purge_ttl_interval
  if (storage === undefined || storage.engine === 'spanner' || interval === 0) return undefined
  // Looked up at each run: while the database is unreachable, storage is a stand-in
  // (openWhenReachable) without the engine's purge, and it becomes the real backend later.
  const current = (): ExpiredRows => {
    const rows = storage.expiredRows
    if (typeof rows !== 'object') throw new Error('storage database unreachable')
    return rows
  }
  const rows: ExpiredRows = {
    count: (table, expiredBy) => current().count(table, expiredBy),
    sweep: (table, expiredBy) => current().sweep(table, expiredBy),
  }
  return schedulePurge(rows, {
    intervalSeconds: interval,
    chunkSize: settings.syncstorage.purge_ttl_chunk_size,
    onRun(report) {
      purged?.(report)
      const { bsos, batches, batchItems } = report.rows
      if (bsos + batches + batchItems === 0) return
      logger.info('purged expired data', {
        records: bsos,
        batches,
        staged_records: batchItems,
        ms: Math.round(report.durationMs.total),
        longest_chunk_ms: Math.round(report.longestChunkMs),
      })
    },
    onError: (error) => logger.error('purge of expired data failed', { error: String(error) }),
  })
}
