import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openSpannerCeiling } from '../../bench/ceiling-spanner.ts'
import type { DbCeiling } from '../../bench/ceiling-types.ts'
import { fixedRecords } from '../../bench/records.ts'
import { workloads, type Workload } from '../../bench/workloads.ts'
import { backendNamed } from '../support/backends.ts'
import { emulatorHost } from '../support/spanner-emulator.ts'

const spanner = backendNamed('spanner')

/**
 * The benchmark's raw-driver Spanner ceiling (bench/ceiling-spanner.ts) is not part of
 * `bench --quick`, so it is exercised here on the test emulator, on fewer users and records
 * than the benchmark seeds: every scenario's operation answers 200, and the reads find what
 * the seeding and the writes left (a wrong listing or an empty info/collections answers
 * 'wrong result').
 */
describe.skipIf(spanner === undefined)('bench: the raw Spanner ceiling', () => {
  let ceiling: DbCeiling
  beforeAll(async () => {
    const url = await (spanner as NonNullable<typeof spanner>).freshDatabaseUrl()
    ceiling = await openSpannerCeiling(url, await emulatorHost())
  })
  afterAll(() => ceiling?.close())

  const small = (workload: Workload, changes: Partial<Workload>): Workload => ({ ...workload, users: 2, ...changes })
  const cases: Workload[] = [
    small(workloads['info-collections'], {}),
    small(workloads['post-100'], {}),
    small(workloads['get-1000'], { users: 1, seed: [{ collection: 'history', records: fixedRecords(0, 1001, 100) }] }),
    small(workloads['batch-3'], {}),
  ]
  for (const workload of cases) {
    test(`${workload.id}: each operation succeeds and checks its answer`, async () => {
      const operation = await ceiling.prepare(workload, 2)
      const statuses = await Promise.all([operation(0), operation(1), operation(0), operation(1)])
      // The emulator aborts a transaction now and then even with one writer: that is a 503, never a wrong answer.
      expect(statuses.filter((status) => status !== 503)).toEqual(statuses.filter((status) => status !== 503).map(() => 200))
      expect(statuses.filter((status) => status === 200).length).toBeGreaterThan(0)
    }, 60_000)
  }
})
