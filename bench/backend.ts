import { randomBytes } from 'node:crypto'
import { dbCeilingConcurrency, dbCeilingName, helloOperation, scenarioConcurrency } from './ceilings.ts'
import type { BenchEngine, FreshDatabase } from './engines.ts'
import { LoadSeries, runLoad, type Operation } from './load.ts'
import type { SyncUser } from './client.ts'
import { CROSSING_TRIALS, judgedTrial, mayBeNoise, mixPopulation, nextMixConcurrency, runMixLevel, type MixLevel } from './mix.ts'
import type { BackendReport, MemoryFigures, ScenarioReport } from './model.ts'
import type { Profile } from './options.ts'
import { memoryBreakdown, peakRssMiB, peakRssPerProcessMiB, processTree, resetPeakRss, rssMiB, treePssMiB } from './proc.ts'
import { prepareStorageScenario } from './scenarios.ts'
import type { RunningProcess } from './server.ts'
import { median } from './stats.ts'
import { startHelloWorld, startSyncServer } from './syncserver.ts'
import { evaluateTargets } from './targets.ts'
import { fakeAccounts, prepareTokenserver, tokenCryptoOperation } from './tokenserver.ts'
import { workloadOrder, workloads, type WorkloadId } from './workloads.ts'

export interface BackendContext {
  binary: string
  profile: Profile
  log: (line: string) => void
  /** Start-up and the mix only (`--mix-only`). */
  mixOnly: boolean
  /** Start-up and these scenarios only (`--scenarios=…`). */
  scenarios?: readonly WorkloadId[]
}

const MIB_TO_MB = 1.048576
const toMB = (mib: number | undefined) => (mib === undefined ? undefined : mib * MIB_TO_MB)

/**
 * Measures one engine end to end. Order matters: start-up and idle memory first (nothing has
 * warmed the process yet), then the mix (its peak RSS is read with VmHWM reset just before),
 * then the scenarios against their ceilings, restarts on the populated database, and last the
 * tokenserver, which needs a server of its own.
 */
