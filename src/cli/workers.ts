import type { Subprocess } from 'bun'
import type { Settings } from '../config/settings.ts'
import { parseDatabaseUrl } from '../db/url.ts'
import { createLogger } from '../http/logger.ts'

/**
 * `serve` with several worker processes sharing one port (SO_REUSEPORT: the kernel spreads new
 * connections over them). Separate processes rather than worker threads: measured on the same
 * 2-core machine they serve as much (bench/README.md), and a worker that crashes takes only
 * itself down. The supervisor (this module) loads no server code; it starts one worker, which
 * does the one-time work (migrations, the tokenserver's node), then the others with that work
 * switched off, restarts a worker that dies, and on SIGTERM/SIGINT lets every worker drain.
 */

/** Set in a worker's environment: its number (1-based). The supervisor never has it. */
const WORKER_VARIABLE = 'SYNCSERVER_WORKER'
/** Set in the environment of workers started after the first: the one-time work is done. */
const PREPARED_VARIABLE = 'SYNCSERVER_PREPARED'

/** What a worker tells the supervisor once it listens. */
interface ReadyMessage {
  ready: true
  port: number
}

/** This process's worker number when a supervisor started it. */
export function workerNumber(): number | undefined {
  const value = process.env[WORKER_VARIABLE]
  return value === undefined ? undefined : Number(value)
}

/** Whether the one-time start work already ran in another worker. */
export const startWorkDone = (): boolean => process.env[PREPARED_VARIABLE] === '1'

/**
 * How many workers to run: the `workers` setting, by default one per CPU. An in-memory SQLite
 * database lives inside one process, so it always gets one.
 */
export function workerCount(settings: Settings): number {
  const location = parseDatabaseUrl(settings.syncstorage.database_url)
  if (settings.syncstorage.enabled && location.engine === 'sqlite' && location.path === ':memory:') return 1
  // A Spanner emulator runs one read-write transaction at a time: one process queues its own
  // writes, several would abort each other's (503s).
  if (settings.syncstorage.enabled && location.engine === 'spanner' && settings.syncstorage.spanner_emulator_host !== undefined) {
    return settings.workers ?? 1
  }
  return settings.workers ?? navigator.hardwareConcurrency
}

/** In a worker: tells the supervisor it listens, and stops when the supervisor is gone. */
export function reportReady(port: number, stop: (reason: string) => void): void {
  if (process.send === undefined) return
  process.send({ ready: true, port } satisfies ReadyMessage)
  // The IPC channel closes when the supervisor dies, even by SIGKILL: no orphaned workers.
  process.once('disconnect', () => stop('supervisor gone'))
}

/** A restart loop that dies at once is slowed down to this pace at most. */
const MAX_RESTART_DELAY_MS = 5_000
/** A worker that ran this long is considered healthy again: the next restart is immediate. */
const HEALTHY_AFTER_MS = 10_000

interface WorkerSlot {
  number: number
  child?: Subprocess
  startedAt: number
  restartDelayMs: number
}

/**
 * Runs `count` workers until SIGTERM/SIGINT, then drains them and exits. Answers the exit code
 * when the first worker cannot start (bad configuration, unreachable database): nothing would
 * go better by starting the others.
 */
