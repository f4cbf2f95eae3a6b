/**
 * Runs a syncserver as a child process (the compiled binary, possibly under an emulator) and
 * waits until it answers `/__heartbeat__`, as an operator's health check would.
 */
import { createServer, type AddressInfo, type Server } from 'node:net'

export interface ServerProcessOptions {
  /** The argv that starts the server, e.g. `['dist/syncserver', 'serve']`. */
  command: string[]
  cwd: string
  /** The environment beyond PATH; must bind `port` (SYNC_PORT) on 127.0.0.1. */
  env: Record<string, string>
  port: number
  readyTimeoutMs?: number
}

export interface ServerProcess {
  origin: string
  child: Bun.Subprocess<'ignore', 'pipe', 'pipe'>
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string
  /** SIGTERM, then SIGKILL after 5 s; resolves with the exit code (null when killed). */
  stop(): Promise<number | null>
}

/**
 * Ports that were free a moment ago; good enough on loopback in a test. All probes stay open until
 * every port is picked, so one call never hands out the same port twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const probes = await Promise.all(Array.from({ length: count }, () => listenOnAnyPort()))
  const ports = probes.map((probe) => (probe.address() as AddressInfo).port)
  await Promise.all(probes.map((probe) => new Promise((resolve) => probe.close(resolve))))
  return ports
}

function listenOnAnyPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => resolve(probe))
  })
}

async function collect(stream: ReadableStream<Uint8Array>, sink: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder()
  for await (const chunk of stream) sink(decoder.decode(chunk, { stream: true }))
}

async function waitForHeartbeat(origin: string, server: ServerProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`syncserver exited with ${server.child.exitCode} before it was ready:\n${server.output()}`)
    const status = await fetch(`${origin}/__heartbeat__`).then((r) => r.status, () => 0)
    if (status === 200) return
    await Bun.sleep(100)
  }
  throw new Error(`syncserver: GET /__heartbeat__ did not answer 200 within ${timeoutMs} ms:\n${server.output()}`)
}

/** Starts the server and resolves once `/__heartbeat__` answers 200 (stopping it on failure). */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const origin = `http://127.0.0.1:${options.port}`
  const child = Bun.spawn(options.command, {
    cwd: options.cwd,
    env: { PATH: Bun.env.PATH ?? '/usr/bin:/bin', ...options.env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let text = ''
  const append = (chunk: string): void => {
    text += chunk
  }
  const drained = Promise.all([collect(child.stdout, append), collect(child.stderr, append)])
  const server: ServerProcess = {
    origin,
    child,
    output: () => text,
    stop: async () => {
      child.kill('SIGTERM')
      const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(5_000).then(() => false)])
      if (!exited) child.kill('SIGKILL')
      await drained
      return child.signalCode === null ? child.exitCode : null
    },
  }
  try {
    await waitForHeartbeat(origin, server, options.readyTimeoutMs ?? 30_000)
  } catch (error) {
    await server.stop()
    throw error
  }
  return server
}