export async function benchEngine(engine: BenchEngine, ctx: BackendContext): Promise<BackendReport> {
  const report: BackendReport = { engine: engine.name, label: engine.label, scenarios: [], targets: [] }
  if (engine.caveat !== undefined) report.caveat = engine.caveat
  const unreachable = await engine.unreachable()
  if (unreachable !== undefined) return { ...report, skipped: unreachable }

  const { profile, log } = ctx
  const secret = randomBytes(32).toString('hex')
  const database = await engine.freshDatabase()
  const cleanups: (() => Promise<void>)[] = [() => database.drop()]
  try {
    log(`${engine.label}: starting ${ctx.binary}`)
    const first = await startSyncServer({ binary: ctx.binary, databaseUrl: database.url, env: database.env, masterSecret: secret })
    if (!first.ok) return { ...report, skipped: `the server refused ${redact(database.url)}: ${first.reason}` }
    let server: RunningProcess | undefined = first.server
    cleanups.unshift(async () => void (await server?.stop()))

    const freshMs = [server.readyMs, ...(await startupSamples(engine, ctx, secret, profile.starts.fresh - 1))]
    const memory: MemoryFigures = {}
    await Bun.sleep(profile.settleMs)
    memory.idleAfterStartMB = toMB(rssMiB(server.pid))
    const idle = memoryBreakdown(server.pid)
    if (idle !== undefined) memory.idleBreakdownMB = { anonymous: idle.anonMiB * MIB_TO_MB, file: idle.fileMiB * MIB_TO_MB }
    log(`${engine.label}: ready in ${freshMs.map((ms) => ms.toFixed(0)).join('/')} ms, idle RSS ${memory.idleAfterStartMB?.toFixed(1)} MB`)

    if (ctx.scenarios !== undefined) {
      report.scenarios.push(...(await measureScenarios(engine, server, secret, ctx)).reports)
      report.memory = memory
      report.startup = { freshMs, restartMs: [] }
      return report
    }
    const hwmResettable = resetPeakRss(server.pid)
    const mixes = await mixesOfOneAndTwoWorkers(engine, ctx, secret, { server, database }, memory)
    report.mix = mixes.single
    if (mixes.two !== undefined) report.mixWorkers2 = mixes.two
    else report.mixWorkers2Skipped = engine.singleWriter
    if (hwmResettable) memory.peakUnderMixMB = toMB(peakRssMiB(server.pid))
    memory.peakSampledMixMB = toMB(Math.max(...report.mix.map((level) => level.peakRssMiB ?? 0)))
    if (ctx.mixOnly) {
      report.memory = memory
      report.startup = { freshMs, restartMs: [] }
      report.targets = evaluateTargets(report)
      return report
    }

    resetPeakRss(server.pid)
    const scenarios = await measureScenarios(engine, server, secret, ctx)
    report.scenarios.push(...scenarios.reports)
    report.httpCeiling = scenarios.httpCeiling
    if (hwmResettable) memory.peakUnderScenariosMB = toMB(peakRssMiB(server.pid))
    await Bun.sleep(profile.settleMs)
    memory.idleAfterLoadMB = toMB(rssMiB(server.pid))
    report.memory = memory
    const shutdown = await server.stop()
    server = undefined

    log(`${engine.label}: restarting on the populated database`)
    const restartMs = await restartSamples(ctx, database, secret, profile.starts.restart)
    report.startup = { freshMs, restartMs, shutdownMs: shutdown.ms, shutdownKilled: shutdown.killed }

    await defaultWorkersFigures(engine, ctx, secret, report)

    log(`${engine.label}: tokenserver`)
    const token = await tokenserverScenario(engine, ctx, secret)
    if (token.requestsPerSecond !== undefined) token.httpCeilingRatio = token.requestsPerSecond / scenarios.httpCeiling.opsPerSecond
    report.scenarios.push(token)
    report.targets = evaluateTargets(report)
    return report
  } catch (error) {
    return { ...report, failed: error instanceof Error ? (error.stack ?? error.message) : String(error) }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined)
  }
}

/** One server's run of the mix: its levels so far. */
interface MixRun {
  label: string
  server: Parameters<typeof runMixLevel>[0]
  population: SyncUser[]
  levels: MixLevel[]
}

/**
 * The mix against `workers = 1` (the measured server) and, on a fresh database of its own, a
 * `workers = 2` server started beside it, their levels interleaved (c=4 on one, c=4 on the other,
 * c=8 …): the ratio of their req/s at p99 < 50 ms is what the second core buys, and a burst of
 * background load on this shared machine hits both runs alike instead of one. The idle server
 * costs nothing while the other is measured. Engines with a single writer run workers = 1 only.
 */
async function mixesOfOneAndTwoWorkers(
  engine: BenchEngine,
  ctx: BackendContext,
  secret: string,
  single: { server: RunningProcess; database: FreshDatabase },
  memory: MemoryFigures,
): Promise<{ single: MixLevel[]; two?: MixLevel[] }> {
  const run = (label: string, server: RunningProcess, database: FreshDatabase): MixRun => ({
    label,
    server: { url: server.url, pid: server.pid, ...(database.backendPids === undefined ? {} : { backendPids: database.backendPids }) },
    population: mixPopulation(server.url, secret, ctx.profile.mix.population),
    levels: [],
  })
  const singleRun = run(engine.label, single.server, single.database)
  if (engine.singleWriter !== undefined) {
    await runMixes([singleRun], ctx)
    return { single: singleRun.levels }
  }
  const database = await engine.freshDatabase()
  try {
    ctx.log(`${engine.label}: starting workers = 2 beside it; their mix levels interleave`)
    const started = await startSyncServer({ binary: ctx.binary, databaseUrl: database.url, env: database.env, masterSecret: secret, workers: 2 })
    if (!started.ok) throw new Error(`server with workers = 2 did not start: ${started.reason}`)
    try {
      // Ready means the first worker answers; give the second time to join.
      await Bun.sleep(1_000)
      resetPeakRss(started.server.pid)
      const twoRun = run(`${engine.label} workers=2`, started.server, database)
      await runMixes([singleRun, twoRun], ctx)
      memory.peakPerWorkerUnderMixWorkers2MB = toMB(peakRssPerProcessMiB(started.server.pid))
      return { single: singleRun.levels, two: twoRun.levels }
    } finally {
      await started.server.stop()
    }
  } finally {
    await database.drop()
  }
}

