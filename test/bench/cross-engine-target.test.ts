import { expect, test } from 'bun:test'
import type { BackendReport, RunReport } from '../../bench/model.ts'
import { crossEngineTargets } from '../../bench/targets.ts'

/** An engine's section whose info/collections cost `micros` µs of server CPU per request. */
const section = (engine: string, micros: number) =>
  ({
    engine,
    label: engine,
    targets: [],
    scenarios: [{ id: 'info-collections', status: 'measured', requestsPerSecond: 10_000, cpu: { serverCores: (micros * 10_000) / 1e6 } }],
  }) as unknown as BackendReport

const run = (backends: BackendReport[], engineRounds?: RunReport['engineRounds']) => ({ backends, ...(engineRounds === undefined ? {} : { engineRounds }) }) as unknown as RunReport
const targetOf = (report: RunReport, engine: string) => report.backends.find((backend) => backend.engine === engine)?.targets[0]

test('the engine ratio is the median of the ratios within each round, not a ratio of medians or of the sections', () => {
  const report = run([section('sqlite', 20), section('postgres', 60)], {
    concurrency: 8,
    ms: 3000,
    engines: [
      { engine: 'sqlite', micros: [10, 30, 20], rates: [1, 1, 1] },
      // Within rounds: 1.9×, 1.9×, 1.5×. The medians' ratio would be 38 / 20 = 1.9×, the sections' 3×.
      { engine: 'postgres', micros: [19, 57, 30], rates: [1, 1, 1] },
    ],
  })
  crossEngineTargets(report)
  const target = targetOf(report, 'postgres')
  expect(target?.measured).toBeCloseTo(1.9, 10)
  expect(target?.met).toBe(true)
  expect(target?.note).toContain('median of 3 rounds in turn (1.50–1.90×)')
  expect(target?.note).toContain('minutes apart: 60 µs vs 20 µs (3.00×)')
  expect(targetOf(report, 'sqlite')).toBeUndefined()
})

test('without rounds for an engine the target is not measured, whatever its section says', () => {
  const report = run([section('sqlite', 20), section('mysql', 30), section('spanner', 900)])
  crossEngineTargets(report)
  const target = targetOf(report, 'mysql')
  expect(target?.measured).toBeUndefined()
  expect(target?.met).toBe(false)
  expect(target?.note).toStartWith('not measured')
  // The emulator's figures are no production figure: Spanner is not compared.
  expect(targetOf(report, 'spanner')).toBeUndefined()
})
