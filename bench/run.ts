/**
 * `bun run bench [--quick]`: builds the single binary, starts it on every reachable storage
 * engine and measures it against its ceilings (issue #5). Writes bench/results/latest.{md,json}
 * and latency.svg for a complete run, partial.* for any other (see `reportName`). It reports numbers and never fails on them: the exit code is non-zero only
 * when the benchmark itself could not run.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { release, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { benchEngine } from './backend.ts'
import { measureEngineRounds } from './engine-rounds.ts'
import { engines } from './engines.ts'
import type { RunReport } from './model.ts'
import { parseCli, reportName } from './options.ts'
import { runScale, scaleTargetSection } from './scale.ts'
import { cpuCount, cpuModel } from './proc.ts'
import { renderMarkdown } from './report.ts'
import { renderLatencySvg } from './svg.ts'
import { crossEngineTargets } from './targets.ts'

const ROOT = resolve(import.meta.dir, '..')
const DEFAULT_BINARY = join(ROOT, 'dist', 'syncserver')
const RESULTS = join(import.meta.dir, 'results')

const log = (line: string) => console.error(`[bench ${(performance.now() / 1000).toFixed(1)}s] ${line}`)

async function main(): Promise<number> {
  const options = parseCli(Bun.argv.slice(2))
  const { profile } = options
  const built = resolve(options.binary ?? DEFAULT_BINARY)
  const buildMs = options.build ? build() : undefined
  const binary = snapshot(built)
  if (options.scale) return runScale(binary, options.engines)

  const report: RunReport = {
    generatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    mode: profile.mode,
    ...(options.mixOnly ? { mixOnly: true } : {}),
    ...(options.scenarios === undefined ? {} : { scenariosOnly: options.scenarios }),
    profile,
    machine: { cpus: cpuCount(), model: cpuModel(), memoryGB: totalmem() / 1e9, kernel: `Linux ${release()}` },
    bun: Bun.version,
    commit: gitCommit(),
    binary: { path: options.binary ?? 'dist/syncserver', bytes: statSync(built).size, ...(buildMs === undefined ? {} : { buildMs }) },
    backends: [],
    failures: [],
  }

  for (const name of options.engines) {
    const engine = engines[name]()
    const backend = await benchEngine(engine, { binary, profile, log, mixOnly: options.mixOnly, ...(options.scenarios === undefined ? {} : { scenarios: options.scenarios }) })
    if (backend.skipped !== undefined) log(`${engine.label}: skipped: ${backend.skipped}`)
    if (backend.failed !== undefined) {
      log(`${engine.label}: FAILED: ${backend.failed}`)
      report.failures.push(`${engine.label}: ${backend.failed}`)
    }
    report.backends.push(backend)
  }

  if (!options.mixOnly && (options.scenarios?.includes('info-collections') ?? true)) {
    try {
      const rounds = await measureEngineRounds(binary, report.backends, profile, log)
      if (rounds !== undefined) report.engineRounds = rounds
    } catch (error) {
      log(`engines in turn: FAILED: ${error instanceof Error ? error.message : error}`)
      report.failures.push(`engines in turn: ${error instanceof Error ? (error.stack ?? error.message) : error}`)
    }
  }
  crossEngineTargets(report)
  const scale = scaleTargetSection()
  const markdown = scale.length === 0 ? renderMarkdown(report) : `${renderMarkdown(report)}\n${scale.join('\n')}\n`
  const name = reportName(options)
  const files = { md: `${name}.md`, json: `${name}.json`, svg: name === 'latest' ? 'latency.svg' : `${name}-latency.svg` }
  mkdirSync(RESULTS, { recursive: true })
  writeFileSync(join(RESULTS, files.md), markdown)
  writeFileSync(join(RESULTS, files.json), `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(join(RESULTS, files.svg), renderLatencySvg(report))
  console.log(markdown)
  log(`wrote ${join('bench', 'results')}/${files.md}, ${files.json}, ${files.svg}`)
  return report.failures.length === 0 ? 0 : 1
}

/**
 * A private copy of the binary to run: other work in the checkout (a test building the binary)
 * may replace dist/syncserver while the benchmark runs, and every start must run the same build.
 */
function snapshot(binary: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'syncbench-bin-'))
  const copy = join(dir, 'syncserver')
  copyFileSync(binary, copy)
  chmodSync(copy, 0o755)
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  return copy
}

/** `bun run build`, timed; the benchmark measures the artifact operators run. */
function build(): number {
  log('bun run build')
  const started = performance.now()
  const result = spawnSync(process.execPath, ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  if (result.status !== 0) throw new Error(`bun run build failed with status ${result.status}`)
  return performance.now() - started
}

function gitCommit(): string {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' })
  if (head.status !== 0) return 'unknown'
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src', 'drizzle', 'package.json'], { cwd: ROOT, encoding: 'utf8' })
  return `${head.stdout.trim()}${dirty.stdout.trim() === '' ? '' : ' (+ uncommitted changes)'}`
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error)
    process.exit(1)
  },
)