/** Runs the mix's levels on every run in turn until each run's ladder ends (nextMixConcurrency). */
async function runMixes(runs: readonly MixRun[], ctx: BackendContext): Promise<void> {
  const { mix, scenario } = ctx.profile
  // JIT compilation and first-touch allocation would otherwise be charged to the first level.
  for (const run of runs) {
    await runMixLevel(run.server, run.population, { concurrency: Math.min(8, Math.max(...mix.levels)), maxIterations: mix.maxIterations, maxMs: scenario.warmupMs, thinkMs: 0 })
  }
  for (;;) {
    const round = runs.flatMap((run) => {
      const concurrency = nextMixConcurrency(mix, run.levels)
      return concurrency === undefined ? [] : [{ run, concurrency }]
    })
    if (round.length === 0) return
    for (const { run, concurrency } of round) {
      const measure = () => runMixLevel(run.server, run.population, { concurrency, maxIterations: mix.maxIterations, maxMs: mix.maxMs, thinkMs: mix.thinkMs })
      const first = await measure()
      const trials = [first]
      while (mayBeNoise(first) && trials.length < CROSSING_TRIALS) trials.push(await measure())
      const level = trials.length === 1 ? first : judgedTrial(trials)
      ctx.log(
        `${run.label}: mix c=${concurrency}: ${level.requestsPerSecond.toFixed(0)} req/s, p99 ${level.latency.p99.toFixed(1)} ms, ` +
          `CPU server ${(level.cpu.serverCores ?? 0).toFixed(2)}${level.cpu.databaseCores === undefined ? '' : ` + database ${level.cpu.databaseCores.toFixed(2)}`} / generator ${level.cpu.benchCores.toFixed(2)} / others ${(level.cpu.otherCores ?? 0).toFixed(2)} cores, errors ${level.errors}${level.saturated ? ' (saturated)' : ''}${level.p99Trials === undefined ? '' : `; p99 of its ${level.p99Trials.length} trials: ${level.p99Trials.map((p99) => p99.toFixed(1)).join(', ')} ms`}`,
      )
      run.levels.push(level)
    }
  }
}

/** Start time and idle RSS (supervisor + every worker) with `workers` left at its default. */
async function defaultWorkersFigures(engine: BenchEngine, ctx: BackendContext, secret: string, report: BackendReport): Promise<void> {
  const database = await engine.freshDatabase()
  try {
    const started = await startSyncServer({ binary: ctx.binary, databaseUrl: database.url, env: database.env, masterSecret: secret, workers: 'default' })
    if (!started.ok) throw new Error(`server with the default workers did not start: ${started.reason}`)
    try {
      // The first worker answers before the others have started; wait for them too.
      await Bun.sleep(ctx.profile.settleMs + 500)
      report.defaultWorkers = {
        processes: processTree(started.server.pid).length,
        readyMs: started.server.readyMs,
        idleTotalMB: toMB(treePssMiB(started.server.pid)),
      }
    } finally {
      await started.server.stop()
    }
  } finally {
    await database.drop()
  }
}

