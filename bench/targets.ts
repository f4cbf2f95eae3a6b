import { capacityWithinLatency, highestUnsaturated, type MixLevel } from './mix.ts'
import type { EngineName } from './engines.ts'
import type { BackendReport, RunReport, ScenarioReport, TargetResult } from './model.ts'
import { cpuCount, generatorBound } from './proc.ts'
import { median, perRound, rangeOf } from './stats.ts'

/**
 * The targets of issue #5. They were set for SQLite on a 2-core machine shared by the load
 * generator and the server; other engines are judged against the same numbers for comparison.
 * A missed target is reported, never turned into a failing exit code.
 */
export function evaluateTargets(backend: BackendReport): TargetResult[] {
  const hello = backend.httpCeiling
  const scenario = (id: string) => backend.scenarios.find((s) => s.id === id && s.status === 'measured')
  const info = scenario('info-collections')
  const post = scenario('post-100')
  const get = scenario('get-1000')
  const targets: TargetResult[] = [
    target('GET info/collections req/s vs hello-world', percent(info?.httpCeilingRatio), 50, '%', '>=', hello === undefined ? undefined : `median of ${info?.httpCeilingRatioTrials?.length ?? 0} paired trials; hello-world ${Math.round(hello.opsPerSecond)} req/s${generatorBound(hello.cpu) ? ' (generator used more CPU than the hello-world server: the ceiling is understated)' : ''}`),
    target('POST 100×450 B records/s vs raw upsert', percent(post?.ceilingRatio), 60, '%', '>=', pairedNote(post)),
    target('GET full=1&limit=1000 records/s vs raw SELECT + serialise', percent(get?.ceilingRatio), 60, '%', '>=', pairedNote(get)),
  ]

  const fresh = backend.startup?.freshMs ?? []
  const restart = backend.startup?.restartMs ?? []
  targets.push(
    target('start → first 200 on __lbheartbeat__ (fresh database)', fresh.length > 0 ? median(fresh) : undefined, 100, 'ms', '<=', `median of ${fresh.length}`),
    target('start → first 200 on __lbheartbeat__ (populated database)', restart.length > 0 ? median(restart) : undefined, 100, 'ms', '<=', `median of ${restart.length}`),
    target('idle RSS', backend.memory?.idleAfterStartMB, 50, 'MB', '<', idleNote(backend)),
    target('peak RSS under the mix', backend.memory?.peakUnderMixMB ?? backend.memory?.peakSampledMixMB, 150, 'MB', '<', 'VmHWM over all mix levels'),
  )

  const levels = backend.mix ?? []
  const errors = levels.reduce((sum, level) => sum + level.errors, 0)
  const designed = levels.reduce((sum, level) => sum + level.designed503, 0)
  targets.push(target('mix errors (other than designed 503s)', levels.length > 0 ? errors : undefined, 0, 'errors', '<=', `${designed} designed 503s`))
  const highest = highestUnsaturated(levels)
  // Where the latency target still holds, whatever the CPU: the useful capacity figure.
  const within = levels.filter((level) => level.latency.p99 < 50 && level.errors === 0).at(-1)
  const holds = within === undefined ? 'p99 ≥ 50 ms at every level' : `p99 < 50 ms up to concurrency ${within.concurrency} (${Math.round(within.requestsPerSecond)} req/s)`
  targets.push(
    target(
      'mix p99 at the highest load that does not saturate the CPU',
      highest?.latency.p99,
      50,
      'ms',
      '<',
      levels.length === 0
        ? undefined
        : highest === undefined
          ? `every level saturated the CPU; ${holds}`
          : `concurrency ${highest.concurrency}: ${Math.round(highest.requestsPerSecond)} req/s, server ${fmtCores(highest.cpu.serverCores)}, machine ${fmtShare(highest.cpu.machineShare)} + steal ${fmtShare(highest.cpu.stealShare)}; ${holds}`,
    ),
  )
  targets.push(workersTarget(backend), target('peak RSS per worker under the workers = 2 mix', backend.memory?.peakPerWorkerUnderMixWorkers2MB, 150, 'MB', '<', 'largest VmHWM among the workers'))
  return targets
}

/**
 * workers = 2 vs workers = 1, each at its busiest level under the latency line. Only a ratio of
 * two runs that crossed the line compares the servers; a run whose last level (the ladder's cap)
 * stayed under it measured the load offered, so the target is then not measurable.
 */
function workersTarget(backend: BackendReport): TargetResult {
  const name = 'mix req/s at p99 < 50 ms: workers = 2 vs workers = 1'
  if (backend.mixWorkers2Skipped !== undefined) return target(name, undefined, 1.4, '×', '>=', 'workers = 2 not measured on this engine')
  const single = capacityWithinLatency(backend.mix ?? [])
  const two = capacityWithinLatency(backend.mixWorkers2 ?? [])
  const capped = [single.capped ? 'workers = 1' : undefined, two.capped ? 'workers = 2' : undefined].filter((run) => run !== undefined)
  if (capped.length > 0) {
    return target(name, undefined, 1.4, '×', '>=', `not measurable: ${capped.join(' and ')} kept p99 < 50 ms up to the last level (concurrency ${(single.capped ? backend.mix : backend.mixWorkers2)?.at(-1)?.concurrency}): capped by the offered load, not by the server`)
  }
  if (single.level === undefined || two.level === undefined) return target(name, undefined, 1.4, '×', '>=', 'p99 ≥ 50 ms at every level of one of the runs')
  const describe = (level: MixLevel) =>
    `${Math.round(level.requestsPerSecond)} req/s (concurrency ${level.concurrency}; cores: server ${fmtCores(level.cpu.serverCores)}${level.cpu.databaseCores === undefined ? '' : `, database backends ${fmtCores(level.cpu.databaseCores)}`}, generator ${fmtCores(level.cpu.benchCores)}, others ${fmtCores(level.cpu.otherCores)}; ${machineBound(level)})`
  return target(name, two.level.requestsPerSecond / single.level.requestsPerSecond, 1.4, '×', '>=', `${describe(two.level)} vs ${describe(single.level)}`)
}

