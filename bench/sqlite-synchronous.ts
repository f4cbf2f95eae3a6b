/**
 * What SQLite's `synchronous` level costs (`syncstorage.sqlite_synchronous`): one server per
 * level, each on its own file on the real disk, measured in interleaved rounds so background
 * load hits every level alike. Reports POST and mixed-traffic throughput as ratios to NORMAL,
 * with the server's and this load generator's CPU.
 *
 *   bun bench/sqlite-synchronous.ts [--seconds=3] [--rounds=3]
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { startServerProcess, type ServerProcess } from '../test/fault/support/server-process.ts'
import { makeUsers, type SyncUser } from './client.ts'

const LEVELS = ['off', 'normal', 'full', 'extra'] as const
const argument = (name: string, fallback: number) => Number(process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback)
const SECONDS = argument('seconds', 3)
const ROUNDS = argument('rounds', 3)
const CLIENTS = 4

const body = (n: number) => JSON.stringify(Array.from({ length: 20 }, (_, i) => ({ id: `r${(n * 20 + i) % 300}`, payload: 'x'.repeat(450) })))

type Operation = (user: SyncUser, n: number) => Promise<unknown>
const post: Operation = (user, n) => user.send('POST', '/storage/history', { body: body(n) })
const mix: Operation = (user, n) => {
  switch (n % 3) {
    case 0:
      return user.send('GET', '/info/collections')
    case 1:
      return user.send('GET', '/storage/history?full=1&limit=50')
    default:
      return user.send('POST', '/storage/history', { body: body(n) })
  }
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function measure(server: ServerProcess, users: SyncUser[], operation: Operation) {
  const end = performance.now() + SECONDS * 1000
  const serverCpu = cpuSeconds(server.pid)
  const ownCpu = process.cpuUsage()
  let requests = 0
  await Promise.all(
    users.map(async (user) => {
      for (let n = 0; performance.now() < end; n++) {
        await operation(user, n)
        requests++
      }
    }),
  )
  const own = process.cpuUsage(ownCpu)
  return {
    perSecond: requests / SECONDS,
    serverCores: (cpuSeconds(server.pid) - serverCpu) / SECONDS,
    loadCores: (own.user + own.system) / 1e6 / SECONDS,
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const dir = mkdtempSync(join(process.env.BENCH_DIR ?? '/var/tmp', 'syncserver-synchronous-'))
const masterSecret = randomBytes(32).toString('hex')
const servers = new Map<string, ServerProcess>()
try {
  for (const level of LEVELS) {
    const server = await startServerProcess({
      databaseUrl: `sqlite:///${join(dir, `${level}.db`)}`,
      masterSecret,
      env: { SYNC_SYNCSTORAGE__SQLITE_SYNCHRONOUS: level },
    })
    if (!(await server.waitFor('/__heartbeat__', 200, 15_000))) throw new Error(`server for ${level} did not start:\n${server.output()}`)
    servers.set(level, server)
  }
  const results = new Map<string, { post: number[]; mix: number[]; serverCores: number[]; loadCores: number[] }>()
  for (let round = 0; round < ROUNDS; round++) {
    const order = LEVELS.map((_, i) => LEVELS[(i + round) % LEVELS.length]!)
    for (const level of order) {
      const server = servers.get(level)!
      const users = makeUsers(server.origin, masterSecret, 1 + round * CLIENTS, CLIENTS)
      const posted = await measure(server, users, post)
      const mixed = await measure(server, users, mix)
      const entry = results.get(level) ?? { post: [], mix: [], serverCores: [], loadCores: [] }
      entry.post.push(posted.perSecond)
      entry.mix.push(mixed.perSecond)
      entry.serverCores.push(posted.serverCores, mixed.serverCores)
      entry.loadCores.push(posted.loadCores, mixed.loadCores)
      results.set(level, entry)
    }
  }
  const normal = results.get('normal')!
  console.log(`SQLite synchronous levels, ${ROUNDS} interleaved rounds × ${SECONDS} s per workload, ${CLIENTS} clients, file in ${dir}`)
  console.log('level   POST 20×450 B  ratio   mix (info/GET/POST)  ratio   server cores  loadgen cores')
  for (const level of LEVELS) {
    const r = results.get(level)!
    console.log(
      `${level.padEnd(7)} ${median(r.post).toFixed(0).padStart(8)}/s  ${(median(r.post) / median(normal.post)).toFixed(2).padStart(5)}  ` +
        `${median(r.mix).toFixed(0).padStart(12)}/s  ${(median(r.mix) / median(normal.mix)).toFixed(2).padStart(10)}  ` +
        `${median(r.serverCores).toFixed(2).padStart(12)}  ${median(r.loadCores).toFixed(2).padStart(13)}`,
    )
  }
} finally {
  await Promise.all([...servers.values()].map((server) => server.kill()))
  rmSync(dir, { recursive: true, force: true })
}
