import { BATCH_LIFETIME_MS, nowMillis, type Millis } from './timestamps.ts'
import type { StorageBackend } from './types.ts'

/**
 * Deleting expired data (issue 13). Reads already hide expired records and batches; purging
 * only gives the space back. Each engine offers {@link ExpiredRows}; this module runs them in
 * bounded chunks, resting between chunks so requests queued behind one never wait long.
 */

/** What a purge removes, in the order it removes it: staged records go before their batches. */
export type ExpiredTable = 'batchItems' | 'batches' | 'bsos'

/** The three tables by the reference's `purge_ttl --mode` (storage-api terms: batches or records). */
export type PurgeMode = 'batches' | 'bsos' | 'both'

const TABLES: Record<PurgeMode, readonly ExpiredTable[]> = {
  batches: ['batchItems', 'batches'],
  bsos: ['bsos'],
  both: ['batchItems', 'batches', 'bsos'],
}

/**
 * One engine's deletes of expired rows. `expiredBy` is an expiry instant: a record whose expiry
 * is at or before it goes, and a batch whose lifetime ended at or before it goes with its
 * staged records (the engine knows how its batches record their expiry).
 */
export interface ExpiredRows {
  count(table: ExpiredTable, expiredBy: Millis): Promise<number>
  /**
   * A pass over the table: each call deletes at most `limit` expired rows and says how many
   * went; fewer than `limit` means the pass is over.
   */
  sweep(table: ExpiredTable, expiredBy: Millis): (limit: number) => Promise<number>
}

/** Spanner needs none of this; its schema deletes expired rows itself. */
export const SPANNER_PURGE_REFUSAL =
  'Spanner deletes expired records and batches itself: the row deletion policies of schema.ddl (OLDER_THAN(expiry, INTERVAL 0 DAY) on bsos and batches) do what purge does elsewhere'

/**
 * A batch is closed by its requests at the end of its lifetime; its rows wait this much longer,
 * so a transaction that found the batch open a moment before never sees its rows vanish.
 */
export const BATCH_PURGE_GRACE_MS = 60_000

export interface PurgeOptions {
  mode: PurgeMode
  /** Records expired at or before this instant go (batches: see BATCH_PURGE_GRACE_MS). */
  expiredBy: Millis
  /** Rows deleted per statement at most. */
  chunkSize: number
  /** Count what would go; delete nothing. */
  dryRun?: boolean
  /** Told after every chunk (once per table on a dry run). */
  onProgress?(progress: PurgeProgress): void
  /** Stops between chunks (the server's shutdown). */
  signal?: AbortSignal
  /**
   * The rest after a chunk that took `chunkMs`; by default as long as the chunk itself, so a
   * purge holds the database at most half the time while it runs.
   */
  rest?(chunkMs: number): Promise<void>
}

export interface PurgeProgress {
  table: ExpiredTable
  /** Rows of this table deleted (or, on a dry run, found) so far. */
  rows: number
  /** Whether this table is done. */
  done: boolean
}

export interface PurgeReport {
  rows: Record<ExpiredTable, number>
  dryRun: boolean
  chunks: number
  /** The longest single chunk, in milliseconds: what a request queued behind it could wait. */
  longestChunkMs: number
  /** Per table, how long it took (for the `purge_ttl.*_duration` timers). */
  durationMs: Record<'batches' | 'bsos' | 'total', number>
}

/** The purge capability of a backend, or the reason it has none. */
export function expiredRowsOf(backend: StorageBackend): ExpiredRows {
  if (backend.engine === 'spanner') throw new Error(SPANNER_PURGE_REFUSAL)
  if (backend.expiredRows === undefined) throw new Error(`the ${backend.engine} backend cannot purge expired rows`)
  return backend.expiredRows
}

const restAsLongAs = (chunkMs: number) => Bun.sleep(Math.max(1, chunkMs))

