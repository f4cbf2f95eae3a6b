/**
 * Server CPU per GET info/collections (or per operation of another scenario, `--scenario=`) of
 * two binaries on each engine, in paired, alternating
 * rounds: every round runs the same load against A and B on each engine (the order flips from
 * round to round), and the report gives the median of the per-round B/A ratios with their
 * spread, and each engine's figure over SQLite's from the same rounds.
 *
 * `--together` loads A and B at the same time instead (8 clients each): whatever else the
 * shared machine does then hits both sides of a ratio alike, which halves the spread of an A/A
 * run here (±4 % against ±10 %). Neither server is saturated then, so the figures are those of
 * a server with idle moments, not of one at its ceiling.
 *
 *   bun bench/paired-info.ts --a=PATH --b=PATH [--a-env=K=V,…] [--b-env=K=V,…] [--engines=sqlite,postgres,mysql] [--rounds=6] [--ms=3000] [--scenario=post-100] [--together]
 */
import { randomBytes } from 'node:crypto'
import { engines, type EngineName } from './engines.ts'
import { runLoad } from './load.ts'
import { cpuWindow } from './proc.ts'
import { prepareStorageScenario } from './scenarios.ts'
import { median } from './stats.ts'
import type { RunningProcess } from './server.ts'
import { startSyncServer } from './syncserver.ts'
import { workloads, type WorkloadId } from './workloads.ts'

const option = (name: string, fallback?: string) => {
  const value = process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback
  if (value === undefined) throw new Error(`--${name}= is required`)
  return value
}
const binaries = { A: option('a'), B: option('b') }
/** Extra SYNC_* settings of one side (KEY=VALUE,KEY=VALUE), e.g. to try a setting on one binary. */
const settings = (text: string): Record<string, string> => Object.fromEntries(text.split(',').filter(Boolean).map((pair) => pair.split('=') as [string, string]))
const sideEnv = { A: settings(option('a-env', '')), B: settings(option('b-env', '')) }
const engineNames = option('engines', 'sqlite,postgres,mysql').split(',') as EngineName[]
const ROUNDS = Number(option('rounds', '6'))
const MS = Number(option('ms', '3000'))
const CONCURRENCY = 8
const TOGETHER = process.argv.includes('--together')
const workload = workloads[option('scenario', 'info-collections') as WorkloadId]
if (workload === undefined) throw new Error(`--scenario= is one of ${Object.keys(workloads).join(', ')}`)
const secret = randomBytes(32).toString('hex')

interface Entry {
  engine: EngineName
  side: 'A' | 'B'
  server: RunningProcess
  operation: Parameters<typeof runLoad>[1]
  drop(): Promise<void>
  micros: number[]
  rates: number[]
}

const entries: Entry[] = []
for (const engineName of engineNames) {
  const engine = engines[engineName]()
  for (const side of ['A', 'B'] as const) {
    const database = await engine.freshDatabase()
    const started = await startSyncServer({ binary: binaries[side], databaseUrl: database.url, env: { ...database.env, ...sideEnv[side] }, masterSecret: secret })
    if (!started.ok) throw new Error(`${engineName} ${side}: ${started.reason}`)
    const operation = await prepareStorageScenario(workload, started.server, secret, CONCURRENCY)
    await runLoad({ concurrency: CONCURRENCY, maxOps: 1e9, maxMs: 1500 }, operation)
    entries.push({ engine: engineName, side, server: started.server, operation, drop: database.drop, micros: [], rates: [] })
  }
}

/** One load on one side: its server's CPU per operation in µs, kept with its rate. */
async function measure(entry: Entry): Promise<number> {
  const window = cpuWindow(entry.server.pid)
  const started = performance.now()
  const result = await runLoad({ concurrency: CONCURRENCY, maxOps: 1e9, maxMs: MS }, entry.operation)
  const seconds = (performance.now() - started) / 1000
  const cpu = window.stop()
  if (result.firstError !== undefined || Object.keys(result.statuses).some((status) => status !== '200')) throw new Error(`${entry.engine} ${entry.side}: ${JSON.stringify(result.statuses)} ${result.firstError ?? ''}`)
  const micros = (((cpu.serverCores ?? Number.NaN) * seconds) / result.ops) * 1e6
  entry.micros.push(micros)
  entry.rates.push(result.opsPerSecond)
  return micros
}

async function inTurn(ordered: Entry[]): Promise<number[]> {
  const measurements: number[] = []
  for (const entry of ordered) measurements.push(await measure(entry))
  return measurements
}

try {
  for (let round = 0; round < ROUNDS; round++) {
    const line: string[] = []
    for (const engineName of engineNames) {
      const pair = entries.filter((entry) => entry.engine === engineName)
      const ordered = round % 2 === 0 ? pair : [...pair].reverse()
      const measurements = TOGETHER ? await Promise.all(ordered.map(measure)) : await inTurn(ordered)
      for (const [index, entry] of ordered.entries()) line.push(`${engineName} ${entry.side} ${measurements[index]!.toFixed(1)}`)
    }
    console.log(`round ${round + 1}: ${line.join(', ')}`)
  }
} finally {
  for (const entry of entries) {
    await entry.server.stop()
    await entry.drop()
  }
}

const spread = (values: number[]) => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`
const measured = (engine: EngineName, side: 'A' | 'B') => entries.find((entry) => entry.engine === engine && entry.side === side) ?? { micros: [], rates: [] }
const of = (engine: EngineName, side: 'A' | 'B') => measured(engine, side).micros
const ratios = (top: number[], bottom: number[]) => top.map((value, index) => value / (bottom[index] as number))

console.log(`\n${ROUNDS} rounds of ${MS} ms, ${CONCURRENCY} clients${TOGETHER ? ' per side, A and B at once' : ''}; A=${binaries.A} B=${binaries.B}\n`)
console.log('| engine | A µs/req | B µs/req | B/A (median, spread) | A / SQLite A | B / SQLite B | req/s B/A (median) |')
console.log('|---|---|---|---|---|---|---|')
for (const engine of engineNames) {
  const a = of(engine, 'A')
  const b = of(engine, 'B')
  const versus = (side: 'A' | 'B', values: number[]) => {
    const sqlite = of('sqlite', side)
    return sqlite.length === 0 ? '—' : `${median(ratios(values, sqlite)).toFixed(2)}× (${spread(ratios(values, sqlite))})`
  }
  console.log(`| ${engine} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${median(ratios(b, a)).toFixed(3)} (${spread(ratios(b, a))}) | ${versus('A', a)} | ${versus('B', b)} | ${median(ratios(measured(engine, 'B').rates, measured(engine, 'A').rates)).toFixed(2)} |`)
}