/**
 * CPU per request of every party the machine runs for the mix (server, its database backends,
 * the generator), and the rate at which they would fill every core. CPU time per request moves
 * far less with background load than latency does, so this bounds what the second worker can buy
 * on this machine even when the machine was shared: at 100 % busy, p99 is long past 50 ms.
 */
function machineBound(level: MixLevel): string {
  const perRequestUs = (cores: number | undefined) => ((cores ?? 0) / level.requestsPerSecond) * 1e6
  const server = perRequestUs(level.cpu.serverCores)
  const database = perRequestUs(level.cpu.databaseCores)
  const generator = perRequestUs(level.cpu.benchCores)
  const parts = `server ${server.toFixed(0)}${level.cpu.databaseCores === undefined ? '' : ` + database ${database.toFixed(0)}`} + generator ${generator.toFixed(0)} µs`
  return `CPU per request ${parts}: ${cpuCount()} cores full at ${Math.round((cpuCount() * 1e6) / (server + database + generator))} req/s`
}

/** SQLite and the engines its info/collections is compared with; Spanner's emulator gives no production figure. */
export const ENGINES_COMPARED: readonly EngineName[] = ['sqlite', 'postgres', 'mysql']

/**
 * The target that compares engines: PostgreSQL's and MariaDB's server CPU per info/collections
 * request against SQLite's, as the median of the ratios taken within each round in turn
 * (engine-rounds.ts). Added to the non-SQLite engines' targets. The engine sections' own
 * figures, measured minutes apart, are given beside it.
 */
export function crossEngineTargets(report: RunReport): void {
  const name = 'info/collections server CPU per request vs SQLite'
  const rounds = report.engineRounds?.engines ?? []
  const sqliteRounds = rounds.find((entry) => entry.engine === 'sqlite')
  const sqliteSection = sectionMicros(report.backends.find((backend) => backend.engine === 'sqlite'))
  for (const backend of report.backends) {
    if (backend.engine === 'sqlite' || !ENGINES_COMPARED.includes(backend.engine as EngineName) || backend.skipped !== undefined) continue
    const own = rounds.find((entry) => entry.engine === backend.engine)
    const section = sectionMicros(backend)
    const apart = section === undefined || sqliteSection === undefined ? '' : `; the engine sections, minutes apart: ${section.toFixed(0)} µs vs ${sqliteSection.toFixed(0)} µs (${(section / sqliteSection).toFixed(2)}×)`
    if (own === undefined || sqliteRounds === undefined) {
      backend.targets.push(target(name, undefined, 2, '×', '<=', `not measured: needs SQLite and this engine in the rounds in turn${apart}`))
      continue
    }
    const ratios = perRound(own.micros, sqliteRounds.micros)
    const note = `median of ${ratios.length} rounds in turn (${rangeOf(ratios, 2)}×): ${median(own.micros).toFixed(0)} µs vs ${median(sqliteRounds.micros).toFixed(0)} µs${apart}`
    backend.targets.push(target(name, median(ratios), 2, '×', '<=', note))
  }
}

/** Server CPU per info/collections request (µs) in an engine's own section. */
function sectionMicros(backend: BackendReport | undefined): number | undefined {
  const info = backend?.scenarios.find((s) => s.id === 'info-collections' && s.status === 'measured')
  return info?.cpu?.serverCores === undefined || !info.requestsPerSecond ? undefined : (info.cpu.serverCores / info.requestsPerSecond) * 1e6
}

const pairedNote = (s: ScenarioReport | undefined) =>
  s?.ceiling === undefined ? undefined : `${s.ceiling.name}; median of ${s.ceilingRatioTrials?.length ?? 0} paired trials`
function idleNote(backend: BackendReport): string {
  const split = backend.memory?.idleBreakdownMB
  const parts = split === undefined ? '' : `: ${split.anonymous.toFixed(1)} MB private, ${split.file.toFixed(1)} MB mapped files (the binary's code)`
  return `after start, before any request${parts}`
}
const percent = (ratio: number | undefined) => (ratio === undefined ? undefined : ratio * 100)
const fmtCores = (cores: number | undefined) => (cores === undefined ? 'n/a' : `${cores.toFixed(2)} cores`)
const fmtShare = (share: number | undefined) => (share === undefined ? 'n/a' : `${Math.round(share * 100)} %`)

function target(
  name: string,
  measured: number | undefined,
  threshold: number,
  unit: string,
  comparison: TargetResult['comparison'],
  note?: string,
): TargetResult {
  const result: TargetResult = { name, threshold, unit, comparison, met: false }
  if (note !== undefined) result.note = note
  if (measured === undefined) return result
  result.measured = measured
  result.met = comparison === '>=' ? measured >= threshold : comparison === '<=' ? measured <= threshold : measured < threshold
  if (threshold !== 0) result.margin = comparison === '>=' ? (measured - threshold) / threshold : (threshold - measured) / threshold
  return result
}
