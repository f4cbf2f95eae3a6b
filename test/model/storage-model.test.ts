import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { abortRetries, coverageSummary } from './operations.ts'
import { runModel } from './runner.ts'
import { RestartableServer } from './server.ts'
import { sizeOn } from './sizes.ts'

/**
 * Model-based test of the storage API: random sequences of operations by several users, each
 * answer checked against the in-memory model of storage-api.md (test/model/model.ts).
 * Bounded here, with fewer runs on Spanner (the emulator answers a write ~10 times slower than
 * the SQL engines); `bun run test:model -- --runs N --ops M [--seed S] [--engines a,b]` runs
 * exactly N × M on every engine (it sets MODEL_RUNS, MODEL_OPS, MODEL_SEED for this file);
 * `--progress K` prints the mean time of every K sequences (MODEL_PROGRESS).
 */
const seed = process.env.MODEL_SEED === undefined ? undefined : Number(process.env.MODEL_SEED)
const progressEvery = process.env.MODEL_PROGRESS === undefined ? undefined : Number(process.env.MODEL_PROGRESS)

describe.each(backends)('storage model on $name', (backend) => {
  const runs = sizeOn(backend.name, process.env.MODEL_RUNS, { default: 15, spanner: 4 }, 'MODEL_RUNS')
  const ops = sizeOn(backend.name, process.env.MODEL_OPS, { default: 80, spanner: 80 }, 'MODEL_OPS')
  let server: RestartableServer
  beforeAll(async () => {
    server = await RestartableServer.start(backend)
  })
  afterAll(() => server?.stop())

  test(`${runs} random sequences of ${ops} operations agree with the model`, async () => {
    const report = await runModel(server, { runs, ops, seed, progressEvery })
    console.log(`model ${report.engine}: ${report.runs} of ${runs} runs × ${ops} ops (${report.operations} operations, ${server.restarts} restarts, ${server.databases} databases, ${abortRetries.count} aborts retried) in ${report.seconds.toFixed(1)} s, seed ${report.seed}`)
    if (process.env.MODEL_COVERAGE !== undefined) console.log(`requests by op and status: ${coverageSummary()}`)
    if (report.failure !== undefined) console.error(report.failure)
    expect(report.failure).toBeUndefined()
  }, 3_600_000)
})
