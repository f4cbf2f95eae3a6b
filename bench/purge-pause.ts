/**
 * How long a purge holds up requests (issue 13): per engine, 50,000 expired records (and 2,000
 * live ones) are purged in chunks while 8 concurrent clients keep writing and reading through
 * the storage backend, as requests do. The same load runs for the same time without a purge
 * first, so the two latency columns differ only by the purge.
 *
 *   bun bench/purge-pause.ts [--engines=sqlite,postgres,mysql] [--records=50000] [--chunk=1000]
 */
import { openStorage } from '../src/db/open.ts'
import { expiredRowsOf, purgeExpired, type PurgeReport } from '../src/db/purge.ts'
import { nowMillis } from '../src/db/timestamps.ts'
import type { StorageBackend, StorageUser } from '../src/db/types.ts'
import { engines, type EngineName } from './engines.ts'

const option = (name: string, fallback: string) =>
  process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback
const ENGINES = option('engines', 'sqlite,postgres,mysql').split(',') as EngineName[]
const RECORDS = Number(option('records', '50000'))
const CHUNK = Number(option('chunk', '1000'))
const CLIENTS = 8

let uid = 1_000_000
const user = (): StorageUser => ({ uid: uid++, fxaUid: '', fxaKid: '' })

async function seed(storage: StorageBackend): Promise<void> {
  const perUser = 500
  for (let done = 0; done < RECORDS; done += perUser) {
    const records = Array.from({ length: perUser }, (_, i) => ({ id: `e${i}`, payload: 'x'.repeat(200), ttl: 0 }))
    const live = Array.from({ length: 20 }, (_, i) => ({ id: `l${i}`, payload: 'y'.repeat(200) }))
    await storage.withTransaction({ user: user(), mode: 'write', collection: 'history' }, (tx) => tx.putBsos([...records, ...live]))
  }
}

/** CLIENTS loops of one write (10 records) then one read, until `running()` turns false. */
async function load(storage: StorageBackend, running: () => boolean): Promise<number[]> {
  const latencies: number[] = []
  const client = async () => {
    const who = user()
    for (let n = 0; running(); n++) {
      let started = performance.now()
      await storage.withTransaction({ user: who, mode: 'write', collection: 'tabs' }, (tx) =>
        tx.putBsos(Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, payload: String(n) }))),
      )
      latencies.push(performance.now() - started)
      started = performance.now()
      await storage.withTransaction({ user: who, mode: 'read', collection: 'tabs' }, (tx) => tx.getBsos({ sort: 'newest', skip: 0 }))
      latencies.push(performance.now() - started)
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, client))
  return latencies
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}
const ms = (value: number) => `${value.toFixed(1)} ms`

async function measure(name: EngineName): Promise<string> {
  const engine = engines[name]()
  const unreachable = await engine.unreachable()
  if (unreachable !== undefined) return `| ${engine.label} | skipped: ${unreachable} |`
  const database = await engine.freshDatabase()
  const storage = await openStorage(database.url, { runMigrations: true, poolMaxSize: 10 })
  try {
    await seed(storage)
    let purging = true
    const loadDuringPurge = load(storage, () => purging)
    const report: PurgeReport = await purgeExpired(expiredRowsOf(storage), { mode: 'both', expiredBy: nowMillis(), chunkSize: CHUNK })
    purging = false
    const during = await loadDuringPurge
    const baselineEnds = performance.now() + report.durationMs.total
    const baseline = await load(storage, () => performance.now() < baselineEnds)
    return (
      `| ${engine.label} | ${report.rows.bsos} in ${(report.durationMs.total / 1000).toFixed(1)} s (${report.chunks} chunks) ` +
      `| ${ms(report.longestChunkMs)} | ${ms(percentile(baseline, 99))} / ${ms(Math.max(...baseline))} ` +
      `| ${ms(percentile(during, 99))} / ${ms(Math.max(...during))} | ${during.length} / ${baseline.length} |`
    )
  } finally {
    await storage.close()
    await database.drop()
  }
}

console.log(`purge of ${RECORDS} expired records in chunks of ${CHUNK}, ${CLIENTS} clients writing and reading meanwhile\n`)
console.log('| engine | purged | longest chunk | requests p99 / max without purge | with purge | requests (with / without) |')
console.log('|---|---|---|---|---|---|')
for (const name of ENGINES) console.log(await measure(name))
