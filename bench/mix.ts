import { makeUsers, type SyncUser } from './client.ts'
import { runLoad, type Operation } from './load.ts'
import type { Profile } from './options.ts'
import { cpuWindow, processesCpuWindow, sampleRss, type CpuWindow } from './proc.ts'
import { paretoPayloadLength, payloadOfLength, randomInt, recordId, seededRandom, weightedIndex } from './records.ts'
import { errorCounts, Recorder, type LatencySummary } from './stats.ts'
import { userIndexFor } from './workloads.ts'

/**
 * A population of syncing Firefox profiles, modelled on mozilla-services/syncstorage-loadtest
 * (loadtest.py, the molotov scenario syncstorage-rs is load-tested with). Each iteration is one
 * profile's sync:
 *   - GET info/configuration, GET info/collections;
 *   - 0–4 collection GETs (`full=1&newer=<1–100 h ago>`), weights 71/15/7/4/3 %;
 *   - 0–4 POSTs of min(randint(20, 180), 100) records with payloads 300 × Pareto(3) bytes
 *     (mean ≈ 450, max 7000), weights 67/18/9/4/2 %; with probability ½ the POSTs of an
 *     iteration form one multi-POST batch on one collection (create, append…, commit).
 * Between syncs a profile thinks for an exponentially distributed time (mean `thinkMs`), so
 * a level's load grows with its number of profiles and arrivals are bursty, as from a real
 * population; with no think time every level would keep the server busy and none would show
 * latency below saturation.
 * Differences from the load test, on purpose: record ids come from a bounded pool per profile and
 * collection, so collections stop growing and a run's later levels are not slower only because
 * earlier ones filled the database; a one-POST batch is sent as `batch=true&commit=true`
 * (the load test leaves such a batch uncommitted).
 */

const COLLECTIONS = ['bookmarks', 'forms', 'passwords', 'history', 'prefs']
const GET_COUNT_WEIGHTS = [71, 15, 7, 4, 3]
const POST_COUNT_WEIGHTS = [67, 18, 9, 4, 2]
const MAX_POST_RECORDS = 100
/** Distinct record ids per profile and collection: at ~450 B, at most ~135 KB per collection. */
export const ID_POOL = 300

export type RequestKind = 'info/configuration' | 'info/collections' | 'GET collection' | 'POST' | 'POST batch=true' | 'POST batch append' | 'POST batch commit'

export interface MixLevel {
  /** Profiles syncing at once (each thinks between its syncs). */
  concurrency: number
  thinkMs: number
  durationMs: number
  iterations: number
  iterationsPerSecond: number
  requests: number
  requestsPerSecond: number
  recordsUploadedPerSecond: number
  latency: LatencySummary
  byKind: Record<string, LatencySummary>
  statuses: Record<string, number>
  errors: number
  designed503: number
  cpu: CpuWindow
  /** The server or the machine was ≥ 90 % busy: latency at this level is queueing, not service. */
  saturated: boolean
  peakRssMiB?: number
  firstError?: string
  /** The p99 of each trial, in the order run, when the level crossed the line and was measured again (`judgedTrial`). */
  p99Trials?: number[]
}

const SATURATION = 0.9

/**
 * The server's event loop is one thread, so ≥ 0.9 of a core means requests queue behind each
 * other; a machine ≥ 90 % busy (steal included) means the load generator and the server are
 * fighting over the last cycles. Either way latency then measures queueing, not the server.
 */
const isSaturated = (cpu: CpuWindow): boolean =>
  (cpu.serverCores ?? 0) >= SATURATION || (cpu.machineShare ?? 0) + (cpu.stealShare ?? 0) >= SATURATION

/**
 * The level latency targets are judged at: the last of the levels below the first saturated one.
 * Load only grows with the level, so a level after a saturated one counts as saturated even if
 * a lull in background load let it read a little lower. Undefined when the first level saturates.
 */
export function highestUnsaturated(levels: readonly MixLevel[]): MixLevel | undefined {
  const firstSaturated = levels.findIndex((level) => level.saturated)
  return (firstSaturated < 0 ? levels : levels.slice(0, firstSaturated)).at(-1)
}

/** The mix's latency target: the workers target compares req/s at the busiest level under it. */
export const LATENCY_LINE_MS = 50
/** Far past the latency line: higher levels would only queue longer. */
const HOPELESS_P99_MS = 200

const overTheLine = (level: MixLevel): boolean => level.latency.p99 >= LATENCY_LINE_MS || level.errors > 0

