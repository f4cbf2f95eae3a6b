/**
 * `bun run bench --scale`: per-user operations as the data of other users grows (issue #11).
 * Seeds 1×, 10× and 100× stored data (10, 100, 1,000 users × 5,000 records: 5 M at the top) with
 * bulk SQL, one database per size, and times the same operations for the same users with one
 * sequential client, plus the database's size on disk. The sizes are measured in rounds, one
 * server start per size and round, so that a ratio compares figures taken a minute apart: on
 * this shared machine the same request's median moves by 2× between minutes, and sizes measured
 * minutes apart (before and after a long seed) showed that noise as growth. On demand only (it
 * writes gigabytes and takes long); never in CI. PostgreSQL runs on a private instance made for
 * the run (the shared one must not be filled). Results go to bench/results/scale.md and scale.json.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Database } from 'bun:sqlite'
import postgres from 'postgres'
import { makeUsers, type SyncUser } from './client.ts'
import { cpuWindow } from './proc.ts'
import { freePort, type RunningProcess } from './server.ts'
import { median, rangeOf } from './stats.ts'
import { startSyncServer } from './syncserver.ts'

const RECORDS_PER_USER = 5_000
/** History holds most of a user's records; tabs is what the DELETE removes. */
const HISTORY = RECORDS_PER_USER - 100
const TABS = 100
/** Users at 1×, 10×, 100×; BENCH_SCALE_USERS=2,4,8 makes a quick trial run of the harness. */
const SIZES = (process.env.BENCH_SCALE_USERS ?? '10,100,1000').split(',').map(Number)
/** The users whose operations are timed at every size: the first ones seeded. */
const MEASURED = Math.min(10, SIZES[0] ?? 10)
/** Rounds over all sizes; each ratio is the median of the rounds' ratios. */
const ROUNDS = Number(process.env.BENCH_SCALE_ROUNDS ?? 3)
const MINUTE = 60_000
const PAYLOAD = 'x'.repeat(450)

interface OperationFigure {
  /** Median milliseconds per request, one request at a time, over every round. */
  medianMs: number
  p90Ms: number
  /** Server CPU per request, µs. */
  serverCpuUs: number
  samples: number
  /** Each round's median (ms), in round order: ratios pair them round by round. */
  roundMedians: number[]
}

/** One round's timings of one operation at one size. */
interface RoundSample {
  times: number[]
  serverCpuSeconds: number
}

interface SizeFigures {
  users: number
  records: number
  seedSeconds: number
  diskMB: number
  operations: Record<string, OperationFigure>
}

interface EngineScale {
  engine: string
  sizes: SizeFigures[]
  skipped?: string
}

/** bench/results/scale.json: the last `--scale` run. */
interface ScaleRun {
  generatedAt: string
  results: EngineScale[]
}

const RESULTS = join(import.meta.dir, 'results')

/** The 100× / 1× limit of issue #11. */
const GROWTH_LIMIT = 1.5

/** A database that can be seeded in bulk and measured through the server. */
interface ScaleDatabase {
  url: string
  /** Adds users [from, to) with their records. */
  seed(from: number, to: number, now: number): Promise<void>
  diskBytes(): Promise<number>
}

/** Where the databases of one engine live: one per size, all removed by `close`. */
interface ScaleEngine {
  label: string
  database(name: string): Promise<ScaleDatabase>
  close(): Promise<void>
}

const log = (line: string) => console.error(`[scale ${(performance.now() / 1000).toFixed(0)}s] ${line}`)

