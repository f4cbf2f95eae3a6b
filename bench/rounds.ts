/**
 * Servers measured in rounds: each round loads every contender in turn (or all at once) for the
 * same time, and keeps each one's server CPU per operation. A ratio between two contenders is
 * then taken round by round, from figures measured seconds apart, so the machine's drift over
 * minutes hits both sides of it alike; the figure reported is the median of those ratios.
 */
import type { BenchEngine } from './engines.ts'
import { runLoad, type Operation } from './load.ts'
import { cpuWindow } from './proc.ts'
import { prepareStorageScenario } from './scenarios.ts'
import type { RunningProcess } from './server.ts'
import { startSyncServer } from './syncserver.ts'
import type { Workload } from './workloads.ts'

export interface Contender {
  label: string
  server: RunningProcess
  operation: Operation
  /** Server CPU per operation (µs) and operations per second, one entry per round. */
  micros: number[]
  rates: number[]
  stop(): Promise<void>
}

export interface ContenderOptions {
  label: string
  engine: BenchEngine
  binary: string
  masterSecret: string
  workload: Workload
  concurrency: number
  /** Extra SYNC_* settings on top of the engine's. */
  env?: Record<string, string>
}

const WARM_UP_MS = 1_500

/** A server on a fresh database of its engine, seeded for the workload and warmed up. */
export async function startContender(options: ContenderOptions): Promise<Contender> {
  const database = await options.engine.freshDatabase()
  const started = await startSyncServer({ binary: options.binary, databaseUrl: database.url, env: { ...database.env, ...options.env }, masterSecret: options.masterSecret })
  if (!started.ok) {
    await database.drop()
    throw new Error(`${options.label}: ${started.reason}`)
  }
  const { server } = started
  const stop = async () => {
    await server.stop()
    await database.drop()
  }
  try {
    const operation = await prepareStorageScenario(options.workload, server, options.masterSecret, options.concurrency)
    await runLoad({ concurrency: options.concurrency, maxOps: 1e9, maxMs: WARM_UP_MS }, operation)
    return { label: options.label, server, operation, micros: [], rates: [], stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/** One load of `ms` on one contender: its server's CPU per operation (µs), also kept on it. */
export async function measureRound(contender: Contender, concurrency: number, ms: number): Promise<number> {
  const window = cpuWindow(contender.server.pid)
  const started = performance.now()
  const result = await runLoad({ concurrency, maxOps: 1e9, maxMs: ms }, contender.operation)
  const seconds = (performance.now() - started) / 1000
  const cpu = window.stop()
  const unexpected = Object.keys(result.statuses).filter((status) => status !== '200')
  if (result.firstError !== undefined || unexpected.length > 0) throw new Error(`${contender.label}: ${JSON.stringify(result.statuses)} ${result.firstError ?? ''}`)
  const micros = (((cpu.serverCores ?? Number.NaN) * seconds) / result.ops) * 1e6
  contender.micros.push(micros)
  contender.rates.push(result.opsPerSecond)
  return micros
}

/** One round with the contenders loaded one after another, starting with the `first`-th. */
export async function roundInTurn(contenders: readonly Contender[], first: number, concurrency: number, ms: number): Promise<void> {
  for (let offset = 0; offset < contenders.length; offset++) await measureRound(contenders[(first + offset) % contenders.length] as Contender, concurrency, ms)
}
