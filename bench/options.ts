import type { EngineName } from './engines.ts'
import { workloadOrder, type WorkloadId } from './workloads.ts'

/** How long and how hard each part of the benchmark runs. */
export interface Profile {
  mode: 'quick' | 'full'
  /** Every scenario, its ceilings and the hello-world run at this closed-loop concurrency. */
  /** Every scenario and ceiling runs as `trials` interleaved trials sharing maxOps and maxMs. */
  scenario: { concurrency: number; maxOps: number; maxMs: number; warmupMs: number; trials: number }
  /**
   * `levels` always run; `beyond` only while the last level's p99 is still under the latency
   * line (mix.ts LATENCY_LINE_MS), so a run ends where the server, not the offered load, sets
   * the figure. Its last entry is the cap: a run still under the line there is not measurable.
   */
  mix: { levels: number[]; beyond: number[]; population: number; maxIterations: number; maxMs: number; thinkMs: number }
  /** info/collections on each engine in turn (engine-rounds.ts): rounds of `ms` per engine. */
  engineRounds: { rounds: number; ms: number }
  /** Starts on a fresh database, and restarts on the database the run filled. */
  starts: { fresh: number; restart: number }
  /** Pause before reading an idle RSS, so the last request's garbage can be collected. */
  settleMs: number
  tokenserverAccounts: number
}

/**
 * Quick is a smoke check for CI (< 1 min with all three engines): every code path runs, the
 * numbers are indicative only. Full is what targets are judged on.
 */
export const profiles: Record<Profile['mode'], Profile> = {
  quick: {
    mode: 'quick',
    scenario: { concurrency: 8, maxOps: 20_000, maxMs: 400, warmupMs: 200, trials: 2 },
    mix: { levels: [8, 32], beyond: [64, 128, 256, 512], population: 128, maxIterations: 100_000, maxMs: 800, thinkMs: 100 },
    engineRounds: { rounds: 2, ms: 300 },
    starts: { fresh: 1, restart: 1 },
    settleMs: 300,
    tokenserverAccounts: 16,
  },
  full: {
    mode: 'full',
    scenario: { concurrency: 8, maxOps: 500_000, maxMs: 10_000, warmupMs: 2_000, trials: 5 },
    mix: { levels: [4, 8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96], beyond: [112, 128, 144, 160, 192, 256, 320, 384, 512], population: 1_000, maxIterations: 1_000_000, maxMs: 8_000, thinkMs: 100 },
    engineRounds: { rounds: 9, ms: 3_000 },
    starts: { fresh: 5, restart: 5 },
    settleMs: 2_000,
    tokenserverAccounts: 500,
  },
}

export interface CliOptions {
  profile: Profile
  build: boolean
  /** A binary to measure instead of dist/syncserver (e.g. an experimental build); implies --no-build. */
  binary?: string
  engines: EngineName[]
  /** `--scale`: the data-growth benchmark (scale.ts) instead of the regular run. */
  scale: boolean
  /** `--mix-only`: start-up and the workers = 1 / workers = 2 mix, nothing after. */
  mixOnly: boolean
  /** `--scenarios=ID,…`: start-up and these storage scenarios with their ceilings, nothing else. */
  scenarios?: WorkloadId[]
}

const ALL_ENGINES: EngineName[] = ['sqlite', 'postgres', 'mysql', 'spanner']

/**
 * The name a run's report files take in bench/results: `latest` (the committed report, which
 * targets are judged on) only for a complete full run, every engine and every part; any other
 * run writes `partial`, so a quick check (the test script runs `--quick`) or a run of one
 * scenario never overwrites the committed figures.
 */
export function reportName(options: Pick<CliOptions, 'profile' | 'engines' | 'mixOnly' | 'scenarios'>): 'latest' | 'partial' {
  const complete =
    options.profile.mode === 'full' && !options.mixOnly && options.scenarios === undefined && ALL_ENGINES.every((name) => options.engines.includes(name))
  return complete ? 'latest' : 'partial'
}

const USAGE = `usage: bun run bench [--quick | --scale | --mix-only | --scenarios=ID,…] [--no-build] [--engines=sqlite,postgres,mysql,spanner] [--binary=PATH]
  --quick      smoke-check durations (CI); numbers are indicative only
  --scale      per-user operations at 1×, 10×, 100× data (5 M records; long, on demand only)
  --mix-only   only start-up and the realistic mix (workers = 1 and 2): the workers target in a few minutes
  --scenarios=ID,…  only start-up and these scenarios with their ceilings (${workloadOrder.join(', ')}): one change's effect in a minute
  --no-build   use the existing dist/syncserver instead of running \`bun run build\`
  --engines    which storage engines to try (default: all, but --quick leaves out spanner; unreachable ones are skipped)
  --binary=P   measure the binary at P instead of building dist/syncserver`

/**
 * Spanner is left out of --quick unless asked for: on the emulator, seeding the scenarios alone
 * (5,000 records POSTed into one collection, ~0.5 s per POST there) takes about a minute.
 */
const QUICK_ENGINES: EngineName[] = ['sqlite', 'postgres', 'mysql']

export function parseCli(args: readonly string[]): CliOptions {
  const options: CliOptions = { profile: profiles.full, build: true, engines: ALL_ENGINES, scale: false, mixOnly: false }
  let enginesGiven = false
  for (const arg of args) {
    if (arg === '--quick') options.profile = profiles.quick
    else if (arg === '--no-build') options.build = false
    else if (arg === '--scale') options.scale = true
    else if (arg === '--mix-only') options.mixOnly = true
    else if (arg.startsWith('--scenarios=')) options.scenarios = parseScenarios(arg.slice('--scenarios='.length))
    else if (arg.startsWith('--engines=')) {
      options.engines = parseEngines(arg.slice('--engines='.length))
      enginesGiven = true
    }
    else if (arg.startsWith('--binary=')) {
      options.binary = arg.slice('--binary='.length)
      options.build = false
    }
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE)
      process.exit(0)
    } else {
      console.error(`unknown option ${arg}\n${USAGE}`)
      process.exit(2)
    }
  }
  if (options.profile.mode === 'quick' && !enginesGiven) options.engines = QUICK_ENGINES
  return options
}

function parseEngines(list: string): EngineName[] {
  const names = list.split(',').map((name) => name.trim()).filter((name) => name !== '')
  for (const name of names) {
    if (!ALL_ENGINES.includes(name as EngineName)) {
      console.error(`unknown engine ${name}; expected one of ${ALL_ENGINES.join(', ')}`)
      process.exit(2)
    }
  }
  return names as EngineName[]
}

function parseScenarios(list: string): WorkloadId[] {
  const ids = list.split(',').map((id) => id.trim()).filter((id) => id !== '')
  const unknown = ids.filter((id) => !workloadOrder.includes(id as WorkloadId))
  if (ids.length === 0 || unknown.length > 0) {
    console.error(`unknown scenario ${unknown.join(', ')}; expected some of ${workloadOrder.join(', ')}`)
    process.exit(2)
  }
  return ids as WorkloadId[]
}
