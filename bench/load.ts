import { cpuWindow, CpuTotals, type CpuWindow } from './proc.ts'
import { Recorder, type LatencySummary } from './stats.ts'

/**
 * A closed-loop load: `concurrency` workers each run one operation after another. A run ends
 * when `maxOps` operations have started or `maxMs` has passed, whichever comes first, so a slow
 * server shortens the sample instead of stretching the benchmark.
 */
export interface LoadBounds {
  concurrency: number
  maxOps: number
  maxMs: number
}

/**
 * One unit of work: an HTTP request, a sequence of them, or the database work a request does.
 * Answers the status to count (an HTTP status, or 200 for database work that succeeded).
 */
export type Operation = (worker: number) => Promise<number | string> | number | string

export interface LoadResult {
  concurrency: number
  ops: number
  durationMs: number
  opsPerSecond: number
  latency: LatencySummary
  statuses: Record<string, number>
  /** The first exception an operation threw, to tell a broken benchmark from a slow server. */
  firstError?: string
}

/**
 * Runs `operation` under `bounds` and measures each call from just before it starts to just
 * after its promise settles (for HTTP, the operation reads the whole body before settling).
 * The same loop drives the server, the hello-world ceiling and the raw-database ceilings, so
 * the ratios between them compare like with like.
 */
export async function runLoad(bounds: LoadBounds, operation: Operation): Promise<LoadResult> {
  const recorder = new Recorder()
  const run = await drive(bounds, operation, recorder)
  return loadResult(bounds.concurrency, recorder, run.durationMs, run.firstError)
}

/**
 * Trials of one operation, merged into one result. The caller interleaves the trials of a
 * scenario with those of its ceilings, so that a burst of background load on this shared
 * machine hits both sides of a ratio instead of only one.
 */
export class LoadSeries {
  readonly #recorder = new Recorder()
  readonly #cpu = new CpuTotals()
  #durationMs = 0
  #firstError: string | undefined
  /** Operations per second of each trial, to show how steady the measurement was. */
  readonly trialRates: number[] = []

  constructor(
    readonly concurrency: number,
    /** The process serving the operations, whose CPU is measured (none for in-process work). */
    private readonly pid?: number,
  ) {}

  async trial(bounds: { maxOps: number; maxMs: number }, operation: Operation): Promise<number> {
    const window = cpuWindow(this.pid)
    const run = await drive({ ...bounds, concurrency: this.concurrency }, operation, this.#recorder)
    this.#cpu.add(window.stop(), run.durationMs)
    this.#durationMs += run.durationMs
    this.#firstError ??= run.firstError
    const rate = (run.ops * 1000) / run.durationMs
    this.trialRates.push(rate)
    return rate
  }

  result(): LoadResult & { trialRates: number[]; cpu: CpuWindow } {
    return { ...loadResult(this.concurrency, this.#recorder, this.#durationMs, this.#firstError), trialRates: this.trialRates, cpu: this.#cpu.average() }
  }
}

async function drive(bounds: LoadBounds, operation: Operation, recorder: Recorder): Promise<{ ops: number; durationMs: number; firstError?: string }> {
  const before = recorder.count
  const started = performance.now()
  const deadline = started + bounds.maxMs
  let issued = 0
  let firstError: string | undefined
  let finished = started

  const worker = async (id: number) => {
    while (issued < bounds.maxOps && performance.now() < deadline) {
      issued++
      const t0 = performance.now()
      let status: number | string
      try {
        status = await operation(id)
      } catch (error) {
        firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error)
        status = 'exception'
      }
      const t1 = performance.now()
      recorder.record(t1 - t0, status)
      finished = t1
    }
  }

  await Promise.all(Array.from({ length: bounds.concurrency }, (_, id) => worker(id)))
  const run: { ops: number; durationMs: number; firstError?: string } = { ops: recorder.count - before, durationMs: Math.max(finished - started, 1e-3) }
  if (firstError !== undefined) run.firstError = firstError
  return run
}

function loadResult(concurrency: number, recorder: Recorder, durationMs: number, firstError: string | undefined): LoadResult {
  const result: LoadResult = {
    concurrency,
    ops: recorder.count,
    durationMs,
    opsPerSecond: (recorder.count * 1000) / Math.max(durationMs, 1e-3),
    latency: recorder.summary(),
    statuses: recorder.statusCounts(),
  }
  if (firstError !== undefined) result.firstError = firstError
  return result
}
