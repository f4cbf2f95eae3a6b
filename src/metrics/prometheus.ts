import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { PoolStatus } from '../db/types.ts'

type Observe = (seconds: number) => void

/**
 * The Prometheus view (prom-client): requests and their latency by method, route pattern and
 * status; the storage pool's connections; purged rows; and prom-client's process figures (CPU,
 * memory, file descriptors, event-loop lag). Labels never carry a uid or a path.
 */
export class PrometheusMetrics {
  readonly registry = new Registry()
  private readonly requests = new Counter({
    name: 'syncserver_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  })
  private readonly latency = new Histogram({
    name: 'syncserver_http_request_duration_seconds',
    help: 'Time from a request entering the server to its response, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })
  private readonly purged = new Counter({
    name: 'syncserver_purged_rows_total',
    help: 'Expired rows deleted by the background purge, by table',
    labelNames: ['table'] as const,
    registers: [this.registry],
  })
  /** Per label set, the children prom-client would otherwise look up by hashing labels each time. */
  private readonly series = new Map<string, Observe>()

  constructor(poolStatus: (() => PoolStatus) | undefined) {
    collectDefaultMetrics({ register: this.registry })
    if (poolStatus !== undefined) {
      new Gauge({
        name: 'syncserver_db_pool_connections',
        help: 'Storage database connections: active (in a transaction), idle (open, waiting) and max (the pool size)',
        labelNames: ['state'] as const,
        registers: [this.registry],
        collect() {
          const status = poolStatus()
          this.set({ state: 'active' }, status.active)
          this.set({ state: 'idle' }, status.idle)
          this.set({ state: 'max' }, status.max)
        },
      })
    }
  }

  request(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`
    let observe = this.series.get(key)
    if (observe === undefined) {
      const counter = this.requests.labels(method, route, String(status))
      const histogram = this.latency.labels(method, route, String(status))
      observe = (value) => {
        counter.inc()
        histogram.observe(value)
      }
      this.series.set(key, observe)
    }
    observe(seconds)
  }

  purgedRows(table: string, rows: number): void {
    this.purged.inc({ table }, rows)
  }

  /** The text exposition format, for a scrape. */
  async scrape(): Promise<Response> {
    return new Response(await this.registry.metrics(), { headers: { 'content-type': this.registry.contentType } })
  }
}
