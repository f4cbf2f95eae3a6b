import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { adminClients } from '../../src/db/spanner/client.ts'
import { prepareSpanner } from '../../src/db/spanner/prepare.ts'
import { parseSpannerUrl } from '../../src/db/spanner/settings.ts'

/**
 * The Cloud Spanner emulator for tests: one per test process, on free ports, started on first
 * use and killed (with the emulator_main it spawns) when the process exits. Each suite gets its
 * own database on it. SYNCSERVER_TEST_SPANNER_EMULATOR=host:port uses a running one instead.
 */
export const GATEWAY = process.env.SYNCSERVER_TEST_SPANNER_GATEWAY ?? '/usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator/gateway_main'

export const PROJECT = 'test-project'
const INSTANCE = 'test-instance'

let running: Promise<string> | undefined
let child: ChildProcess | undefined
/** The emulator's REST address, when this process started it. */
let restUrl: string | undefined

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

/** Why the emulator cannot be used here, or undefined. */
export function emulatorUnavailable(): string | undefined {
  if (process.env.SYNCSERVER_TEST_SPANNER_EMULATOR !== undefined) return undefined
  return existsSync(GATEWAY) ? undefined : `no Spanner emulator at ${GATEWAY} (Debian package google-cloud-cli-spanner-emulator)`
}

/** The emulator's gRPC `host:port`, starting it on first call. */
export function emulatorHost(): Promise<string> {
  running ??= process.env.SYNCSERVER_TEST_SPANNER_EMULATOR !== undefined ? Promise.resolve(process.env.SYNCSERVER_TEST_SPANNER_EMULATOR) : start()
  return running
}

async function start(): Promise<string> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()]
  // In its own process group with a shell that outlives this process by at most a second: it
  // then kills the group, gateway and the emulator_main it spawned, even if this process was
  // killed and its exit handler never ran.
  const watchdog = `"$0" "$@" & while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 -$$`
  const args = ['--hostname', '127.0.0.1', '--grpc_port', String(grpcPort), '--http_port', String(httpPort)]
  child = spawn('sh', ['-c', watchdog, GATEWAY, ...args], { detached: true, stdio: 'ignore' })
  child.unref()
  process.once('exit', stopEmulator)
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the Spanner emulator exited with ${child.exitCode}`)
    try {
      const response = await fetch(`http://127.0.0.1:${httpPort}/v1/projects/${PROJECT}/instances`)
      if (response.ok) {
        restUrl = `http://127.0.0.1:${httpPort}`
        return `127.0.0.1:${grpcPort}`
      }
    } catch {
      // not listening yet
    }
    await Bun.sleep(100)
  }
  stopEmulator()
  throw new Error('the Spanner emulator did not start within 30 s')
}

export function stopEmulator(): void {
  if (child?.pid !== undefined && child.exitCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

let databaseCount = 0
/** The first database, made by warmUp() before any test runs. */
let spare: Promise<string> | undefined

/**
 * A URL for a new database, prepared with schema.ddl. Never made in the background while a
 * test runs: the emulator runs one read-write transaction (schema changes included) at a time,
 * for all its databases, and would abort the test's.
 */
export async function freshSpannerDatabaseUrl(): Promise<string> {
  const next = spare ?? createDatabase()
  spare = undefined
  return next
}

async function createDatabase(): Promise<string> {
  const host = await emulatorHost()
  const name = `t${process.pid}-${++databaseCount}-${Math.random().toString(36).slice(2, 8)}`
  // An emulator instance holds at most 100 databases.
  const instance = `${INSTANCE}-${Math.floor(databaseCount / 90)}`
  const url = `spanner://projects/${PROJECT}/instances/${instance}/databases/${name}`
  await prepareSpanner(parseSpannerUrl(url), { emulatorHost: host, routeToLeader: false })
  if (process.env.SYNCSERVER_TEST_SPANNER_CHANGE_STREAM === 'drop') await dropChangeStream(url)
  return url
}

/** Drops a database of freshSpannerDatabaseUrl() (the emulator keeps every database in memory until then). */
export async function dropSpannerDatabase(url: string): Promise<void> {
  const { databases, close } = await adminClients(PROJECT, { emulatorHost: await emulatorHost(), routeToLeader: false })
  try {
    await databases.dropDatabase({ database: parseSpannerUrl(url).name })
  } finally {
    await close()
  }
}

/**
 * SYNCSERVER_TEST_SPANNER_CHANGE_STREAM=drop: test databases without schema.ddl's change stream
 * (it only feeds syncstorage-rs's offload reconciler; the server never reads it). With it, the
 * emulator aborts now and then a write transaction that runs alone (~2 in 100 serial 100-record
 * writes, none without it), a 503 that production Spanner gives only on a real conflict; long
 * model runs use this to tell those apart from the server's own faults. Through the emulator's
 * REST API, so it does not depend on the server's Spanner transport.
 */
async function dropChangeStream(url: string): Promise<void> {
  if (restUrl === undefined) throw new Error('SYNCSERVER_TEST_SPANNER_CHANGE_STREAM=drop needs the emulator this process starts')
  const database = url.replace('spanner://', '')
  const response = await fetch(`${restUrl}/v1/${database}/ddl`, {
    method: 'PATCH',
    body: JSON.stringify({ statements: ['DROP CHANGE STREAM payload_link_changes'] }),
  })
  let operation = (await response.json()) as { name?: string; done?: boolean; error?: unknown }
  if (!response.ok) throw new Error(`dropping the change stream: ${response.status} ${JSON.stringify(operation)}`)
  while (operation.done !== true) {
    await Bun.sleep(50)
    operation = (await (await fetch(`${restUrl}/v1/${operation.name}`)).json()) as typeof operation
  }
  if (operation.error !== undefined) throw new Error(`dropping the change stream: ${JSON.stringify(operation.error)}`)
}

/** Starts the emulator and makes the first database (with its instance, the slow part), outside any test's time limit. */
export async function warmUp(): Promise<void> {
  spare ??= createDatabase()
  await spare
}

/** The SYNC_* variables a server process needs for a test database URL: the emulator's address for a Spanner one. */
export async function emulatorEnv(databaseUrl: string): Promise<Record<string, string>> {
  return databaseUrl.startsWith('spanner:') ? { SYNC_SYNCSTORAGE__SPANNER_EMULATOR_HOST: await emulatorHost() } : {}
}
