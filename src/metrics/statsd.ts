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
 * One UDP client (hot-shots) for the storage and tokenserver prefixes. Counters are summed here
 * and handed to the client once per flush interval, one line per name and tag set (StatsD adds
 * counts up, so the totals are the same as one line per event, for a map update per request
 * instead of the client's formatting). Lines are packed into datagrams of at most 1,432 bytes
 * (no fragmentation on a 1,500-byte path). Tags use the DogStatsD form (`|#key:value`) the
 * reference's client sends.
 */
export class StatsdClient {
  private readonly client: StatsD
  private readonly counts = new Map<string, { name: string; tags: Tags | undefined; count: number }>()
  private readonly flusher: ReturnType<typeof setInterval>

  constructor(options: StatsdOptions) {
    const flushIntervalMs = options.flushIntervalMs ?? 1000
    this.client = new StatsDClient({
      host: options.host,
      port: options.port,
      cacheDns: true,
      maxBufferSize: 1432,
      bufferFlushInterval: flushIntervalMs,
      errorHandler: options.onError,
    })
    this.flusher = setInterval(() => this.flushCounts(), flushIntervalMs)
    this.flusher.unref()
  }

  /** Metrics named `<label>.<name>`. */
  emitter(label: string): StatsdEmitter {
    const client = this.client
    const prefix = label === '' ? '' : `${label}.`
    return {
      increment: (name, tags) => this.count(prefix + name, tags),
      timing: (name, ms, tags) => client.timing(prefix + name, Math.round(ms), tags),
      gauge: (name, value) => client.gauge(prefix + name, value),
    }
  }

  private count(name: string, tags: Tags | undefined): void {
    const key = tags === undefined ? name : `${name}|${Object.entries(tags).join(',')}`
    const pending = this.counts.get(key)
    if (pending === undefined) this.counts.set(key, { name, tags, count: 1 })
    else pending.count++
  }

  private flushCounts(): void {
    for (const pending of this.counts.values()) {
      if (pending.count > 0) this.client.increment(pending.name, pending.count, pending.tags)
      pending.count = 0
    }
  }

  /** Sends what is counted and buffered, and closes the socket. */
  close(): Promise<void> {
    clearInterval(this.flusher)
    this.flushCounts()
    return new Promise((resolve) => this.client.close(() => resolve()))
  }
}
