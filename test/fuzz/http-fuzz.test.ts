import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { RestartableServer } from '../model/server.ts'
import { sizeOn } from '../model/sizes.ts'
import { fuzzUids, runFuzz } from './fuzz.ts'

/**
 * HTTP fuzzing on every engine (test/fuzz/fuzz.ts). Bounded here, with fewer requests on
 * Spanner (the emulator answers ~5 times slower than the SQL engines); `bun run test:fuzz --
 * --requests N [--seed S] [--engines a,b]` sends exactly N on every engine (it sets
 * FUZZ_REQUESTS, FUZZ_SEED).
 */
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)

describe.each(backends)('HTTP fuzzing on $name', (backend) => {
  const requests = sizeOn(backend.name, process.env.FUZZ_REQUESTS, { default: 1500, spanner: 500 }, 'FUZZ_REQUESTS')
  let server: RestartableServer
  beforeAll(async () => {
    server = await RestartableServer.start(backend)
  })
  afterAll(() => server?.stop())

  test(`${requests} fuzzed requests: no undesigned 5xx, the server stays up, a bystander's data never changes`, async () => {
    const report = await runFuzz(server, { requests, seed, base: fuzzUids() })
    console.log(
      `fuzz ${report.engine}: ${report.requests} requests in ${report.seconds.toFixed(1)} s, ${report.status5xx} undesigned 5xx, ${report.designed503} designed 503, ${report.noAnswer} without answer, answers ${JSON.stringify(report.classes)}, seed ${report.seed}`,
    )
    if (report.failure !== undefined) console.error(report.failure)
    expect(report.failure).toBeUndefined()
  }, 3_600_000)
})
