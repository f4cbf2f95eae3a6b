import type { LoadResult } from './load.ts'
import type { MixLevel } from './mix.ts'
import type { Profile } from './options.ts'
import type { CpuWindow } from './proc.ts'
import type { WorkloadId } from './workloads.ts'

/** Everything one run measured; written as bench/results/latest.json and rendered from there. */
export interface RunReport {
  generatedAt: string
  mode: Profile['mode']
  /** `--mix-only`: start-up and the mix were measured, nothing else. */
  mixOnly?: boolean
  /** `--scenarios=…`: start-up and these scenarios only. */
  scenariosOnly?: WorkloadId[]
  profile: Profile
  machine: { cpus: number; model: string; memoryGB: number; kernel: string }
  bun: string
  commit: string
  binary: { path: string; bytes: number; buildMs?: number }
  backends: BackendReport[]
  /** info/collections on every compared engine, loaded in turn (engine-rounds.ts). */
  engineRounds?: EngineRounds
  /** Set when the benchmark itself broke; the run then exits non-zero. */
  failures: string[]
}

/** Rounds in turn of GET info/collections, one server per engine; entry i of each array is round i. */
export interface EngineRounds {
  concurrency: number
  ms: number
  engines: { engine: string; micros: number[]; rates: number[] }[]
}

export interface BackendReport {
  engine: string
  label: string
  /** Why the engine was not measured (unreachable, or the server refused its URL). */
  skipped?: string
  /** Set when measuring this engine broke part-way. */
  failed?: string
  /** What the figures are not (e.g. an emulator's figures are not production's). */
  caveat?: string
  /** Bare Bun.serve hello-world at the scenario concurrency, interleaved with GET info/collections. */
  httpCeiling?: LoadResult & { cpu: CpuWindow; trialRates: number[] }
  startup?: {
    freshMs: number[]
    restartMs: number[]
    /** SIGTERM to exit after the load (graceful shutdown), and whether it had to be killed. */
    shutdownMs?: number
    shutdownKilled?: boolean
  }
  memory?: MemoryFigures
  mix?: MixLevel[]
  /** The same mix against `workers = 2`. */
  mixWorkers2?: MixLevel[]
  /** Why the workers = 2 mix was not run on this engine. */
  mixWorkers2Skipped?: string
  /** `serve` with `workers` unset (one per CPU): processes including the supervisor, start, idle memory of them all (PSS: shared pages counted once). */
  defaultWorkers?: { processes: number; readyMs: number; idleTotalMB?: number }
  scenarios: ScenarioReport[]
  targets: TargetResult[]
}

/** MB are 10^6 bytes; /proc reports KiB. */
export interface MemoryFigures {
  idleAfterStartMB?: number
  /** The idle RSS split: private memory, and pages of mapped files (mostly the binary's code). */
  idleBreakdownMB?: { anonymous: number; file: number }
  /** VmHWM reset before the mix and read after it. */
  peakUnderMixMB?: number
  /** The highest VmRSS sampled every 100 ms during the mix (a cross-check of VmHWM). */
  peakSampledMixMB?: number
  peakUnderScenariosMB?: number
  /** The largest worker's VmHWM during the workers = 2 mix. */
  peakPerWorkerUnderMixWorkers2MB?: number
  idleAfterLoadMB?: number
}

export interface CeilingFigure {
  name: string
  description: string
  unitsPerSecond: number
  load: LoadResult
}

export interface ScenarioReport {
  id: string
  title: string
  unit: 'req' | 'rec'
  status: 'measured' | 'not available'
  reason?: string
  load?: LoadResult & { trialRates?: number[] }
  unitsPerSecond?: number
  requestsPerSecond?: number
  cpu?: CpuWindow
  /** Requests/s as a share of the hello-world's (for info/collections: median of paired trials). */
  httpCeilingRatio?: number
  httpCeilingRatioTrials?: number[]
  /** The scenario's own ceiling: the raw database (storage) or the raw cryptography (tokenserver). */
  ceiling?: CeilingFigure
  /** Median of the ratios of interleaved trials (scenario trial / ceiling trial). */
  ceilingRatio?: number
  ceilingRatioTrials?: number[]
}

export interface TargetResult {
  name: string
  /** The measured value and the threshold, in `unit`. */
  measured?: number
  threshold: number
  unit: string
  comparison: '>=' | '<=' | '<'
  met: boolean
  /** (measured − threshold) / threshold, signed so that positive always means "met with room". */
  margin?: number
  note?: string
}
