/**
 * `bun run test:model -- --runs N --ops M [--seed S] [--engines sqlite,postgres] [--progress K]` and
 * `bun run test:fuzz -- --requests N [--seed S] [--engines …]`: the bounded test files run
 * longer, through `bun test`, with their sizes passed in the environment (sizes.ts). A size
 * given here runs as given on every engine, Spanner included.
 */
import { parseRunArgs, suites } from './sizes.ts'

const [name, ...args] = process.argv.slice(2)
const suite = name === 'model' || name === 'fuzz' ? suites[name] : undefined
if (suite === undefined) throw new Error(`usage: cli.ts model|fuzz [--option value]…`)
const env = { ...process.env, ...parseRunArgs(suite, args) }
const child = Bun.spawn(['bun', 'test', '--timeout', '0', suite.file], { env, stdio: ['inherit', 'inherit', 'inherit'] })
process.exit(await child.exited)
