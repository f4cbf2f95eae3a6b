/**
 * `bun bench/profile.ts <scenario> [seconds] [engine]`: runs the server from its sources under
 * `bun --cpu-prof` while one benchmark load runs, then prints where the server's time went
 * during that load (profile-split.ts; the seeding before it is left out). The engine (sqlite by
 * default; postgres, mysql at BENCH_POSTGRES_URL / BENCH_MYSQL_URL) holds a fresh scratch database.
 * Scenarios: info-collections, post-100, get-1000, batch-3, mix. The profile (.cpuprofile for
 * Chrome DevTools / speedscope, and Bun's Markdown summary) is kept in bench/results/profiles/.
 * PROFILE_ENTRY=<path to main.ts> profiles another checkout (e.g. an experimental patch).
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { engines, type EngineName } from './engines.ts'
import { mixPopulation, runMixLevel } from './mix.ts'
import { profiles } from './options.ts'
import { LoadSeries, runLoad } from './load.ts'
import { profileSplit } from './profile-split.ts'
import { prepareStorageScenario } from './scenarios.ts'
import { startSyncServer } from './syncserver.ts'
import { workloads, type WorkloadId } from './workloads.ts'

const ROOT = resolve(import.meta.dir, '..')
const OUT = join(import.meta.dir, 'results', 'profiles')

async function main(): Promise<number> {
  const [name = 'info-collections', secondsText = '8', engineName = 'sqlite'] = Bun.argv.slice(2)
  if ((name !== 'mix' && !(name in workloads)) || !(engineName in engines)) {
    console.error(`usage: bun bench/profile.ts <${[...Object.keys(workloads), 'mix'].join('|')}> [seconds] [${Object.keys(engines).join('|')}]`)
    return 2
  }
  const seconds = Number(secondsText)
  const dir = join(OUT, engineName === 'sqlite' ? name : `${name}-${engineName}`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })

  const engine = engines[engineName as EngineName]()
  const unreachable = await engine.unreachable()
  if (unreachable !== undefined) throw new Error(`${engine.label} ${unreachable}`)
  const database = await engine.freshDatabase()
  const secret = randomBytes(32).toString('hex')
  const started = await startSyncServer({
    binary: '',
    command: [process.execPath, '--cpu-prof', '--cpu-prof-md', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=200', process.env.PROFILE_ENTRY ?? join(ROOT, 'src/main.ts'), 'serve'],
    databaseUrl: database.url,
    env: database.env,
    masterSecret: secret,
  })
  if (!started.ok) throw new Error(started.reason)
  const server = started.server
  const measured = { from: 0, to: 0 }
  try {
    const bounds = { ...profiles.full.scenario, maxMs: seconds * 1000 }
    if (name === 'mix') {
      const population = mixPopulation(server.url, secret, 200)
      measured.from = Date.now()
      const level = await runMixLevel(server, population, { concurrency: 8, maxIterations: 1e9, maxMs: seconds * 1000, thinkMs: 0 })
      console.log(`mix c=8: ${level.requestsPerSecond.toFixed(0)} req/s, server ${level.cpu.serverCores?.toFixed(2)} cores`)
    } else {
      const workload = workloads[name as WorkloadId]
      const operation = await prepareStorageScenario(workload, server, secret, bounds.concurrency)
      await runLoad({ concurrency: bounds.concurrency, maxOps: Math.max(workload.users, 200), maxMs: 2_000 }, operation)
      const series = new LoadSeries(bounds.concurrency, server.pid)
      measured.from = Date.now()
      await series.trial(bounds, operation)
      const result = series.result()
      console.log(`${name}: ${(result.opsPerSecond * workload.requestsPerOp).toFixed(0)} req/s, server ${result.cpu.serverCores?.toFixed(2)} cores`)
    }
    measured.to = Date.now()
  } finally {
    await server.stop()
    await database.drop()
  }
  const profile = readdirSync(dir).find((file) => file.endsWith('.cpuprofile'))
  if (profile !== undefined) console.log(profileSplit(join(dir, profile), measured.from, measured.to))
  console.log(`profiles in ${dir}`)
  return 0
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