/**
 * Trials in all of a level whose p99 crossed the line (without errors, and short of hopeless):
 * one 8 s level's p99 can jump past the line and back, and would end its ladder there
 * (workers = 2 read 15 ms at c=96 and 53 ms at c=112 with the machine 69 % busy; 20 ms at
 * c=112 in the next run).
 */
export const CROSSING_TRIALS = 3

/** Whether `level` crossed the line in a way another trial might not repeat. */
export const mayBeNoise = (level: MixLevel): boolean =>
  level.errors === 0 && level.latency.p99 >= LATENCY_LINE_MS && level.latency.p99 <= HOPELESS_P99_MS

/**
 * The trial a level that was measured more than once is judged by: the one with the median p99
 * (a trial with errors ranks last), carrying every trial's p99.
 */
export function judgedTrial(trials: readonly MixLevel[]): MixLevel {
  const rank = (level: MixLevel) => (level.errors > 0 ? Number.POSITIVE_INFINITY : level.latency.p99)
  const sorted = [...trials].sort((a, b) => rank(a) - rank(b))
  const median = sorted[Math.floor((sorted.length - 1) / 2)]
  if (median === undefined) throw new Error('judgedTrial of no trials')
  return { ...median, p99Trials: trials.map((trial) => trial.latency.p99) }
}

/**
 * The concurrency a run's next level uses, or undefined when the run is over: the profile's
 * levels, then its `beyond` levels for as long as the last level stayed under the line.
 */
export function nextMixConcurrency(mix: Pick<Profile['mix'], 'levels' | 'beyond'>, done: readonly MixLevel[]): number | undefined {
  const last = done.at(-1)
  if (last !== undefined && last.latency.p99 > HOPELESS_P99_MS) return undefined
  if (done.length < mix.levels.length) return mix.levels[done.length]
  if (last !== undefined && overTheLine(last)) return undefined
  return mix.beyond[done.length - mix.levels.length]
}

/**
 * The busiest level with p99 under the line and no errors, when the run crossed the line at its
 * end; `capped` when even its last level stayed under it: the figure would then measure the
 * load the benchmark offered, not what the server can serve.
 */
export function capacityWithinLatency(levels: readonly MixLevel[]): { level?: MixLevel; capped: boolean } {
  const last = levels.at(-1)
  const within = levels.filter((level) => !overTheLine(level))
  const level = within.reduce<MixLevel | undefined>((best, l) => (best === undefined || l.requestsPerSecond > best.requestsPerSecond ? l : best), undefined)
  return { ...(level === undefined ? {} : { level }), capped: last !== undefined && !overTheLine(last) }
}

/** Profiles for the mix; uids below the scenarios' ranges. */
export function mixPopulation(serverUrl: string, masterSecret: string, size: number): SyncUser[] {
  return makeUsers(serverUrl, masterSecret, 100, size)
}

