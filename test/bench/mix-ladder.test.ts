import { expect, test } from 'bun:test'
import { capacityWithinLatency, nextMixConcurrency, type MixLevel } from '../../bench/mix.ts'

const mix = { levels: [4, 8], beyond: [16, 32] }
const level = (concurrency: number, p99: number, errors = 0) =>
  ({ concurrency, requestsPerSecond: concurrency * 10, latency: { p99 }, errors }) as unknown as MixLevel

test('the ladder runs its levels, then steps beyond them only while the last level stays under 50 ms', () => {
  expect(nextMixConcurrency(mix, [])).toBe(4)
  expect(nextMixConcurrency(mix, [level(4, 60)])).toBe(8)
  expect(nextMixConcurrency(mix, [level(4, 10), level(8, 20)])).toBe(16)
  expect(nextMixConcurrency(mix, [level(4, 10), level(8, 50)])).toBeUndefined()
  expect(nextMixConcurrency(mix, [level(4, 10), level(8, 20, 1)])).toBeUndefined()
  expect(nextMixConcurrency(mix, [level(4, 10), level(8, 20), level(16, 30), level(32, 40)])).toBeUndefined()
  // Far past the line, the fixed levels stop too.
  expect(nextMixConcurrency(mix, [level(4, 250)])).toBeUndefined()
})

test('capacity is the busiest level under the line, and capped when the last level never crossed it', () => {
  expect(capacityWithinLatency([level(4, 10), level(8, 30), level(16, 70)])).toEqual({ level: level(8, 30), capped: false })
  expect(capacityWithinLatency([level(4, 10), level(8, 30)])).toEqual({ level: level(8, 30), capped: true })
  expect(capacityWithinLatency([level(4, 60), level(8, 70)])).toEqual({ capped: false })
})