export async function runScale(binary: string, engines: readonly string[]): Promise<number> {
  const results: EngineScale[] = []
  const secret = randomBytes(32).toString('hex')
  for (const engine of engines) {
    if (engine === 'mysql' || engine === 'spanner') {
      results.push({ engine, sizes: [], skipped: 'not measured at scale (SQLite and PostgreSQL are the issue #11 targets)' })
      continue
    }
    const scaleEngine = engine === 'sqlite' ? sqliteScaleEngine() : await privatePostgres()
    try {
      results.push({ engine: scaleEngine.label, sizes: await measureSizes(scaleEngine, binary, secret) })
    } catch (error) {
      results.push({ engine: scaleEngine.label, sizes: [], skipped: `failed: ${error instanceof Error ? error.message : String(error)}` })
    } finally {
      await scaleEngine.close()
    }
  }
  const markdown = renderScale(results)
  mkdirSync(RESULTS, { recursive: true })
  writeFileSync(join(RESULTS, 'scale.md'), markdown)
  const run: ScaleRun = { generatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), results }
  writeFileSync(join(RESULTS, 'scale.json'), `${JSON.stringify(run, null, 2)}\n`)
  console.log(markdown)
  return 0
}

async function measureSizes(engine: ScaleEngine, binary: string, secret: string): Promise<SizeFigures[]> {
  const now = Date.now()
  const seeded: { users: number; database: ScaleDatabase; seedSeconds: number; diskMB: number }[] = []
  for (const users of SIZES) {
    const database = await engine.database(`scale_${users}`)
    // The server creates the schema; the seed then writes straight into its tables.
    await withServer(binary, database.url, secret, async () => undefined)
    const started = performance.now()
    log(`${engine.label}: seeding ${users} users`)
    await database.seed(1, users + 1, now)
    const seedSeconds = (performance.now() - started) / 1000
    const diskMB = (await database.diskBytes()) / 1e6
    log(`${engine.label}: ${users * RECORDS_PER_USER} records, ${diskMB.toFixed(0)} MB`)
    seeded.push({ users, database, seedSeconds, diskMB })
  }
  const samples = seeded.map(() => new Map<string, RoundSample[]>())
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, size] of seeded.entries()) {
      log(`${engine.label}: round ${round + 1} of ${ROUNDS}, ${size.users} users`)
      const operations = await withServer(binary, size.database.url, secret, (server) => measureOperations(server, secret, now, round))
      for (const [name, sample] of Object.entries(operations)) {
        const list = samples[index]?.get(name) ?? []
        list.push(sample)
        samples[index]?.set(name, list)
      }
    }
  }
  return seeded.map((size, index) => ({
    users: size.users,
    records: size.users * RECORDS_PER_USER,
    seedSeconds: size.seedSeconds,
    diskMB: size.diskMB,
    operations: Object.fromEntries([...(samples[index] ?? new Map<string, RoundSample[]>())].map(([name, rounds]) => [name, operationFigure(rounds)])),
  }))
}

function operationFigure(rounds: readonly RoundSample[]): OperationFigure {
  const times = rounds.flatMap((round) => round.times).sort((a, b) => a - b)
  const cpuSeconds = rounds.reduce((sum, round) => sum + round.serverCpuSeconds, 0)
  return {
    medianMs: median(times),
    p90Ms: times[Math.floor(times.length * 0.9)] ?? 0,
    serverCpuUs: (cpuSeconds * 1e6) / Math.max(times.length, 1),
    samples: times.length,
    roundMedians: rounds.map((round) => median(round.times)),
  }
}

async function withServer<T>(binary: string, url: string, secret: string, work: (server: RunningProcess) => Promise<T>): Promise<T> {
  const started = await startSyncServer({ binary, databaseUrl: url, masterSecret: secret })
  if (!started.ok) throw new Error(`server did not start: ${started.reason}`)
  try {
    return await work(started.server)
  } finally {
    await started.server.stop()
  }
}

/**
 * The timed operations, each for the measured users in turn. `round` keeps the POSTs of one size
 * on records the earlier sizes did not touch, and DELETE on a collection each user still has.
 */
