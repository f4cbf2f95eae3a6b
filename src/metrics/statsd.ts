import StatsDClient, { type StatsD } from 'hot-shots'

export type Tags = Record<string, string>

/** StatsD under one prefix (syncstorage-rs's `statsd_label`). */
export interface StatsdEmitter {
  increment(name: string, tags?: Tags): void
  timing(name: string, ms: number, tags?: Tags): void
  gauge(name: string, value: number): void
}

export interface StatsdOptions {
  host: string
  port: number
  /** Metrics are sent at the latest this long after they were recorded. */
  flushIntervalMs?: number
  onError(error: Error): void
}

/**
 * One UDP client (hot-shots) for the storage and tokenserver prefixes. Metrics are packed into
 * datagrams of at most 1,432 bytes (no fragmentation on a 1,500-byte path) and sent when one
 * fills or the flush interval passes, so a request costs no system call of its own. Tags use
 * the DogStatsD form (`|#key:value`) the reference's client sends.
 */
export class StatsdClient {
  private readonly client: StatsD

  constructor(options: StatsdOptions) {
    this.client = new StatsDClient({
      host: options.host,
      port: options.port,
      cacheDns: true,
      maxBufferSize: 1432,
      bufferFlushInterval: options.flushIntervalMs ?? 1000,
      errorHandler: options.onError,
    })
  }

  /** Metrics named `<label>.<name>`. */
  emitter(label: string): StatsdEmitter {
    const client = this.client
    const prefix = label === '' ? '' : `${label}.`
    return {
      increment: (name, tags) => client.increment(prefix + name, 1, tags),
      timing: (name, ms, tags) => client.timing(prefix + name, Math.round(ms), tags),
      gauge: (name, value) => client.gauge(prefix + name, value),
    }
  }

  /** Sends what is buffered and closes the socket. */
  close(): Promise<void> {
    return new Promise((resolve) => this.client.close(() => resolve()))
  }
}
