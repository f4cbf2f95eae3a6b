import type { LoadResult } from './load.ts'
import { highestUnsaturated, type MixLevel } from './mix.ts'
import { generatorBound, type CpuWindow } from './proc.ts'
import type { BackendReport, EngineRounds, RunReport, ScenarioReport, TargetResult } from './model.ts'
import { errorCounts, median, perRound, rangeOf } from './stats.ts'

/** The run as Markdown: what `bun run bench` prints and writes to bench/results/latest.md. */
export function renderMarkdown(report: RunReport): string {
  const { machine, profile } = report
  const lines = [
    `# syncserver benchmark (${report.mode})`,
    '',
    `${report.generatedAt} · ${machine.cpus}× ${machine.model} · ${machine.memoryGB.toFixed(1)} GB RAM · ${machine.kernel} · Bun ${report.bun} · commit ${report.commit} · binary ${(report.binary.bytes / 1e6).toFixed(1)} MB`,
    '',
    `Load generator and server share the machine. Scenarios: closed loop, ${profile.scenario.concurrency} concurrent clients, ` +
      `${profile.scenario.trials} trials of ${fmtSeconds(profile.scenario.maxMs / profile.scenario.trials)} (or ${fmtInt(profile.scenario.maxOps / profile.scenario.trials)} operations) after a warm-up, ` +
      'each trial followed by one of its ceiling (same load loop), so a ratio is the median of paired trials. CPU columns: cores used by the server (+ its PostgreSQL backends, in the mix) / by the load generator.',
  ]
  if (report.mode === 'quick') lines.push('', '_Quick mode: a smoke check; the numbers are indicative only._')
  if (report.mixOnly) lines.push('', '_Mix only (`--mix-only`): start-up and the realistic mix; no scenarios, restarts or tokenserver._')
  if (report.scenariosOnly) lines.push('', `_Scenarios only (\`--scenarios=${report.scenariosOnly.join(',')}\`): start-up and these scenarios; no mix, other scenarios, restarts or tokenserver._`)
  for (const backend of report.backends) lines.push('', ...renderBackend(backend, report.binary.bytes))
  if (report.engineRounds !== undefined) lines.push('', ...renderEngineRounds(report.engineRounds, report.backends))
  if (report.failures.length > 0) lines.push('', '## Benchmark failures', '', ...report.failures.map((failure) => `- ${failure.split('\n')[0]}`))
  return `${lines.join('\n')}\n`
}

function renderEngineRounds(rounds: EngineRounds, backends: readonly BackendReport[]): string[] {
  const sqlite = rounds.engines.find((entry) => entry.engine === 'sqlite')
  const lines = [
    '## GET info/collections on each engine, in turn',
    '',
    `One server per engine, loaded one after another for ${fmtSeconds(rounds.ms)} each (${rounds.concurrency} clients), ${rounds.engines[0]?.micros.length ?? 0} rounds, each starting with the next engine. ` +
      "A ratio to SQLite is taken within each round; the engines' targets use its median.",
    '',
    '| Engine | Server CPU per req (median, spread) | Req/s (median) | vs SQLite (median of rounds, spread) |',
    '|---|--:|--:|--:|',
  ]
  for (const { engine, micros, rates } of rounds.engines) {
    const ratios = sqlite === undefined ? [] : perRound(micros, sqlite.micros)
    const label = backends.find((backend) => backend.engine === engine)?.label ?? engine
    lines.push(`| ${label} | ${median(micros).toFixed(1)} µs (${rangeOf(micros, 1)}) | ${fmtInt(median(rates))} | ${ratios.length === 0 ? '' : `${median(ratios).toFixed(2)}× (${rangeOf(ratios, 2)})`} |`)
  }
  return lines
}

