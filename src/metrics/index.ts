import type { Settings } from '../config/settings.ts'
import type { PurgeReport } from '../db/purge.ts'
import type { StorageBackend } from '../db/types.ts'
import { isSyncError } from '../errors.ts'
import type { Logger } from '../http/logger.ts'
import type { Layer } from '../http/middleware/layers.ts'
import { methodLabel, requestMetrics, type RequestRecorder } from './request-metrics.ts'
import { storageOperations } from './routes.ts'
import type { StatsdEmitter } from './statsd.ts'

/** How often the pool gauges go to StatsD, as the reference does. */
const GAUGE_INTERVAL_MS = 10_000

export interface Metrics {
  /** The request layer the app installs. */
  layer: Layer
  /** Where the Prometheus endpoint listens, when it is on. */
  prometheusUrl?: string
  /** A background purge finished. */
  purged(report: PurgeReport): void
  close(): Promise<void>
}

export interface MetricsParts {
  settings: Settings
  logger: Logger
  storage?: StorageBackend
  /**
   * Which worker of a `serve` this is (1-based): each worker has its own Prometheus endpoint, on
   * prometheus_port + worker − 1, since a scrape must see one process's counters whole.
   */
  worker?: number
  /** For tests: how soon buffered StatsD metrics go out. */
  statsdFlushMs?: number
}

/**
 * StatsD (when `statsd_host` is set) and Prometheus (when `prometheus_port` is set), or
 * undefined when neither is: then nothing of this is loaded and requests carry no layer.
 */
export async function openMetrics(parts: MetricsParts): Promise<Metrics | undefined> {
  const { settings } = parts
  if (settings.statsd_host === undefined && settings.prometheus_port === undefined) return undefined
  const recorders: RequestRecorder[] = []
  const onPurge: ((report: PurgeReport) => void)[] = []
  const closers: (() => Promise<void> | void)[] = []
  let prometheusUrl: string | undefined

  if (settings.statsd_host !== undefined) {
    const { StatsdClient } = await import('./statsd.ts')
    let warned = false
    const client = new StatsdClient({
      host: settings.statsd_host,
      port: settings.statsd_port,
      flushIntervalMs: parts.statsdFlushMs,
      onError(error) {
        if (!warned) parts.logger.warn('statsd send failed (reported once)', { error: error.message })
        warned = true
      },
    })
    const storage = client.emitter(settings.syncstorage.statsd_label)
    const tokenserver = client.emitter(settings.tokenserver.statsd_label)
    recorders.push(statsdRecorder(storage, tokenserver))
    onPurge.push((report) => {
      storage.timing('purge_ttl.batches_duration', report.durationMs.batches)
      storage.timing('purge_ttl.bsos_duration', report.durationMs.bsos)
      storage.timing('purge_ttl.total_duration', report.durationMs.total)
    })
    const backend = parts.storage
    if (backend !== undefined) {
      const gauges = setInterval(() => {
        const status = backend.poolStatus()
        storage.gauge('storage.pool.connections.active', status.active)
        storage.gauge('storage.pool.connections.idle', status.idle)
      }, GAUGE_INTERVAL_MS)
      gauges.unref()
      closers.push(() => clearInterval(gauges))
    }
    closers.push(() => client.close())
  }

  if (settings.prometheus_port !== undefined) {
    const { PrometheusMetrics } = await import('./prometheus.ts')
    const backend = parts.storage
    const prometheus = new PrometheusMetrics(backend === undefined ? undefined : () => backend.poolStatus())
    recorders.push((c, route, seconds) => prometheus.request(methodLabel(c.req.method), route, c.res.status, seconds))
    onPurge.push((report) => {
      for (const [table, rows] of Object.entries(report.rows)) prometheus.purgedRows(table, rows)
    })
    const server = Bun.serve({
      hostname: settings.prometheus_host,
      port: settings.prometheus_port === 0 ? 0 : settings.prometheus_port + (parts.worker ?? 1) - 1,
      fetch: (request) =>
        request.method === 'GET' && new URL(request.url).pathname === '/metrics'
          ? prometheus.scrape()
          : new Response('not found\n', { status: 404 }),
    })
    prometheusUrl = `http://${server.hostname}:${server.port}/metrics`
    closers.push(() => server.stop(true))
  }

  return {
    layer: requestMetrics(recorders),
    prometheusUrl,
    purged: (report) => onPurge.forEach((record) => record(report)),
    async close() {
      for (const close of closers) await close()
    },
  }
}

/**
 * syncstorage-rs's StatsD names: `request.<operation>` per authenticated storage request
 * (tagged tokenserver_origin), `storage.conflict`; for the tokenserver (its own prefix)
 * `token_creation` (the time a token request took), `request.error.resource_unavailable` and
 * `request.error.invalid_client_state`.
 */
function statsdRecorder(storage: StatsdEmitter, tokenserver: StatsdEmitter): RequestRecorder {
  return (c, route, seconds) => {
    const status = c.res.status
    if (route.startsWith('/1.0/')) {
      if (status === 200) tokenserver.timing('token_creation', seconds * 1000)
      if (status === 503) tokenserver.increment('request.error.resource_unavailable')
      if (isSyncError(c.error, 'invalidClientState')) tokenserver.increment('request.error.invalid_client_state')
      return
    }
    const origin = c.get('tokenserverOrigin') as string | undefined
    if (origin !== undefined) {
      for (const operation of storageOperations(c, route)) storage.increment(`request.${operation}`, { tokenserver_origin: origin })
    }
    if (isSyncError(c.error, 'conflict')) storage.increment('storage.conflict')
  }
}
