import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { RestartableServer } from '../model/server.ts'
import { fuzzUids, runFuzz } from './fuzz.ts'

/**
 * HTTP fuzzing on every engine (test/fuzz/fuzz.ts). Bounded here; `bun run test:fuzz --
 * --requests N [--seed S] [--engines a,b]` runs longer (it sets FUZZ_REQUESTS, FUZZ_SEED).
 */
const requests = Number(process.env.FUZZ_REQUESTS ?? 1500)
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)

describe.each(backends)('HTTP fuzzing on $name', (backend) => {
  let server: RestartableServer
  beforeAll(async () => {
    server = await RestartableServer.start(backend)
  })
  afterAll(() => server?.stop())

  test(`${requests} fuzzed requests: no undesigned 5xx, the server stays up, a bystander's data never changes`, async () => {
    // The emulator answers ~5 times slower than the SQL engines: fewer requests keep CI bounded.
    const report = await runFuzz(server, { requests: backend.name === 'spanner' ? Math.min(requests, 500) : requests, seed, base: fuzzUids() })
    console.log(
      `fuzz ${report.engine}: ${report.requests} requests in ${report.seconds.toFixed(1)} s, ${report.status5xx} undesigned 5xx, ${report.designed503} designed 503, ${report.noAnswer} without answer, answers ${JSON.stringify(report.classes)}, seed ${report.seed}`,
    )
    if (report.failure !== undefined) console.error(report.failure)
    expect(report.failure).toBeUndefined()
  }, 3_600_000)
})
