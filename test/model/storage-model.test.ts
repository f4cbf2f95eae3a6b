import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { coverageSummary } from './operations.ts'
import { runModel } from './runner.ts'
import { RestartableServer } from './server.ts'

/**
 * Model-based test of the storage API: random sequences of operations by several users, each
 * answer checked against the in-memory model of storage-api.md (test/model/model.ts).
 * Bounded here; `bun run test:model -- --runs N --ops M [--seed S] [--engines a,b]` runs longer
 * (it sets MODEL_RUNS, MODEL_OPS, MODEL_SEED for this file).
 */
const runs = Number(process.env.MODEL_RUNS ?? 15)
const ops = Number(process.env.MODEL_OPS ?? 80)
const seed = process.env.MODEL_SEED === undefined ? undefined : Number(process.env.MODEL_SEED)

describe.each(backends)('storage model on $name', (backend) => {
  let server: RestartableServer
  beforeAll(async () => {
    server = await RestartableServer.start(backend)
  })
  afterAll(() => server?.stop())

  test(`${runs} random sequences of ${ops} operations agree with the model`, async () => {
    // The emulator answers a write ~10 times slower than the SQL engines: fewer runs keep CI bounded.
    const report = await runModel(server, { runs: backend.name === 'spanner' ? Math.min(runs, 4) : runs, ops, seed })
    console.log(`model ${report.engine}: ${report.runs} runs × ${ops} ops (${report.operations} operations, ${server.restarts} restarts) in ${report.seconds.toFixed(1)} s, seed ${report.seed}`)
    if (process.env.MODEL_COVERAGE !== undefined) console.log(`requests by op and status: ${coverageSummary()}`)
    if (report.failure !== undefined) console.error(report.failure)
    expect(report.failure).toBeUndefined()
  }, 3_600_000)
})