/** Warm-up: JIT, caches, and for uploads one write per user so measured writes are updates. */
const warm = (operation: Operation, concurrency: number, users: number, profile: Profile) =>
  runLoad({ concurrency, maxOps: Math.max(users, 200), maxMs: profile.scenario.warmupMs }, operation)

/**
 * Every storage scenario against its raw-database ceiling (and info/collections also against
 * the hello-world), their trials interleaved: ratios come from trials run seconds apart, so
 * background load on a shared machine skews both sides alike. The ratio reported is the median
 * of the per-trial ratios.
 */
async function measureScenarios(
  engine: BenchEngine,
  server: RunningProcess,
  secret: string,
  ctx: BackendContext,
): Promise<{ reports: ScenarioReport[]; httpCeiling: NonNullable<BackendReport['httpCeiling']> }> {
  const { profile, log } = ctx
  const { trials } = profile.scenario
  const concurrency = scenarioConcurrency(engine, profile)
  const trialBounds = { maxOps: Math.ceil(profile.scenario.maxOps / trials), maxMs: profile.scenario.maxMs / trials }
  const dbConcurrency = dbCeilingConcurrency(engine, profile)

  const helloStart = await startHelloWorld()
  if (!helloStart.ok) throw new Error(`hello-world server did not start: ${helloStart.reason}`)
  const hello = helloStart.server
  const { ceiling, database } = await engine.openCeiling(dbConcurrency)
  try {
    const helloOp = helloOperation(hello.url)
    await warm(helloOp, concurrency, 0, profile)
    const helloSeries = new LoadSeries(concurrency, hello.pid)
    const helloRatios: number[] = []
    const reports: ScenarioReport[] = []
    for (const id of ctx.scenarios ?? workloadOrder) {
      const workload = workloads[id]
      log(`${engine.label}: ${workload.title}`)
      const httpOp = await prepareStorageScenario(workload, server, secret, concurrency)
      const dbOp = await ceiling.prepare(workload, dbConcurrency)
      await warm(httpOp, concurrency, workload.users, profile)
      await warm(dbOp, dbConcurrency, workload.users, profile)
      const http = new LoadSeries(concurrency, server.pid)
      const db = new LoadSeries(dbConcurrency)
      const ratios: number[] = []
      for (let trial = 0; trial < trials; trial++) {
        const httpRate = await http.trial(trialBounds, httpOp)
        ratios.push(httpRate / (await db.trial(trialBounds, dbOp)))
        if (id === 'info-collections') helloRatios.push(httpRate / (await helloSeries.trial(trialBounds, helloOp)))
      }
      const load = http.result()
      const dbLoad = db.result()
      if (dbLoad.firstError !== undefined) throw new Error(`${engine.label} ceiling for ${id} failed: ${dbLoad.firstError}`)
      reports.push({
        id,
        title: workload.title,
        unit: workload.unit,
        status: 'measured',
        load,
        unitsPerSecond: load.opsPerSecond * workload.unitsPerOp,
        requestsPerSecond: load.opsPerSecond * workload.requestsPerOp,
        cpu: load.cpu,
        ceiling: { name: dbCeilingName(engine, id), description: ceiling.describes[id], unitsPerSecond: dbLoad.opsPerSecond * workload.unitsPerOp, load: dbLoad },
        ceilingRatio: median(ratios),
        ceilingRatioTrials: ratios,
      })
    }
    const httpCeiling = helloSeries.result()
    // Without info-collections (`--scenarios=…`) the hello-world ran no trial: no ratio to it.
    for (const report of httpCeiling.opsPerSecond > 0 ? reports : []) {
      report.httpCeilingRatio = report.id === 'info-collections' ? median(helloRatios) : (report.requestsPerSecond ?? 0) / httpCeiling.opsPerSecond
      if (report.id === 'info-collections') report.httpCeilingRatioTrials = helloRatios
    }
    return { reports, httpCeiling }
  } finally {
    await hello.stop()
    await ceiling.close()
    await database.drop()
  }
}

