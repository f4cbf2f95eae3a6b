/**
 * Copy throughput on a large database: seeds a SQLite file by bulk SQL (N records of ~300 B over
 * N/1000 users, each with a tokenserver row), copies it with the CLI to a fresh database, and
 * reports records/s, MB/s (from the copy's own summary line), the copy process's peak RSS
 * (VmHWM) and CPU time, and the machine's load average. Not part of the suite (minutes of work):
 *
 *   bun bench/copy-throughput.ts [--records 1000000] [--to postgres|mysql|sqlite|spanner] [--no-verify]
 *
 * `--to spanner` copies to a database on a private Spanner emulator (started here, stopped at
 * exit), with the tokenserver tables in a SQLite file beside it: an emulator figure, not one of
 * Cloud Spanner.
 */
import { Database } from 'bun:sqlite'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { migrateStorage, migrateTokenserverDb } from '../src/db/open.ts'
import { backendNamed } from '../test/support/backends.ts'
import { emulatorHost } from '../test/support/spanner-emulator.ts'

const { values } = parseArgs({
  options: { records: { type: 'string', default: '1000000' }, to: { type: 'string', default: 'postgres' }, 'no-verify': { type: 'boolean', default: false } },
})
const records = Number(values.records)
const perUser = 1000
const users = Math.ceil(records / perUser)

const directory = mkdtempSync(join(tmpdir(), 'syncserver-copy-throughput-'))
const sourceUrl = `sqlite:///${join(directory, 'source.db')}`
await migrateStorage(sourceUrl)
await migrateTokenserverDb(sourceUrl)
const seedStarted = performance.now()
const db = new Database(join(directory, 'source.db'))
db.run('PRAGMA journal_mode = WAL')
db.run(`INSERT INTO nodes (id, service, node, available, current_load, capacity, downed, backoff) VALUES (1, 1, 'https://sync.example.com', 0, ${users}, ${users}, 0, 0)`)
db.run(`WITH RECURSIVE u(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM u WHERE n < ${users})
        INSERT INTO users (uid, service, email, generation, client_state, created_at, nodeid, keys_changed_at)
        SELECT n, 1, 'user' || n || '@example.com', 1700000000000 + n, printf('%032x', n), 1700000000000, 1, 1700000000000 FROM u`)
db.run(`WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < ${records - 1})
        INSERT INTO bso (userid, collection, id, sortindex, payload, payload_size, modified, ttl)
        SELECT n / ${perUser} + 1, 4, printf('%012d', n), n % 100, hex(randomblob(150)), 300, 1700000000000 + n * 10, 3800000000000 FROM r`)
db.run(`INSERT INTO user_collections (userid, collection, last_modified, total_bytes, count)
        SELECT userid, collection, max(modified), sum(payload_size), count(*) FROM bso GROUP BY userid, collection`)
db.close()
console.log(`seeded ${records} records over ${users} users in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`)

const target = backendNamed(values.to)
if (target === undefined) throw new Error(`${values.to} is not reachable here`)
const targetUrl = await target.freshDatabaseUrl()
const spanner = values.to === 'spanner'
const args = ['copy', '--from', sourceUrl, '--to', targetUrl, '--progress-interval', '15']
if (spanner) args.push('--to-tokenserver', await target.tokenserverDatabaseUrl!())
if (values['no-verify']) args.push('--no-verify')
const env = spanner ? { ...process.env, SYNC_SYNCSTORAGE__SPANNER_EMULATOR_HOST: await emulatorHost() } : process.env
const child = Bun.spawn(['bun', join(import.meta.dir, '../src/main.ts'), ...args], { stdout: 'pipe', stderr: 'inherit', env })
let peakKb = 0
let cpuTicks = 0
const sampler = setInterval(() => {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
    if (match) peakKb = Math.max(peakKb, Number(match[1]))
    // utime + stime (fields 14 and 15 of /proc/PID/stat, counted after the command name).
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    cpuTicks = Number(fields[11]) + Number(fields[12])
  } catch {}
}, 200)
const output = await new Response(child.stdout).text()
const code = await child.exited
clearInterval(sampler)
console.log(output.trim())
console.log(
  `exit ${code}; copy process: peak RSS ${(peakKb / 1024).toFixed(0)} MB, CPU ${(cpuTicks / 100).toFixed(1)} s ` +
    `(last sample, 100 ticks/s); load average now ${loadavg().map((load) => load.toFixed(1)).join(' ')} on this machine`,
)
rmSync(directory, { recursive: true, force: true })
// The shared servers must not be left holding the copy.
if (values.to === 'postgres' || values.to === 'mysql') {
  const databaseName = new URL(targetUrl).pathname.slice(1)
  if (values.to === 'postgres') {
    const { default: postgres } = await import('postgres')
    const admin = postgres(targetUrl.replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => {} })
    await admin.unsafe(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`)
    await admin.end()
  } else {
    const { default: mysql } = await import('mysql2/promise')
    const admin = await mysql.createConnection({ uri: targetUrl.replace(/\/[^/]*$/, '/') })
    await admin.query(`DROP DATABASE IF EXISTS \`${databaseName}\``)
    await admin.end()
  }
}
process.exit(code)
