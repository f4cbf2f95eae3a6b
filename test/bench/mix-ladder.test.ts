import { expect, test } from 'bun:test'
import { capacityWithinLatency, judgedTrial, mayBeNoise, nextMixConcurrency, type MixLevel } from '../../bench/mix.ts'

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

test('a level is measured again only when it crossed the line without errors and short of hopeless', () => {
  expect(mayBeNoise(level(8, 49))).toBe(false)
  expect(mayBeNoise(level(8, 53))).toBe(true)
  expect(mayBeNoise(level(8, 200))).toBe(true)
  expect(mayBeNoise(level(8, 201))).toBe(false)
  expect(mayBeNoise(level(8, 60, 2))).toBe(false)
})

test('a level measured three times is judged by its median-p99 trial, which keeps every p99 in the order run', () => {
  const judged = judgedTrial([level(8, 53), level(8, 15), level(8, 20)])
  expect(judged.latency.p99).toBe(20)
  expect(judged.p99Trials).toEqual([53, 15, 20])
  expect(capacityWithinLatency([level(4, 10), judged, level(16, 70)]).level).toBe(judged)
  // A trial with errors ranks past every p99: two such trials out of three make the level fail.
  expect(judgedTrial([level(8, 53), level(8, 15, 1), level(8, 20, 3)]).errors).toBeGreaterThan(0)
  expect(judgedTrial([level(8, 53), level(8, 60), level(8, 20, 3)]).latency.p99).toBe(60)
})
