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
 *   bun bench/paired-info.ts --a=PATH --b=PATH [--a-env=K=V,…] [--b-env=K=V,…] [--engines=sqlite,postgres,mysql] [--rounds=6] [--ms=3000] [--concurrency=8] [--scenario=post-100] [--together]
 */
import { randomBytes } from 'node:crypto'
import { engines, type EngineName } from './engines.ts'
import { measureRound, roundInTurn, startContender, type Contender } from './rounds.ts'
import { median, perRound, rangeOf } from './stats.ts'
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
const CONCURRENCY = Number(option('concurrency', '8'))
const TOGETHER = process.argv.includes('--together')
const workload = workloads[option('scenario', 'info-collections') as WorkloadId]
if (workload === undefined) throw new Error(`--scenario= is one of ${Object.keys(workloads).join(', ')}`)
const secret = randomBytes(32).toString('hex')

type Side = 'A' | 'B'
const entries: { engine: EngineName; side: Side; contender: Contender }[] = []
for (const engineName of engineNames) {
  const engine = engines[engineName]()
  for (const side of ['A', 'B'] as const) {
    const contender = await startContender({ label: `${engineName} ${side}`, engine, binary: binaries[side], masterSecret: secret, workload, concurrency: CONCURRENCY, env: sideEnv[side] })
    entries.push({ engine: engineName, side, contender })
  }
}

try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const engineName of engineNames) {
      const pair = entries.filter((entry) => entry.engine === engineName).map((entry) => entry.contender)
      if (TOGETHER) await Promise.all(pair.map((contender) => measureRound(contender, CONCURRENCY, MS)))
      else await roundInTurn(pair, round % 2, CONCURRENCY, MS)
    }
    console.log(`round ${round + 1}: ${entries.map(({ contender }) => `${contender.label} ${contender.micros.at(-1)?.toFixed(1)}`).join(', ')}`)
  }
} finally {
  for (const { contender } of entries) await contender.stop()
}

const measured = (engine: EngineName, side: Side) => entries.find((entry) => entry.engine === engine && entry.side === side)?.contender ?? { micros: [], rates: [] }
const of = (engine: EngineName, side: Side) => measured(engine, side).micros

console.log(`\n${ROUNDS} rounds of ${MS} ms, ${CONCURRENCY} clients${TOGETHER ? ' per side, A and B at once' : ''}; A=${binaries.A} B=${binaries.B}\n`)
console.log('| engine | A µs/req | B µs/req | B/A (median, spread) | A / SQLite A | B / SQLite B | req/s B/A (median) |')
console.log('|---|---|---|---|---|---|---|')
for (const engine of engineNames) {
  const a = of(engine, 'A')
  const b = of(engine, 'B')
  const versus = (side: Side, values: number[]) => {
    const sqlite = of('sqlite', side)
    return sqlite.length === 0 ? '—' : `${median(perRound(values, sqlite)).toFixed(2)}× (${rangeOf(perRound(values, sqlite), 2)})`
  }
  console.log(`| ${engine} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${median(perRound(b, a)).toFixed(3)} (${rangeOf(perRound(b, a), 2)}) | ${versus('A', a)} | ${versus('B', b)} | ${median(perRound(measured(engine, 'B').rates, measured(engine, 'A').rates)).toFixed(2)} |`)
}
