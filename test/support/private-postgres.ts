import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { freePort } from './binary.ts'

/**
 * A PostgreSQL server of the test's own, on a free port of 127.0.0.1, with the client
 * authentication `hbaLines` ask for: the shared server trusts every connection, so password
 * authentication can only be tested against one whose pg_hba.conf the test writes. Made with the
 * installed server's initdb (as the `postgres` user when the tests run as root, which PostgreSQL
 * refuses to run as), and removed by `stop`.
 */
export interface PrivatePostgres {
  port: number
  /** Runs statements as the superuser, over the server's Unix socket. */
  admin: postgres.Sql
  stop(): Promise<void>
}

/** Why no private server can be made here, or undefined. */
export function privatePostgresUnavailable(): string | undefined {
  return binDirectory() === undefined ? 'no PostgreSQL server binaries under /usr/lib/postgresql' : undefined
}

export async function startPrivatePostgres(hbaLines: readonly string[]): Promise<PrivatePostgres> {
  const bin = binDirectory()
  if (bin === undefined) throw new Error(privatePostgresUnavailable())
  const dir = mkdtempSync(join(tmpdir(), 'syncserver-pg-'))
  chmodSync(dir, 0o777)
  const data = join(dir, 'data')
  const asServerUser = (command: string[]) => (process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...command] : command)
  const initdb = Bun.spawnSync(asServerUser([join(bin, 'initdb'), '-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync']), { stdout: 'ignore', stderr: 'pipe' })
  if (initdb.exitCode !== 0) throw new Error(`initdb failed: ${initdb.stderr.toString()}`)
  writeFileSync(join(data, 'pg_hba.conf'), ['local all all trust', ...hbaLines, ''].join('\n'))
  const port = await freePort()
  const server = Bun.spawn(asServerUser([join(bin, 'postgres'), '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off']), {
    stdout: 'ignore',
    stderr: 'ignore',
  })
  const admin = postgres({ host: dir, port, user: 'postgres', database: 'postgres', max: 1, onnotice: () => {} })
  const stop = async () => {
    await admin.end({ timeout: 1 })
    // runuser does not pass signals on to the server: pg_ctl stops it, as its own user.
    Bun.spawnSync(asServerUser([join(bin, 'pg_ctl'), 'stop', '-D', data, '-m', 'immediate']), { stdout: 'ignore', stderr: 'ignore' })
    await server.exited
    rmSync(dir, { recursive: true, force: true })
  }
  for (let waited = 0; ; waited += 50) {
    try {
      await admin`SELECT 1`
      return { port, admin, stop }
    } catch (error) {
      if (waited > 20_000 || server.exitCode !== null) {
        await stop()
        throw new Error(`the private PostgreSQL server did not start: ${String(error)}`)
      }
      await Bun.sleep(50)
    }
  }
}

function binDirectory(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin')
}
