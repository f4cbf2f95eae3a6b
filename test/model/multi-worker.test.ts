import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { SETUP_TIMEOUT_MS, sqlBackends } from '../support/backends.ts'
import { BINARY } from '../support/binary.ts'
import { runModel } from './runner.ts'
import { RestartableServer } from './server.ts'
import { sizeOn } from './sizes.ts'

/**
 * The model test against `serve` with two worker processes on one database, every request on a
 * new connection so that the kernel spreads a sequence's requests over both workers: what one
 * worker committed (SQLite's group commits, its caches checked by data_version) must be what
 * the other answers next. The compiled binary runs it (scripts/test.sh builds it first).
 */
const suite = existsSync(BINARY) ? describe.each(sqlBackends) : describe.skip.each(sqlBackends)

suite('storage model on $name, serve with workers = 2', (backend) => {
  const runs = sizeOn(backend.name, process.env.MODEL_RUNS, { default: 20, spanner: 20 }, 'MODEL_RUNS')
  const ops = sizeOn(backend.name, process.env.MODEL_OPS, { default: 80, spanner: 80 }, 'MODEL_OPS')
  let server: RestartableServer
  beforeAll(async () => {
    server = await RestartableServer.start(backend, { workers: 2 })
  }, SETUP_TIMEOUT_MS)
  afterAll(() => server?.stop(), SETUP_TIMEOUT_MS)

  test(`${runs} random sequences of ${ops} operations agree with the model`, async () => {
    const report = await runModel(server, { runs, ops })
    console.log(`model ${report.engine} (workers = 2): ${report.runs} runs × ${ops} ops, ${server.restarts} restarts, in ${report.seconds.toFixed(1)} s, seed ${report.seed}`)
    if (report.failure !== undefined) console.error(report.failure)
    expect(report.failure).toBeUndefined()
  }, 600_000)
})
