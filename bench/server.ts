import type { Subprocess } from 'bun'

/** A server process the benchmark started and owns. */
export interface RunningProcess {
  url: string
  pid: number
  /** Milliseconds from just before spawn to the first 200 on the ready path. */
  readyMs: number
  /** SIGTERM, then SIGKILL after a grace period; answers how long the exit took. */
  stop(): Promise<StopOutcome>
}

export interface StopOutcome {
  /** Milliseconds from SIGTERM to exit. */
  ms: number
  /** The process ignored SIGTERM for the whole grace period and was killed. */
  killed: boolean
}

export type StartOutcome = { ok: true; server: RunningProcess } | { ok: false; reason: string }

const READY_TIMEOUT_MS = 15_000

/** Children still running; killed if the benchmark exits early (an error, Ctrl-C). */
const live = new Set<Subprocess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130))
const STOP_GRACE_MS = 5_000

/** A port nobody listens on right now (the OS picks it; the tiny race is acceptable here). */
export function freePort(): number {
  const probe = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
  const port = probe.port
  probe.stop(true)
  if (port === undefined) throw new Error('could not find a free port')
  return port
}

/**
 * Spawns `cmd` and polls `readyPath` until it answers 200. A process that exits first, or never
 * becomes ready, is reported with the tail of its stderr: that is how an engine the server
 * refuses (e.g. a backend not implemented yet) turns into a printed skip reason.
 */
export async function startProcess(options: {
  cmd: string[]
  /** The child's whole environment (nothing is inherited implicitly). */
  env: Record<string, string>
  port: number
  readyPath: string
}): Promise<StartOutcome> {
  const url = `http://127.0.0.1:${options.port}`
  const started = performance.now()
  const child = Bun.spawn(options.cmd, {
    env: options.env,
    // The server logs a line per request; nothing reads stdout, so it must not be a pipe that fills.
    stdout: 'ignore',
    stderr: 'pipe',
  })
  live.add(child)
  void child.exited.then(() => live.delete(child))
  const stderr = collect(child.stderr)
  const readyMs = await waitUntilReady(`${url}${options.readyPath}`, child, started)
  if (readyMs === undefined) {
    const exited = child.exitCode !== null
    await stopChild(child)
    const tail = (await stderr.text()).trim().split('\n').slice(-3).join(' | ')
    const why = exited ? `exited with code ${child.exitCode}` : `not ready within ${READY_TIMEOUT_MS} ms`
    return { ok: false, reason: tail === '' ? why : `${why}: ${tail}` }
  }
  return { ok: true, server: { url, pid: child.pid, readyMs, stop: () => stopChild(child) } }
}

/**
 * Polls every millisecond. A refused connection on loopback answers in about 0.1 ms, so the
 * figure is exact to ~1 ms; polling without a pause would not be more exact: it keeps one of
 * the two cores busy while the server starts, which measurably slows the start itself.
 */
async function waitUntilReady(url: string, child: Subprocess, started: number): Promise<number | undefined> {
  while (performance.now() - started < READY_TIMEOUT_MS) {
    if (child.exitCode !== null || child.signalCode !== null) return undefined
    try {
      const response = await fetch(url)
      await response.arrayBuffer()
      if (response.status === 200) return performance.now() - started
    } catch {
      // Not listening yet.
    }
    await Bun.sleep(1)
  }
  return undefined
}

async function stopChild(child: Subprocess): Promise<StopOutcome> {
  if (child.exitCode !== null || child.signalCode !== null) return { ms: 0, killed: false }
  const started = performance.now()
  let killed = false
  child.kill('SIGTERM')
  const timer = setTimeout(() => {
    killed = true
    child.kill('SIGKILL')
  }, STOP_GRACE_MS)
  await child.exited
  clearTimeout(timer)
  return { ms: performance.now() - started, killed }
}

/** Buffers a stream in the background so the child never blocks on a full stderr pipe. */
function collect(stream: ReadableStream<Uint8Array> | number | undefined): { text(): Promise<string> } {
  if (!(stream instanceof ReadableStream)) return { text: async () => '' }
  const text = new Response(stream).text().catch(() => '')
  return { text: () => text }
}
