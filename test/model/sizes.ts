/**
 * How large the model and fuzz runs are. `bun run test:model` / `test:fuzz` (cli.ts) pass sizes
 * given on the command line to the test files in the environment; a size given that way runs
 * as given on every engine. Without one, the bounded CI defaults apply, smaller on Spanner (the
 * emulator answers a write about ten times slower than the SQL engines), and the test titles
 * state the size each engine actually runs.
 */
export interface Suite {
  file: string
  /** Command-line option → environment variable. */
  options: Record<string, string>
}

export const suites: Record<'model' | 'fuzz', Suite> = {
  model: { file: 'test/model/storage-model.test.ts', options: { runs: 'MODEL_RUNS', ops: 'MODEL_OPS', seed: 'MODEL_SEED', progress: 'MODEL_PROGRESS' } },
  fuzz: { file: 'test/fuzz/http-fuzz.test.ts', options: { requests: 'FUZZ_REQUESTS', seed: 'FUZZ_SEED' } },
}

/** The environment variables `--option value` pairs set; `--engines a,b` narrows the engines. */
export function parseRunArgs(suite: Suite, args: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i]?.replace(/^--/, '') ?? ''
    const value = args[i + 1]
    if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`)
    if (name === 'engines') env.SYNCSERVER_TEST_BACKENDS = value
    else if (suite.options[name] !== undefined) env[suite.options[name]] = String(count(value, `--${name}`, name === 'seed' ? Number.MIN_SAFE_INTEGER : 1))
    else throw new Error(`unknown option --${name} (known: ${[...Object.keys(suite.options), 'engines'].join(', ')})`)
  }
  return env
}

/** Per engine: the CI default, and on Spanner the smaller default. */
export interface SizeDefault {
  default: number
  spanner: number
}

/** The size an engine runs: the explicit one when set, else the engine's default. */
export function sizeOn(engine: string, explicit: string | undefined, defaults: SizeDefault, name: string): number {
  if (explicit !== undefined) return count(explicit, name, 1)
  return engine === 'spanner' ? defaults.spanner : defaults.default
}

function count(value: string, name: string, min: number): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new Error(`${name} must be ${min === 1 ? 'a positive integer' : 'an integer'}, got "${value}"`)
  }
  return n
}