export async function superviseWorkers(settings: Settings, count: number): Promise<number> {
  const logger = createLogger({ human: settings.human_logs ?? false, level: settings.log_level })
  const startedAt = Date.now()
  const slots: WorkerSlot[] = Array.from({ length: count }, (_, i) => ({ number: i + 1, startedAt: 0, restartDelayMs: 0 }))
  let stopping = false
  let port = settings.port

  const spawn = (slot: WorkerSlot, prepared: boolean): Promise<ReadyMessage | undefined> => {
    if (stopping) return Promise.resolve(undefined)
    const ready = Promise.withResolvers<ReadyMessage | undefined>()
    let listened = false
    slot.startedAt = Date.now()
    const child = Bun.spawn(selfCommand(), {
      env: { ...process.env, ...workerEnvironment(settings, slot.number, port, prepared, startedAt) },
      stdio: ['ignore', 'inherit', 'inherit'],
      serialization: 'json',
      ipc: (message) => {
        listened = true
        ready.resolve(message as ReadyMessage)
      },
    })
    slot.child = child
    void child.exited.then((code) => {
      ready.resolve(undefined)
      // The first worker failing to start is the start failing: reported below, not retried.
      if (stopping || slot.child !== child || (!prepared && !listened)) return
      const lived = Date.now() - slot.startedAt
      slot.restartDelayMs = lived > HEALTHY_AFTER_MS ? 0 : Math.min(Math.max(slot.restartDelayMs * 2, 100), MAX_RESTART_DELAY_MS)
      logger.error('worker exited; restarting it', { worker: slot.number, pid: child.pid, code, signal: child.signalCode ?? undefined, restart_in_ms: slot.restartDelayMs })
      setTimeout(() => {
        if (!stopping) void spawn(slot, true)
      }, slot.restartDelayMs)
    })
    return ready.promise
  }

  const done = Promise.withResolvers<number>()
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info('stopping workers', { signal })
    const children = slots.flatMap((slot) => (slot.child === undefined ? [] : [slot.child]))
    for (const child of children) child.kill('SIGTERM')
    // A worker still starting has no handler yet and dies of the signal itself: stopped as asked.
    const clean = (child: Subprocess) => child.exitCode === 0 || child.signalCode === 'SIGTERM'
    void Promise.all(children.map((child) => child.exited)).then(() => done.resolve(children.every(clean) ? 0 : 1))
  }
  // Installed before the first spawn: a signal during start-up must stop the workers already running.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.removeAllListeners(signal)
    process.on(signal, () => stop(signal))
  }

  const [first, ...others] = slots as [WorkerSlot, ...WorkerSlot[]]
  const firstReady = await spawn(first, false)
  if (stopping) return done.promise
  if (firstReady === undefined) {
    stopping = true
    return (await first.child?.exited) || 1
  }
  // Port 0 picks a free port once; every other worker joins the one the first got.
  port = firstReady.port
  await Promise.all(others.map((slot) => spawn(slot, true)))
  if (!stopping) logger.info('workers started', { workers: count, pids: slots.map((slot) => slot.child?.pid).join(','), port })
  return done.promise
}

/** This program again: the compiled binary, or Bun running the same entry script. */
function selfCommand(): string[] {
  const compiled = Bun.main.startsWith('/$bunfs/')
  return [process.execPath, ...(compiled ? [] : [Bun.main]), ...process.argv.slice(2)]
}

/**
 * A worker's environment on top of the supervisor's: which worker it is, the port, and for all
 * but the first start no migrations and no node bootstrap. The load balancer heartbeat's TTL is
 * fixed here, jitter included, so every worker fails `__lbheartbeat__` at the same moment
 * (counted from the supervisor's start) instead of one by one.
 */
function workerEnvironment(settings: Settings, number: number, port: number, prepared: boolean, startedAt: number): Record<string, string> {
  const env: Record<string, string> = { [WORKER_VARIABLE]: String(number), SYNC_PORT: String(port) }
  if (prepared) {
    env[PREPARED_VARIABLE] = '1'
    env.SYNC_SYNCSTORAGE__RUN_MIGRATIONS = 'false'
    env.SYNC_TOKENSERVER__RUN_MIGRATIONS = 'false'
  }
  const ttl = settings.syncstorage.lbheartbeat_ttl
  if (ttl !== undefined) {
    const jittered = ttl * (1 + (lbheartbeatJitter ??= Math.random()) * (settings.syncstorage.lbheartbeat_ttl_jitter / 100))
    env.SYNC_SYNCSTORAGE__LBHEARTBEAT_TTL = String(Math.max(1, Math.round(jittered - (Date.now() - startedAt) / 1000)))
    env.SYNC_SYNCSTORAGE__LBHEARTBEAT_TTL_JITTER = '0'
  }
  return env
}

/** One jitter draw for the whole server (see workerEnvironment). */
let lbheartbeatJitter: number | undefined