async function measureOperations(server: RunningProcess, secret: string, seededAt: number, round: number): Promise<Record<string, RoundSample>> {
  const users = makeUsers(server.url, secret, 1, MEASURED)
  // An incremental sync: the records of the last 50 minutes (≈ 50 of them).
  const newer = ((seededAt - 50 * MINUTE) / 1000).toFixed(2)
  const post = JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ id: `post${round}_${String(i).padStart(3, '0')}`, payload: PAYLOAD })))
  const figures: Record<string, RoundSample> = {}
  const plan: [string, number, (user: SyncUser, i: number) => Promise<{ status: number }>][] = [
    ['GET info/collections', 200, (user) => user.send('GET', '/info/collections')],
    ['GET history?newer=…&full=1 (≈ 50 records)', 100, (user) => user.send('GET', `/storage/history?full=1&newer=${newer}`)],
    ['GET history?full=1&limit=1000&sort=newest', 30, (user) => user.send('GET', '/storage/history?full=1&limit=1000&sort=newest')],
    ['POST 100 records (450 B)', 30, (user) => user.send('POST', '/storage/history', { body: post })],
    ['DELETE collection (100 records)', MEASURED, (user) => user.send('DELETE', `/storage/${round === 0 ? 'tabs' : `tabs${round}`}`)],
  ]
  if (round > 0) {
    // DELETE needs a collection with 100 records per user at every size: the tabs of this round.
    for (const user of users) await user.expect(200, 'POST', `/storage/tabs${round}`, JSON.stringify(Array.from({ length: TABS }, (_, i) => ({ id: `t${i}`, payload: PAYLOAD }))))
  }
  for (const [name, count, operation] of plan) {
    // Warm-up: JIT and the caches of the database the first requests would otherwise pay for.
    for (let i = 0; i < Math.min(count, 10) && !name.startsWith('DELETE'); i++) await operation(users[i % MEASURED] as SyncUser, i)
    const times: number[] = []
    const window = cpuWindow(server.pid)
    const started = performance.now()
    for (let i = 0; i < count; i++) {
      const t0 = performance.now()
      const response = await operation(users[i % MEASURED] as SyncUser, i)
      times.push(performance.now() - t0)
      if (response.status >= 300) throw new Error(`${name} answered ${response.status}`)
    }
    const seconds = (performance.now() - started) / 1000
    figures[name] = { times, serverCpuSeconds: (window.stop().serverCores ?? 0) * seconds }
  }
  return figures
}