function renderBackend(backend: BackendReport, binaryBytes?: number): string[] {
  if (backend.skipped !== undefined) return [`## ${backend.label}: skipped`, '', backend.skipped]
  const lines = [`## ${backend.label}`]
  if (backend.caveat !== undefined) lines.push('', `**${backend.caveat}**`)
  if (backend.failed !== undefined) lines.push('', `**Benchmark failed:** \`${backend.failed.split('\n')[0]}\``)
  const hello = backend.httpCeiling
  if (hello !== undefined) {
    lines.push(
      '',
      `HTTP ceiling (bare Bun.serve hello-world, same load, interleaved with GET info/collections): **${fmtInt(hello.opsPerSecond)} req/s**, ` +
        `p50 ${fmtMs(hello.latency.p50)} / p95 ${fmtMs(hello.latency.p95)} / p99 ${fmtMs(hello.latency.p99)} ms, CPU ${cpuPair(hello.cpu)}.`,
    )
  }
  if (backend.scenarios.length > 0) lines.push('', '### Scenarios', '', ...scenarioTable(backend.scenarios), ...noise(backend.scenarios))
  const ceilings = backend.scenarios.filter((s) => s.ceiling !== undefined)
  if (ceilings.length > 0) {
    lines.push('', 'Own ceilings (same load loop, no HTTP):', '')
    for (const s of ceilings) {
      const c = s.ceiling as NonNullable<ScenarioReport['ceiling']>
      lines.push(`- ${s.title}: ${c.name}, concurrency ${c.load.concurrency}: ${c.description}. p50 ${fmtMs(c.load.latency.p50)} ms, p99 ${fmtMs(c.load.latency.p99)} ms.`)
    }
  }
  if (backend.mix !== undefined && backend.mix.length > 0) {
    const think = backend.mix[0]?.thinkMs ?? 0
    lines.push('', '### Realistic mix (workers = 1)', '', `Concurrency = profiles syncing at once, each thinking ~${think} ms (exponential) between syncs; a level is saturated when the server uses ≥ 0.9 cores or the machine (steal included) ≥ 90 %, and so is every level after it. "Other processes" is CPU used by neither the server nor the benchmark: noise from sharing the machine.`, '', ...mixTables(backend.mix))
  }
  if (backend.mixWorkers2 !== undefined && backend.mixWorkers2.length > 0) {
    lines.push('', '### Realistic mix (workers = 2)', '', 'The same mix on a fresh database against `serve` with two worker processes; server CPU is the supervisor and both workers. "Saturated" still means ≥ 0.9 cores, so read the p99 column.', '', ...mixTables(backend.mixWorkers2))
  }
  if (backend.mixWorkers2Skipped !== undefined) lines.push('', '### Realistic mix (workers = 2)', '', backend.mixWorkers2Skipped)
  lines.push('', '### Resources', '', ...resources(backend, binaryBytes))
  if (backend.targets.length > 0) lines.push('', '### Targets', '', ...targetTable(backend.targets))
  return lines
}

