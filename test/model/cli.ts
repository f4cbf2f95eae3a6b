/**
 * `bun run test:model -- --runs N --ops M [--seed S] [--engines sqlite,postgres]` and
 * `bun run test:fuzz -- --requests N [--seed S] [--engines …]`: the bounded test files run
 * longer, through `bun test`, with their sizes passed in the environment.
 */
const [suite, ...args] = process.argv.slice(2)
const files: Record<string, { file: string; options: Record<string, string> }> = {
  model: { file: 'test/model/storage-model.test.ts', options: { runs: 'MODEL_RUNS', ops: 'MODEL_OPS', seed: 'MODEL_SEED' } },
  fuzz: { file: 'test/fuzz/http-fuzz.test.ts', options: { requests: 'FUZZ_REQUESTS', seed: 'FUZZ_SEED' } },
}
const chosen = files[suite ?? '']
if (chosen === undefined) throw new Error(`usage: cli.ts model|fuzz [--option value]…`)
const env: Record<string, string | undefined> = { ...process.env }
for (let i = 0; i < args.length; i += 2) {
  const name = args[i]?.replace(/^--/, '') ?? ''
  const value = args[i + 1]
  if (value === undefined) throw new Error(`--${name} needs a value`)
  if (name === 'engines') env.SYNCSERVER_TEST_BACKENDS = value
  else if (chosen.options[name] !== undefined) env[chosen.options[name]] = value
  else throw new Error(`unknown option --${name} (known: ${[...Object.keys(chosen.options), 'engines'].join(', ')})`)
}
const child = Bun.spawn(['bun', 'test', '--timeout', '0', chosen.file], { env, stdio: ['inherit', 'inherit', 'inherit'] })
process.exit(await child.exited)

export {}