export async function purgeExpired(rows: ExpiredRows, options: PurgeOptions): Promise<PurgeReport> {
  if (!Number.isInteger(options.chunkSize) || options.chunkSize < 1) throw new Error('chunk size must be a positive integer')
  const rest = options.rest ?? restAsLongAs
  const report: PurgeReport = {
    rows: { batchItems: 0, batches: 0, bsos: 0 },
    dryRun: options.dryRun === true,
    chunks: 0,
    longestChunkMs: 0,
    durationMs: { batches: 0, bsos: 0, total: 0 },
  }
  const started = performance.now()
  for (const table of TABLES[options.mode]) {
    const tableStarted = performance.now()
    const expiredBy = table === 'bsos' ? options.expiredBy : options.expiredBy - BATCH_PURGE_GRACE_MS
    if (report.dryRun) {
      report.rows[table] = await rows.count(table, expiredBy)
      options.onProgress?.({ table, rows: report.rows[table], done: true })
    } else {
      await sweepTable(rows.sweep(table, expiredBy), table, options, report, rest)
    }
    report.durationMs[table === 'bsos' ? 'bsos' : 'batches'] += performance.now() - tableStarted
    if (options.signal?.aborted) break
  }
  report.durationMs.total = performance.now() - started
  return report
}

async function sweepTable(
  next: (limit: number) => Promise<number>,
  table: ExpiredTable,
  options: PurgeOptions,
  report: PurgeReport,
  rest: (chunkMs: number) => Promise<void>,
): Promise<void> {
  for (;;) {
    const chunkStarted = performance.now()
    const deleted = await next(options.chunkSize)
    const chunkMs = performance.now() - chunkStarted
    report.chunks++
    report.longestChunkMs = Math.max(report.longestChunkMs, chunkMs)
    report.rows[table] += deleted
    const done = deleted < options.chunkSize || options.signal?.aborted === true
    options.onProgress?.({ table, rows: report.rows[table], done })
    if (done) return
    await rest(chunkMs)
  }
}

/** The expiry bound of the reference's `--expiry_mode`: now, or the start of the current UTC day. */
export function expiryBound(mode: 'now' | 'midnight', now: Millis = nowMillis()): Millis {
  return mode === 'now' ? now : now - (now % 86_400_000)
}

/** The expiry instant of a batch that SQLite and MySQL number by its creation time. */
export const batchNumberExpiredBy = (expiredBy: Millis): number => expiredBy - BATCH_LIFETIME_MS

export interface PurgeSchedule {
  /** Seconds between runs. */
  intervalSeconds: number
  chunkSize: number
  /** Told when a run ends (for logs and metrics). */
  onRun(report: PurgeReport): void
  onError(error: unknown): void
}

/**
 * The server's background purge: a first run soon after start (at a random moment, so a fleet
 * started together does not purge in step), then one every interval. `stop` ends the run under
 * way after its current chunk.
 */
export function schedulePurge(rows: ExpiredRows, schedule: PurgeSchedule): { stop(): Promise<void> } {
  const controller = new AbortController()
  let running: Promise<void> = Promise.resolve()
  let timer: ReturnType<typeof setTimeout> | undefined
  const run = () => {
    running = purgeExpired(rows, {
      mode: 'both',
      expiredBy: nowMillis(),
      chunkSize: schedule.chunkSize,
      signal: controller.signal,
    }).then(schedule.onRun, schedule.onError)
    void running.then(() => {
      if (!controller.signal.aborted) plan(schedule.intervalSeconds * 1000)
    })
  }
  const plan = (ms: number) => {
    timer = setTimeout(run, ms)
    timer.unref()
  }
  plan(Math.min(schedule.intervalSeconds * 1000, 10_000 + Math.random() * 50_000))
  return {
    async stop() {
      controller.abort()
      clearTimeout(timer)
      await running
    },
  }
}

/** Equips a backend with its engine's purge (wired where each engine opens its storage). */
export const withExpiredRows = <Backend extends StorageBackend>(backend: Backend, expiredRows: ExpiredRows): Backend =>
  Object.assign(backend, { expiredRows })
