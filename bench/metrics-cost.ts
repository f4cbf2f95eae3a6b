/**
 * What metrics cost per request (issue 13): servers on SQLite — metrics off (twice: the second
 * one shows how far two identical servers differ here), StatsD on, StatsD and Prometheus on —
 * take the same requests in interleaved rounds, and each round gives each server's CPU time per
 * request. The report takes medians over rounds, of the figures and of each one's difference to
 * the first server in the same round, so background load on a shared machine mostly cancels.
 * StatsD datagrams go to a UDP socket of this process, which reads and drops them.
 *
 *   bun bench/metrics-cost.ts [--rounds=12] [--requests=2000] [--binary=dist/syncserver]
 */
import { createSocket } from 'node:dgram'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { makeUsers } from './client.ts'
import { engines } from './engines.ts'
import { cpuWindow } from './proc.ts'
import { freePort, type RunningProcess } from './server.ts'
import { startSyncServer } from './syncserver.ts'

const option = (name: string, fallback: string) =>
  process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback
const ROUNDS = Number(option('rounds', '12'))
const REQUESTS = Number(option('requests', '2000'))
const CONCURRENCY = 4
const ROOT = join(import.meta.dir, '..')
const binary = option('binary', join(ROOT, 'dist', 'syncserver'))
const command = existsSync(binary) ? undefined : [process.execPath, join(ROOT, 'src', 'main.ts'), 'serve']

const sink = createSocket('udp4')
let datagrams = 0
sink.on('message', () => datagrams++)
await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve))
const statsd = { SYNC_STATSD_HOST: '127.0.0.1', SYNC_STATSD_PORT: String(sink.address().port) }

const configurations: { label: string; env: Record<string, string> }[] = [
  { label: 'metrics off', env: {} },
  { label: 'metrics off (a second server: the noise floor)', env: {} },
  { label: 'StatsD', env: statsd },
  { label: 'StatsD + Prometheus', env: { ...statsd, SYNC_PROMETHEUS_PORT: String(freePort()) } },
]

const sqlite = engines.sqlite()
const SECRET = 'the metrics-cost bench secret, long enough'
const servers: { label: string; server: RunningProcess; drop(): Promise<void>; perRequest: number[]; versusOff: number[] }[] = []
for (const { label, env } of configurations) {
  const database = await sqlite.freshDatabase()
  const started = await startSyncServer({ binary, command, databaseUrl: database.url, masterSecret: SECRET, env: { ...env, SYNC_WORKERS: '1', SYNC_SYNCSTORAGE__PURGE_TTL_INTERVAL: '0' } })
  if (!started.ok) throw new Error(`${label}: ${started.reason}`)
  servers.push({ label, server: started.server, drop: database.drop, perRequest: [], versusOff: [] })
}

/** A realistic cheap pair: the info/collections poll every sync starts with, and one record PUT. */
async function round(url: string): Promise<number> {
  const users = makeUsers(url, SECRET, 1, CONCURRENCY)
  let sent = 0
  await Promise.all(
    users.map(async (user) => {
      while (sent < REQUESTS) {
        sent += 2
        const put = await user.send('PUT', `/storage/tabs/r${sent % 50}`, { body: '{"payload":"x"}' })
        const info = await user.send('GET', '/info/collections')
        if (put.status !== 200 || info.status !== 200) throw new Error(`unexpected status ${put.status}/${info.status}`)
      }
    }),
  )
  return sent
}

let benchCpu = 0
let serverCpu = 0
for (let r = 0; r < ROUNDS; r++) {
  const thisRound = new Map<(typeof servers)[number], number>()
  for (const entry of r % 2 === 0 ? servers : [...servers].reverse()) {
    const started = performance.now()
    const window = cpuWindow(entry.server.pid)
    const requests = await round(entry.server.url)
    const seconds = (performance.now() - started) / 1000
    const cpu = window.stop()
    if (r === 0) continue // warm-up: JIT, statement caches, first datagrams
    thisRound.set(entry, (((cpu.serverCores ?? Number.NaN) * seconds) / requests) * 1e6)
    benchCpu += cpu.benchCores * seconds
    serverCpu += (cpu.serverCores ?? 0) * seconds
  }
  const off = thisRound.get(servers[0] as (typeof servers)[number])
  for (const [entry, micros] of thisRound) {
    entry.perRequest.push(micros)
    if (off !== undefined) entry.versusOff.push(micros - off)
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
console.log(`${ROUNDS - 1} measured rounds of ${REQUESTS} requests per server (PUT one record + GET info/collections), ${CONCURRENCY} clients\n`)
console.log('| server | CPU per request (median) | minus metrics off, same round (median) |')
console.log('|---|---|---|')
servers.forEach((entry, index) => {
  const extra = median(entry.versusOff)
  const relative = (extra / median((servers[0] as (typeof servers)[number]).perRequest)) * 100
  console.log(`| ${entry.label} | ${median(entry.perRequest).toFixed(1)} µs | ${index === 0 ? '—' : `${extra >= 0 ? '+' : ''}${extra.toFixed(1)} µs (${relative.toFixed(1)} %)`} |`)
})
console.log(`\nload generator CPU: ${(benchCpu / serverCpu).toFixed(2)} × the servers'; StatsD datagrams received: ${datagrams}`)

for (const entry of servers) {
  await entry.server.stop()
  await entry.drop()
}
sink.close()
