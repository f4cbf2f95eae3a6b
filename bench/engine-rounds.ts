/**
 * The engines' info/collections side by side, for the target that compares their server CPU per
 * request with SQLite's. The engine sections of a run measure it minutes apart, and this
 * machine's speed drifts over minutes (the same code measured 1.8× and 2.8× PostgreSQL over
 * SQLite that way), so the target is judged here instead: one server per engine, loaded in turn
 * round after round, each ratio taken within a round.
 */
import { randomBytes } from 'node:crypto'
import { engines, type EngineName } from './engines.ts'
import type { BackendReport, EngineRounds } from './model.ts'
import type { Profile } from './options.ts'
import { roundInTurn, startContender, type Contender } from './rounds.ts'
import { ENGINES_COMPARED } from './targets.ts'
import { workloads } from './workloads.ts'

/**
 * Runs the rounds on the engines the run measured without failure; none when SQLite or every
 * other compared engine is missing, since there is then no ratio to take.
 */
export async function measureEngineRounds(binary: string, backends: readonly BackendReport[], profile: Profile, log: (line: string) => void): Promise<EngineRounds | undefined> {
  const measured = ENGINES_COMPARED.filter((name) => backends.some((backend) => backend.engine === name && backend.skipped === undefined && backend.failed === undefined))
  if (!measured.includes('sqlite') || measured.length < 2) return undefined
  const { rounds, ms } = profile.engineRounds
  const { concurrency } = profile.scenario
  const masterSecret = randomBytes(32).toString('hex')
  const contenders: { engine: EngineName; contender: Contender }[] = []
  try {
    for (const name of measured) {
      log(`engines in turn: starting ${name}`)
      contenders.push({ engine: name, contender: await startContender({ label: name, engine: engines[name](), binary, masterSecret, workload: workloads['info-collections'], concurrency }) })
    }
    for (let round = 0; round < rounds; round++) {
      // Each round starts with the next engine, so none is always measured right after another.
      await roundInTurn(contenders.map((entry) => entry.contender), round % contenders.length, concurrency, ms)
      log(`engines in turn: round ${round + 1}: ${contenders.map(({ engine, contender }) => `${engine} ${contender.micros.at(-1)?.toFixed(1)} µs`).join(', ')}`)
    }
  } finally {
    for (const { contender } of contenders) await contender.stop()
  }
  return { concurrency, ms, engines: contenders.map(({ engine, contender }) => ({ engine, micros: contender.micros, rates: contender.rates })) }
}
