import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePorts } from '../../support/server-process.ts'

/**
 * A database server of the test's own, in a temp dir on a free port, that the test may stop and
 * start at will (never the shared 5432/3306 ones). `skip` says why it cannot run here.
 */
export interface PrivateDatabase {
  /** A URL for the database `syncserver`, created at the first start. */
  url: string
  port: number
  start(): Promise<void>
  stop(): Promise<void>
  remove(): Promise<void>
}

async function run(command: string[], options: { user?: string } = {}): Promise<string> {
  const argv = options.user === undefined || process.getuid?.() !== 0 ? command : ['runuser', '-u', options.user, '--', ...command]
  const child = Bun.spawn(argv, { stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  if (code !== 0) throw new Error(`${command[0]} exited with ${code}: ${err || out}`)
  return out
}

async function until(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`)
    await Bun.sleep(100)
  }
}

const POSTGRES_BIN = (() => {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const version = readdirSync(root).sort().at(-1)
  return version === undefined ? undefined : join(root, version, 'bin')
})()

/** Why a private PostgreSQL cannot run here, if it cannot. */
export const privatePostgresSkip = POSTGRES_BIN === undefined ? 'PostgreSQL binaries not installed' : undefined

/**
 * `hbaLines` go in front of the trust lines initdb writes (the first matching line decides), for
 * a test of password authentication, which the shared server, trusting every connection, cannot give.
 */
export async function privatePostgres({ hbaLines = [] }: { hbaLines?: readonly string[] } = {}): Promise<PrivateDatabase> {
  const bin = POSTGRES_BIN!
  const dir = mkdtempSync(join(tmpdir(), 'syncserver-fault-pg-'))
  chmodSync(dir, 0o755)
  if (process.getuid?.() === 0) chownSync(dir, Number(await run(['id', '-u', 'postgres'])), Number(await run(['id', '-g', 'postgres'])))
  const data = join(dir, 'data')
  const [port] = (await freePorts(1)) as [number]
  await run([join(bin, 'initdb'), '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { user: 'postgres' })
  if (hbaLines.length > 0) {
    const hba = join(data, 'pg_hba.conf')
    writeFileSync(hba, [...hbaLines, readFileSync(hba, 'utf8')].join('\n'))
  }
  let created = false
  const ready = () => run([join(bin, 'pg_isready'), '-h', '127.0.0.1', '-p', String(port)]).then(() => true)
  const db: PrivateDatabase = {
    url: `postgres://postgres@127.0.0.1:${port}/syncserver`,
    port,
    async start() {
      const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB -c max_connections=40`
      await run([join(bin, 'pg_ctl'), '-D', data, '-l', join(dir, 'log'), '-o', options, '-w', 'start'], { user: 'postgres' })
      await until(ready, 20_000, 'private PostgreSQL start')
      if (!created) {
        await run(['psql', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', 'CREATE DATABASE syncserver'])
        created = true
      }
    },
    async stop() {
      await run([join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'], { user: 'postgres' })
    },
    async remove() {
      await db.stop().catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return db
}

/** Why a private MariaDB cannot run here, if it cannot. */
export const privateMariadbSkip =
  existsSync('/usr/sbin/mariadbd') && Bun.which('mariadb-install-db') !== null ? undefined : 'MariaDB server not installed'

export async function privateMariadb(): Promise<PrivateDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'syncserver-fault-mariadb-'))
  const data = join(dir, 'data')
  const socket = join(dir, 'mysqld.sock')
  const [port] = (await freePorts(1)) as [number]
  await run(['mariadb-install-db', '--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'])
  let child: Bun.Subprocess | undefined
  let created = false
  const ready = () => run(['mysqladmin', '--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'root', 'ping']).then(() => true)
  const db: PrivateDatabase = {
    url: `mysql://root@127.0.0.1:${port}/syncserver`,
    port,
    async start() {
      child = Bun.spawn(
        [
          '/usr/sbin/mariadbd',
          '--no-defaults',
          `--datadir=${data}`,
          `--socket=${socket}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          '--user=root',
          '--skip-grant-tables',
          '--innodb-buffer-pool-size=16M',
          '--innodb-flush-log-at-trx-commit=2',
          '--skip-log-bin',
          `--pid-file=${join(dir, 'mysqld.pid')}`,
        ],
        { stdout: 'ignore', stderr: 'ignore' },
      )
      await until(ready, 30_000, 'private MariaDB start')
      if (!created) {
        await run(['mysql', '--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'root', '-e', 'CREATE DATABASE syncserver'])
        created = true
      }
    },
    async stop() {
      if (child === undefined) return
      child.kill('SIGKILL')
      await child.exited
      child = undefined
    },
    async remove() {
      await db.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return db
}
