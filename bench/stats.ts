/** Latency samples in milliseconds, summarised by nearest-rank percentiles. */
export interface LatencySummary {
  count: number
  mean: number
  p50: number
  p95: number
  p99: number
  max: number
}

const EMPTY_SUMMARY: LatencySummary = { count: 0, mean: 0, p50: 0, p95: 0, p99: 0, max: 0 }

/**
 * Collects latencies and statuses. Samples go into a growable Float64Array so that recording
 * one costs no allocation while the load runs.
 */
export class Recorder {
  #samples = new Float64Array(4096)
  #count = 0
  readonly statuses = new Map<string, number>()

  record(ms: number, status: number | string): void {
    if (this.#count === this.#samples.length) {
      const grown = new Float64Array(this.#samples.length * 2)
      grown.set(this.#samples)
      this.#samples = grown
    }
    this.#samples[this.#count++] = ms
    const key = String(status)
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1)
  }

  get count(): number {
    return this.#count
  }

  summary(): LatencySummary {
    return summarise(this.#samples.subarray(0, this.#count))
  }

  statusCounts(): Record<string, number> {
    return Object.fromEntries([...this.statuses].sort(([a], [b]) => a.localeCompare(b)))
  }
}

function summarise(samples: Float64Array): LatencySummary {
  if (samples.length === 0) return EMPTY_SUMMARY
  const sorted = Float64Array.from(samples).sort()
  let total = 0
  for (const value of sorted) total += value
  return {
    count: sorted.length,
    mean: total / sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? 0,
  }
}

/** Nearest rank on sorted samples: the smallest value with at least p% of samples at or below it. */
function percentile(sorted: Float64Array, p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[rank - 1] ?? 0
}

export const median = (values: readonly number[]): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/** Ratios of two series measured side by side (rounds, trials): entry i over entry i. */
export const perRound = (top: readonly number[], bottom: readonly number[]): number[] => top.map((value, index) => value / (bottom[index] as number))

/** The spread of `values` as `lowest–highest`, each with `digits` decimals. */
export const rangeOf = (values: readonly number[], digits: number): string => `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`

/** Statuses that count as errors: everything but 2xx and the server's designed 503 back-off. */
export function errorCounts(statuses: Record<string, number>): { errors: number; designed503: number } {
  let errors = 0
  let designed503 = 0
  for (const [status, count] of Object.entries(statuses)) {
    if (status === '503') designed503 += count
    else if (!/^2\d\d$/.test(status)) errors += count
  }
  return { errors, designed503 }
}