function sqliteScaleEngine(): ScaleEngine {
  const dir = mkdtempSync(join(tmpdir(), 'syncbench-scale-'))
  return {
    label: 'SQLite',
    async database(name) {
      return sqliteScaleDatabase(join(dir, `${name}.db`))
    },
    async close() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function sqliteScaleDatabase(path: string): ScaleDatabase {
  return {
    url: `sqlite:///${path}`,
    async seed(from, to, now) {
      const db = new Database(path)
      try {
        db.run('PRAGMA journal_mode = WAL')
        const id = (name: string) => (db.query('SELECT id FROM collections WHERE name = ?').get(name) as { id: number }).id
        const history = id('history')
        const tabs = id('tabs')
        const insert = db.prepare(`
          WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?5 - 1)
          INSERT INTO bso (userid, collection, id, sortindex, payload, payload_size, modified, ttl)
          SELECT ?1, ?2, printf('%012d', i), i, ?3, length(?3), ?4 - (?5 - 1 - i) * ${MINUTE}, 3153600000000 FROM n`)
        const touch = db.prepare('INSERT INTO user_collections (userid, collection, last_modified, total_bytes, count) VALUES (?, ?, ?, ?, ?)')
        for (let uid = from; uid < to; uid += 50) {
          db.transaction(() => {
            for (let user = uid; user < Math.min(uid + 50, to); user++) {
              insert.run(user, history, PAYLOAD, now, HISTORY)
              insert.run(user, tabs, PAYLOAD, now, TABS)
              touch.run(user, history, now, HISTORY * PAYLOAD.length, HISTORY)
              touch.run(user, tabs, now, TABS * PAYLOAD.length, TABS)
            }
          })()
        }
        db.run('PRAGMA wal_checkpoint(TRUNCATE)')
      } finally {
        db.close()
      }
    },
    async diskBytes() {
      return ['', '-wal'].reduce((sum, suffix) => {
        try {
          return sum + statSync(`${path}${suffix}`).size
        } catch {
          return sum
        }
      }, 0)
    },
  }
}

/** A PostgreSQL instance of our own (initdb in a temporary directory, a free port), removed after. */
async function privatePostgres(): Promise<ScaleEngine> {
  const bin = pgBin()
  const dir = mkdtempSync(join(tmpdir(), 'syncbench-pg-'))
  chownSync(dir, 101, 104)
  const data = join(dir, 'data')
  const asPostgres = (args: string[]) => {
    const result = spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`${args[0]} failed: ${result.stderr}`)
  }
  const port = freePort()
  asPostgres([join(bin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres'])
  asPostgres([join(bin, 'pg_ctl'), '-D', data, '-l', join(dir, 'log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, 'start'])
  const server = `postgres://postgres@127.0.0.1:${port}`
  const admin = postgres(`${server}/postgres`, { max: 1, onnotice: () => {} })
  const clients: postgres.Sql[] = []
  return {
    label: 'PostgreSQL',
    async database(name) {
      await admin.unsafe(`CREATE DATABASE ${name}`)
      const sql = postgres(`${server}/${name}`, { max: 1, onnotice: () => {} })
      clients.push(sql)
      return postgresScaleDatabase(`${server}/${name}`, sql)
    },
    async close() {
      await Promise.all([admin, ...clients].map((sql) => sql.end({ timeout: 5 })))
      spawnSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', data, '-m', 'fast', '-w', 'stop'])
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function postgresScaleDatabase(url: string, sql: postgres.Sql): ScaleDatabase {
  return {
    url,
    async seed(from, to, now) {
      const ids = await sql`SELECT collection_id, name FROM collections WHERE name IN ('history', 'tabs')`
      const id = (name: string) => ids.find((row) => row.name === name)?.collection_id as number
      for (let uid = from; uid < to; uid += 50) {
        const last = Math.min(uid + 50, to) - 1
        for (const [collection, count] of [[id('history'), HISTORY], [id('tabs'), TABS]] as const) {
          await sql.unsafe(
            `INSERT INTO user_collections (user_id, collection_id, modified, count, total_bytes)
             SELECT u, $1, to_timestamp($2::bigint / 1000.0), $3::bigint, $3::bigint * 450 FROM generate_series($4::bigint, $5::bigint) u`,
            [collection, now, count, uid, last],
          )
          await sql.unsafe(
            `INSERT INTO bsos (user_id, collection_id, bso_id, sortindex, payload, modified, expiry)
             SELECT u, $1, lpad(i::text, 12, '0'), i, $2, to_timestamp(($3::bigint - ($4::int - 1 - i) * ${MINUTE}) / 1000.0), 'infinity'
               FROM generate_series($5::bigint, $6::bigint) u, generate_series(0, $4::int - 1) i`,
            [collection, PAYLOAD, now, count, uid, last],
          )
        }
      }
    },
    async diskBytes() {
      const [row] = await sql`SELECT pg_database_size(current_database()) AS bytes`
      return Number(row?.bytes ?? 0)
    },
  }
}

function pgBin(): string {
  const versions = spawnSync('ls', ['/usr/lib/postgresql'], { encoding: 'utf8' }).stdout.trim().split('\n').sort((a, b) => Number(b) - Number(a))
  if (versions[0] === undefined || versions[0] === '') throw new Error('no PostgreSQL binaries under /usr/lib/postgresql')
  return `/usr/lib/postgresql/${versions[0]}/bin`
}

/** The top size's median over the first size's, round by round (figures taken a minute apart). */
function roundRatios(first: OperationFigure | undefined, last: OperationFigure | undefined): number[] {
  if (first === undefined || last === undefined) return []
  return first.roundMedians.flatMap((base, round) => {
    const top = last.roundMedians[round]
    return top === undefined || base <= 0 ? [] : [top / base]
  })
}

function renderScale(results: readonly EngineScale[]): string {
  const lines = [
    '# syncserver at scale (`bun run bench --scale`)',
    '',
    `${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} · users × ${RECORDS_PER_USER.toLocaleString('en-US')} records (450 B payloads), seeded with bulk SQL; ` +
      `the same ${MEASURED} users timed at every size, one request at a time, in ${ROUNDS} rounds over the sizes (median / p90 ms of all rounds, server CPU per request). ` +
      'Target: every operation at 100× within 1.5× of its 1× median. The ratio is the median of the rounds\' ratios (their range in brackets): each pairs figures taken a minute apart.',
  ]
  for (const result of results) {
    lines.push('', `## ${result.engine}`)
    if (result.skipped !== undefined) {
      lines.push('', result.skipped)
      continue
    }
    lines.push('', `| Operation | ${result.sizes.map((s) => `${s.users} users (${(s.records / 1e6).toFixed(2)} M)`).join(' | ')} | 100× / 1× | Met |`)
    lines.push(`|---|${result.sizes.map(() => '--:').join('|')}|--:|---|`)
    const names = Object.keys(result.sizes[0]?.operations ?? {})
    for (const name of names) {
      const cells = result.sizes.map((s) => {
        const f = s.operations[name]
        return f === undefined ? 'n/a' : `${f.medianMs.toFixed(2)} / ${f.p90Ms.toFixed(2)} ms, ${f.serverCpuUs.toFixed(0)} µs CPU`
      })
      const ratios = roundRatios(result.sizes[0]?.operations[name], result.sizes.at(-1)?.operations[name])
      const ratio = ratios.length === 0 ? undefined : median(ratios)
      const shown = ratio === undefined ? 'n/a' : `${ratio.toFixed(2)}× (${rangeOf(ratios, 2)})`
      lines.push(`| ${name} | ${cells.join(' | ')} | ${shown} | ${ratio === undefined ? '–' : ratio <= GROWTH_LIMIT ? 'yes' : '**no**'} |`)
    }
    lines.push(`| size on disk | ${result.sizes.map((s) => `${s.diskMB.toFixed(0)} MB`).join(' | ')} | | |`)
    lines.push(`| seed time (bulk SQL) | ${result.sizes.map((s) => `${s.seedSeconds.toFixed(0)} s`).join(' | ')} | | |`)
  }
  return `${lines.join('\n')}\n`
}

/**
 * The `--scale` target as rows of the regular report (bench/results/latest.md), from the last
 * `--scale` run saved in scale.json: that run is long and on demand, so the regular run reports
 * it rather than repeating it. Empty when no run was saved.
 */
export function scaleTargetSection(): string[] {
  let run: ScaleRun
  try {
    run = JSON.parse(readFileSync(join(RESULTS, 'scale.json'), 'utf8')) as ScaleRun
  } catch {
    return []
  }
  const lines = [
    '## Data growth (`bun run bench --scale`)',
    '',
    `From the last \`--scale\` run (${run.generatedAt}, bench/results/scale.md): each per-user operation's median at the largest size over its median at the smallest, the median of paired rounds (their range in brackets).`,
    '',
    '| Engine | Operation | Measured | Threshold | Met | Margin |',
    '|---|---|--:|--:|---|--:|',
  ]
  for (const result of run.results) {
    if (result.skipped !== undefined) continue
    const first = result.sizes[0]
    const last = result.sizes.at(-1)
    for (const name of Object.keys(first?.operations ?? {})) {
      const ratios = roundRatios(first?.operations[name], last?.operations[name])
      if (ratios.length === 0) continue
      const ratio = median(ratios)
      const margin = ((GROWTH_LIMIT - ratio) / GROWTH_LIMIT) * 100
      lines.push(
        `| ${result.engine} | ${name} | ${ratio.toFixed(2)}× (${rangeOf(ratios, 2)}) | <= ${GROWTH_LIMIT} × | ${ratio <= GROWTH_LIMIT ? 'yes' : '**no**'} | ${margin >= 0 ? '+' : ''}${margin.toFixed(0)} % |`,
      )
    }
  }
  return lines
}
