/**
 * Copy throughput on a large database: seeds a SQLite file by bulk SQL (N records over N/1000
 * users), copies it with the CLI to a fresh database, and reports records/s, MB/s and the copy
 * process's peak RSS (VmHWM). Not part of the suite (minutes of work):
 *
 *   bun test/copy/throughput.ts [--records 1000000] [--to postgres|mysql|sqlite]
 */
import { Database } from 'bun:sqlite'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { migrateStorage, migrateTokenserverDb } from '../../src/db/open.ts'
import { backendNamed } from '../support/backends.ts'

const { values } = parseArgs({ options: { records: { type: 'string', default: '1000000' }, to: { type: 'string', default: 'postgres' } } })
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
const child = Bun.spawn(['bun', join(import.meta.dir, '../../src/main.ts'), 'copy', '--from', sourceUrl, '--to', targetUrl, '--progress-interval', '15'], {
  stdout: 'pipe',
  stderr: 'inherit',
})
let peakKb = 0
const sampler = setInterval(() => {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
    if (match) peakKb = Math.max(peakKb, Number(match[1]))
  } catch {}
}, 200)
const output = await new Response(child.stdout).text()
const code = await child.exited
clearInterval(sampler)
console.log(output.trim())
console.log(`exit ${code}; peak RSS of the copy process ${(peakKb / 1024).toFixed(0)} MB`)
rmSync(directory, { recursive: true, force: true })
// The shared servers must not be left holding the copy.
const databaseName = new URL(targetUrl).pathname.slice(1)
if (values.to === 'postgres') {
  const { default: postgres } = await import('postgres')
  const admin = postgres(targetUrl.replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => {} })
  await admin.unsafe(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`)
  await admin.end()
} else if (values.to === 'mysql') {
  const { default: mysql } = await import('mysql2/promise')
  const admin = await mysql.createConnection({ uri: targetUrl.replace(/\/[^/]*$/, '/') })
  await admin.query(`DROP DATABASE IF EXISTS \`${databaseName}\``)
  await admin.end()
}