function scenarioTable(scenarios: readonly ScenarioReport[]): string[] {
  const rows = [
    '| Scenario | Rate | Req/s | p50 ms | p95 ms | p99 ms | Errors | CPU server / client | Server CPU per req | vs hello-world | Own ceiling | vs own ceiling |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ]
  for (const s of scenarios) {
    if (s.status !== 'measured' || s.load === undefined) {
      rows.push(`| ${s.title} | not available | | | | | | | | | ${s.reason ?? ''} | |`)
      continue
    }
    const l = s.load
    const ceiling = s.ceiling === undefined ? '' : `${fmtInt(s.ceiling.unitsPerSecond)} ${s.unit}/s`
    rows.push(
      `| ${s.title} | ${fmtInt(s.unitsPerSecond ?? 0)} ${s.unit}/s | ${fmtInt(s.requestsPerSecond ?? 0)} | ${fmtMs(l.latency.p50)} | ${fmtMs(l.latency.p95)} | ${fmtMs(l.latency.p99)} | ${errorsCell(l)} | ${cpuPair(s.cpu)} | ${cpuPerRequest(s)} | ${fmtPct(s.httpCeilingRatio)}${spread(s.httpCeilingRatioTrials)} | ${ceiling} | ${fmtPct(s.ceilingRatio)}${spread(s.ceilingRatioTrials)} |`,
    )
  }
  return rows
}

/** How busy the rest of the machine was while the scenarios ran: large values make ratios unreliable. */
function noise(scenarios: readonly ScenarioReport[]): string[] {
  const windows = scenarios.map((s) => s.cpu).filter((cpu): cpu is CpuWindow => cpu?.otherCores !== undefined)
  if (windows.length === 0) return []
  const other = Math.max(...windows.map((cpu) => cpu.otherCores ?? 0))
  const steal = Math.max(...windows.map((cpu) => cpu.stealShare ?? 0))
  const warning = other > 0.25 || steal > 0.05 ? ' **The machine was shared during the run; ratios are less reliable than their trial spread suggests.**' : ''
  return ['', `Background during the scenarios: at most ${other.toFixed(2)} cores used by other processes, ${fmtPct(steal)} steal.${warning}`]
}

function mixTables(levels: readonly MixLevel[]): string[] {
  const rows = [
    '| Concurrency | Syncs/s | Req/s | Records up/s | p50 ms | p95 ms | p99 ms | Errors | 503s | CPU server / client | Machine CPU (+ steal) | Other processes | Peak RSS MB | Saturated |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|',
  ]
  const firstSaturated = levels.findIndex((l) => l.saturated)
  for (const [index, l] of levels.entries()) {
    const saturated = l.saturated ? 'yes' : firstSaturated >= 0 && index > firstSaturated ? 'after one that is' : 'no'
    rows.push(
      `| ${l.concurrency} | ${fmtInt(l.iterationsPerSecond)} | ${fmtInt(l.requestsPerSecond)} | ${fmtInt(l.recordsUploadedPerSecond)} | ${fmtMs(l.latency.p50)} | ${fmtMs(l.latency.p95)} | ${fmtMs(l.latency.p99)} | ${l.errors} | ${l.designed503} | ${cpuPair(l.cpu)} | ${fmtPct(l.cpu.machineShare)} (+${fmtPct(l.cpu.stealShare)}) | ${fmtCores(l.cpu.otherCores)} | ${l.peakRssMiB === undefined ? 'n/a' : (l.peakRssMiB * 1.048576).toFixed(0)} | ${saturated} |`,
    )
  }
  for (const { concurrency, p99Trials } of levels) {
    if (p99Trials === undefined) continue
    rows.push('', `Concurrency ${concurrency} crossed the latency line and was measured ${p99Trials.length} times (p99 ${p99Trials.map(fmtMs).join(', ')} ms); its row is the trial with the median p99.`)
  }
  const errored = levels.filter((l) => l.errors > 0)
  for (const l of errored) rows.push('', `Errors at concurrency ${l.concurrency}: ${JSON.stringify(l.statuses)}${l.firstError ? `; first exception: ${l.firstError}` : ''}`)
  // Per-request latency at the level the p99 target is judged at.
  const judged = highestUnsaturated(levels) ?? levels[0]
  if (judged !== undefined) {
    rows.push('', `Per request kind at concurrency ${judged.concurrency}:`, '', '| Request | Count | p50 ms | p95 ms | p99 ms | max ms |', '|---|--:|--:|--:|--:|--:|')
    for (const [kind, s] of Object.entries(judged.byKind)) {
      rows.push(`| ${kind} | ${fmtInt(s.count)} | ${fmtMs(s.p50)} | ${fmtMs(s.p95)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} |`)
    }
  }
  return rows
}

function resources(backend: BackendReport, binaryBytes?: number): string[] {
  const lines: string[] = []
  if (binaryBytes !== undefined) lines.push(`- Binary: ${(binaryBytes / 1e6).toFixed(1)} MB`)
  const startup = backend.startup
  if (startup !== undefined) {
    const samples = (values: number[]) => `median **${fmtMs(median(values))} ms** (${values.map((v) => v.toFixed(0)).join(', ')})`
    lines.push(`- Start → first 200 on \`__lbheartbeat__\`: fresh database ${samples(startup.freshMs)}${startup.restartMs.length === 0 ? '' : `; populated database ${samples(startup.restartMs)}`}`)
    if (startup.shutdownMs !== undefined) {
      lines.push(`- SIGTERM → exit after the load: ${fmtMs(startup.shutdownMs)} ms${startup.shutdownKilled ? ' (**ignored SIGTERM; killed after the grace period**)' : ''}`)
    }
  }
  const d = backend.defaultWorkers
  if (d !== undefined) {
    lines.push(`- With \`workers\` unset (one per CPU): ${d.processes === 1 ? '1 process (workers resolves to 1 here: no supervisor)' : `${d.processes} processes (supervisor + ${d.processes - 1} workers)`}, first 200 after ${fmtMs(d.readyMs)} ms, idle memory of them all (PSS, shared code counted once) **${d.idleTotalMB === undefined ? 'n/a' : `${d.idleTotalMB.toFixed(1)} MB`}**`)
  }
  const m = backend.memory
  if (m !== undefined) {
    const mb = (value: number | undefined) => (value === undefined ? 'n/a' : `${value.toFixed(1)} MB`)
    lines.push(
      `- RSS: idle after start **${mb(m.idleAfterStartMB)}**${m.idleBreakdownMB === undefined ? '' : ` (${mb(m.idleBreakdownMB.anonymous)} private + ${mb(m.idleBreakdownMB.file)} mapped files, mostly the binary's own code)`}; peak under the mix **${mb(m.peakUnderMixMB)}** (sampled ${mb(m.peakSampledMixMB)}); ` +
        `peak under the scenarios ${mb(m.peakUnderScenariosMB)}; idle after load ${mb(m.idleAfterLoadMB)}`,
    )
  }
  return lines
}

function targetTable(targets: readonly TargetResult[]): string[] {
  const rows = ['| Target | Measured | Threshold | Met | Margin | Note |', '|---|--:|--:|---|--:|---|']
  for (const t of targets) {
    const measured = t.measured === undefined ? 'n/a' : `${fmtNumber(t.measured)} ${t.unit}`
    const margin = t.margin === undefined ? '' : `${t.margin >= 0 ? '+' : ''}${(t.margin * 100).toFixed(0)} %`
    rows.push(`| ${t.name} | ${measured} | ${t.comparison} ${t.threshold} ${t.unit} | ${t.measured === undefined ? '–' : t.met ? 'yes' : '**no**'} | ${margin} | ${t.note ?? ''} |`)
  }
  return rows
}

function errorsCell(load: LoadResult): string {
  const { errors, designed503 } = errorCounts(load.statuses)
  const detail = Object.entries(load.statuses).filter(([status]) => !/^2\d\d$/.test(status))
  if (errors + designed503 === 0) return '0'
  return detail.map(([status, count]) => `${count}× ${status}`).join(', ')
}

const fmtInt = (value: number) => Math.round(value).toLocaleString('en-US')
const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2))
const fmtSeconds = (ms: number) => `${(ms / 1000).toFixed(ms < 1000 ? 1 : 0)} s`
/** Server CPU time per HTTP request: steadier than throughput when the machine is shared. */
function cpuPerRequest(s: ScenarioReport): string {
  if (s.cpu?.serverCores === undefined || !s.requestsPerSecond) return 'n/a'
  const us = (s.cpu.serverCores / s.requestsPerSecond) * 1e6
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`
}
/** The range of per-trial ratios, so a noisy ratio is visible as such. */
function spread(trials: readonly number[] | undefined): string {
  if (trials === undefined || trials.length < 2) return ''
  return ` (${rangeOf(trials.map((ratio) => ratio * 100), 0)})`
}
const fmtNumber = (value: number) => (Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1))
const fmtPct = (ratio: number | undefined) => (ratio === undefined ? '' : `${(ratio * 100).toFixed(0)} %`)
const fmtCores = (cores: number | undefined) => (cores === undefined ? 'n/a' : `${cores.toFixed(2)} cores`)
/**
 * Cores used by the server and by the load generator (this process) over the measured window.
 * A figure for which the generator burnt more CPU than the server may measure the generator,
 * not the server: it is marked invalid.
 */
const cpuPair = (cpu: CpuWindow | undefined) =>
  cpu === undefined
    ? 'n/a'
    : `${cpu.serverCores === undefined ? 'n/a' : cpu.serverCores.toFixed(2)}${cpu.databaseCores === undefined ? '' : ` + ${cpu.databaseCores.toFixed(2)} database`} / ${cpu.benchCores.toFixed(2)}${generatorBound(cpu) ? ' **invalid: generator > server**' : ''}`