/** Extra starts on fresh databases (the first one is the measured server's own). */
async function startupSamples(engine: BenchEngine, ctx: BackendContext, secret: string, count: number): Promise<number[]> {
  const samples: number[] = []
  for (let i = 0; i < count; i++) {
    const database = await engine.freshDatabase()
    try {
      samples.push(await timeStart(ctx, database, secret))
    } finally {
      await database.drop()
    }
  }
  return samples
}

/** Starts on the database the mix and scenarios filled: what an operator's restart looks like. */
async function restartSamples(ctx: BackendContext, database: FreshDatabase, secret: string, count: number): Promise<number[]> {
  const samples: number[] = []
  for (let i = 0; i < count; i++) samples.push(await timeStart(ctx, database, secret))
  return samples
}

async function timeStart(ctx: BackendContext, database: FreshDatabase, secret: string): Promise<number> {
  const started = await startSyncServer({ binary: ctx.binary, databaseUrl: database.url, env: database.env, masterSecret: secret })
  if (!started.ok) throw new Error(`server failed to start: ${started.reason}`)
  const stopped = await started.server.stop()
  if (stopped.killed) ctx.log(`the server ignored SIGTERM for ${(stopped.ms / 1000).toFixed(0)} s and was killed`)
  return started.server.readyMs
}

/**
 * A second server with the tokenserver on, configured with a locally generated FxA key; its
 * trials are interleaved with the in-process cryptography ceiling.
 */
async function tokenserverScenario(engine: BenchEngine, ctx: BackendContext, secret: string): Promise<ScenarioReport> {
  const base: ScenarioReport = { id: 'tokenserver', title: 'tokenserver GET /1.0/sync/1.5 (local JWT)', unit: 'req', status: 'not available' }
  const { profile } = ctx
  const { concurrency, trials } = profile.scenario
  const trialBounds = { maxOps: Math.ceil(profile.scenario.maxOps / trials), maxMs: profile.scenario.maxMs / trials }
  const fxa = fakeAccounts()
  const accounts = fxa.accounts(profile.tokenserverAccounts)
  const database = await engine.freshDatabase()
  try {
    const started = await startSyncServer({ binary: ctx.binary, databaseUrl: database.url, masterSecret: secret, env: { ...database.env, ...fxa.env } })
    if (!started.ok) return { ...base, reason: `server with the tokenserver enabled did not start: ${started.reason}` }
    const server = started.server
    try {
      const prepared = await prepareTokenserver(server, accounts, concurrency)
      if (!prepared.available) return { ...base, reason: prepared.reason }
      const cryptoOp = await tokenCryptoOperation(accounts, fxa.publicKey)
      await warm(prepared.operation, concurrency, 0, profile)
      await warm(cryptoOp, concurrency, 0, profile)
      const http = new LoadSeries(concurrency, server.pid)
      const crypto = new LoadSeries(concurrency)
      const ratios: number[] = []
      for (let trial = 0; trial < trials; trial++) {
        ratios.push((await http.trial(trialBounds, prepared.operation)) / (await crypto.trial(trialBounds, cryptoOp)))
      }
      const load = http.result()
      const cryptoLoad = crypto.result()
      return {
        ...base,
        status: 'measured',
        load,
        unitsPerSecond: load.opsPerSecond,
        requestsPerSecond: load.opsPerSecond,
        cpu: load.cpu,
        ceiling: {
          name: 'RS256 verify + token mint (in-process)',
          description: 'jose compactVerify of the access token, then mintToken (HMAC-SHA256 + HKDF); no HTTP, no database',
          unitsPerSecond: cryptoLoad.opsPerSecond,
          load: cryptoLoad,
        },
        ceilingRatio: median(ratios),
        ceilingRatioTrials: ratios,
      }
    } finally {
      await server.stop()
    }
  } finally {
    await database.drop()
  }
}

const redact = (url: string) => url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@')