/** Runs the mix at one concurrency level: `concurrency` profiles, each syncing, thinking, syncing again. */
export async function runMixLevel(
  server: { url: string; pid: number; backendPids?: () => Promise<number[]> },
  population: readonly SyncUser[],
  bounds: { concurrency: number; maxIterations: number; maxMs: number; thinkMs: number },
): Promise<MixLevel> {
  const all = new Recorder()
  const kinds = new Map<RequestKind, Recorder>()
  let uploaded = 0
  const send = async (kind: RequestKind, user: SyncUser, method: string, path: string, body?: string, keepBody = false) => {
    const started = performance.now()
    const response = await user.send(method, path, { body, keepBody })
    const ms = performance.now() - started
    all.record(ms, response.status)
    let recorder = kinds.get(kind)
    if (recorder === undefined) kinds.set(kind, (recorder = new Recorder()))
    recorder.record(ms, response.status)
    return response
  }

  const randoms = Array.from({ length: bounds.concurrency }, (_, worker) => seededRandom(bounds.concurrency * 1000 + worker))
  const counters = new Array<number>(bounds.concurrency).fill(0)

  const iteration: Operation = async (worker) => {
    const random = randoms[worker] as () => number
    const user = population[userIndexFor(population.length, bounds.concurrency, worker, counters[worker]!++)] as SyncUser
    await send('info/configuration', user, 'GET', '/info/configuration')
    await send('info/collections', user, 'GET', '/info/collections')

    for (const collection of sample(random, COLLECTIONS, weightedIndex(random, GET_COUNT_WEIGHTS))) {
      const newer = Math.floor(Date.now() / 1000) - randomInt(random, 3600, 360_000)
      await send('GET collection', user, 'GET', `/storage/${collection}?full=1&newer=${newer}`)
    }

    const status = await uploads(random, user)
    if (bounds.thinkMs > 0) await Bun.sleep(-Math.log(1 - random()) * bounds.thinkMs)
    return status
  }

  const uploads = async (random: () => number, user: SyncUser): Promise<number> => {
    const posts = weightedIndex(random, POST_COUNT_WEIGHTS)
    if (posts === 0) return 200
    const transactional = random() < 0.5
    const targets = transactional ? new Array<string>(posts).fill(pick(random, COLLECTIONS)) : sample(random, COLLECTIONS, posts)
    let batch: string | undefined
    for (const [index, collection] of targets.entries()) {
      const count = Math.min(randomInt(random, 20, MAX_POST_RECORDS + 80), MAX_POST_RECORDS)
      const body = recordsBody(random, count)
      const path = `/storage/${collection}`
      if (!transactional) {
        await send('POST', user, 'POST', path, body)
      } else if (posts === 1) {
        await send('POST', user, 'POST', `${path}?batch=true&commit=true`, body)
      } else if (index === 0) {
        const created = await send('POST batch=true', user, 'POST', `${path}?batch=true`, body, true)
        if (created.status !== 202) return created.status
        batch = encodeURIComponent((JSON.parse(created.text ?? '{}') as { batch: string }).batch)
      } else {
        const last = index === posts - 1
        const response = await send(last ? 'POST batch commit' : 'POST batch append', user, 'POST', `${path}?batch=${batch}${last ? '&commit=true' : ''}`, body)
        if (response.status >= 300) return response.status
      }
      uploaded += count
    }
    return 200
  }

  const backends = server.backendPids === undefined ? undefined : await processesCpuWindow(server.backendPids)
  const cpu = cpuWindow(server.pid)
  const rss = sampleRss(server.pid)
  const load = await runLoad({ concurrency: bounds.concurrency, maxOps: bounds.maxIterations, maxMs: bounds.maxMs }, iteration)
  const peakRssMiB = rss.stop()
  const usage = cpu.stop()
  if (backends !== undefined) {
    usage.databaseCores = await backends.stop()
    if (usage.otherCores !== undefined) usage.otherCores = Math.max(0, usage.otherCores - usage.databaseCores)
  }
  const statuses = all.statusCounts()
  const { errors, designed503 } = errorCounts(statuses)
  const level: MixLevel = {
    concurrency: bounds.concurrency,
    thinkMs: bounds.thinkMs,
    durationMs: load.durationMs,
    iterations: load.ops,
    iterationsPerSecond: load.opsPerSecond,
    requests: all.count,
    requestsPerSecond: (all.count * 1000) / load.durationMs,
    recordsUploadedPerSecond: (uploaded * 1000) / load.durationMs,
    latency: all.summary(),
    byKind: Object.fromEntries([...kinds].map(([kind, recorder]) => [kind, recorder.summary()])),
    statuses,
    errors: errors + (load.statuses.exception ?? 0),
    designed503,
    cpu: usage,
    saturated: isSaturated(usage),
  }
  if (peakRssMiB !== undefined) level.peakRssMiB = peakRssMiB
  if (load.firstError !== undefined) level.firstError = load.firstError
  return level
}

/**
 * A record's two members as body text, built once: the `{"id":…,` opening for each id of the
 * pool, and `"payload":…}` for 4,096 payloads of load-test sizes. Escaping every payload of every
 * POST anew was most of the generator's JavaScript time, and under workers = 2 the generator
 * shares the server's two cores: what it spends there is taken from the server's figure.
 */
const ID_MEMBERS = Array.from({ length: ID_POOL }, (_, n) => `{"id":"${recordId(n)}",`)
const PAYLOAD_MEMBERS = (() => {
  const random = seededRandom(0x9a710ad)
  return Array.from({ length: 4096 }, () => `"payload":${JSON.stringify(payloadOfLength(paretoPayloadLength(random), Math.floor(random() * 8192)))}}`)
})()

/** A JSON array of `count` records: ids from a random window of the pool, load-test payload sizes. */
export function recordsBody(random: () => number, count: number): string {
  const first = randomInt(random, 0, ID_POOL - count)
  const records = new Array<string>(count)
  for (let i = 0; i < count; i++) records[i] = `${ID_MEMBERS[first + i]}${PAYLOAD_MEMBERS[Math.floor(random() * PAYLOAD_MEMBERS.length)]}`
  return `[${records.join(',')}]`
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T

/** `count` distinct items in random order (random.sample). */
function sample<T>(random: () => number, items: readonly T[], count: number): T[] {
  const pool = [...items]
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (pool.length - i))
    ;[pool[i], pool[j]] = [pool[j] as T, pool[i] as T]
  }
  return pool.slice(0, count)
}
