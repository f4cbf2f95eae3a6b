import { describe, expect, test } from 'bun:test'
import { parseRunArgs, sizeOn, suites } from './sizes.ts'

describe('test:model / test:fuzz arguments', () => {
  test('sizes, seed and engines reach the environment of the test file', () => {
    expect(parseRunArgs(suites.model, ['--runs', '200', '--ops', '150', '--seed', '-42', '--engines', 'spanner'])).toEqual({
      MODEL_RUNS: '200',
      MODEL_OPS: '150',
      MODEL_SEED: '-42',
      SYNCSERVER_TEST_BACKENDS: 'spanner',
    })
    expect(parseRunArgs(suites.fuzz, ['--requests', '20000'])).toEqual({ FUZZ_REQUESTS: '20000' })
    expect(parseRunArgs(suites.fuzz, [])).toEqual({})
  })

  test('unknown options, missing values and sizes that are not positive integers are refused', () => {
    expect(() => parseRunArgs(suites.fuzz, ['--runs', '5'])).toThrow('unknown option --runs (known: requests, seed, engines)')
    expect(() => parseRunArgs(suites.model, ['--runs'])).toThrow('--runs needs a value')
    expect(() => parseRunArgs(suites.model, ['--runs', '--ops', '5'])).toThrow('--runs needs a value')
    for (const bad of ['0', '-3', '2.5', 'ten', '']) {
      expect(() => parseRunArgs(suites.model, ['--runs', bad])).toThrow(`--runs must be a positive integer, got "${bad}"`)
    }
    expect(() => parseRunArgs(suites.model, ['--seed', '1e400'])).toThrow('--seed must be an integer')
  })
})

describe('size each engine runs', () => {
  const defaults = { default: 15, spanner: 4 }

  test('an explicit size runs as given on every engine, Spanner included', () => {
    for (const engine of ['sqlite', 'postgres', 'mysql', 'spanner']) expect(sizeOn(engine, '200', defaults, 'MODEL_RUNS')).toBe(200)
    expect(sizeOn('spanner', '1', defaults, 'MODEL_RUNS')).toBe(1)
  })

  test("without one, Spanner runs its own (smaller) default and the others theirs", () => {
    expect(sizeOn('spanner', undefined, defaults, 'MODEL_RUNS')).toBe(4)
    expect(sizeOn('sqlite', undefined, defaults, 'MODEL_RUNS')).toBe(15)
  })

  test('a malformed size in the environment is an error, not a silent default', () => {
    expect(() => sizeOn('sqlite', 'lots', defaults, 'MODEL_RUNS')).toThrow('MODEL_RUNS must be a positive integer, got "lots"')
  })
})
