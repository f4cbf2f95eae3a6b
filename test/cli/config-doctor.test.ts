import { afterEach, beforeEach, describe, expect, spyOn, test, type Mock } from 'bun:test'
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, type Command } from '../../src/cli/command.ts'
import { configCommand } from '../../src/cli/config.ts'
import { doctorCommand } from '../../src/cli/doctor.ts'
import { loadSettings } from '../../src/config/load.ts'
import { resolveSettings } from '../../src/config/settings.ts'
import { openTokenserverDb } from '../../src/db/open.ts'
import { SYNC_SERVICE } from '../../src/db/tokenserver-types.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { backendNamed } from '../support/backends.ts'
import { freePort } from '../support/binary.ts'
import { emulatorHost } from '../support/spanner-emulator.ts'

/** `syncserver config` and `syncserver doctor` (issue 12, finding 6), run in-process. */
describe('config and doctor', () => {
  let dir: string
  let stdout: Mock<typeof console.log>
  let stderr: Mock<typeof console.error>
  const cleanups: (() => Promise<unknown> | unknown)[] = []
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'syncserver-doctor-'))
    stdout = spyOn(console, 'log').mockImplementation(() => {})
    stderr = spyOn(console, 'error').mockImplementation(() => {})
  })
  afterEach(async () => {
    stdout.mockRestore()
    stderr.mockRestore()
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  const printed = () => stdout.mock.calls.map((call) => call.join(' ')).join('\n')
  const configFile = (text: string) => {
    const path = join(dir, 'syncserver.toml')
    writeFileSync(path, text)
    return path
  }
  const run = (command: Command, ...argv: string[]) => command.run(parseArgs(argv, command.options))

  /** A stand-in for Firefox Accounts whose clock is `skewMs` off ours. */
  const fakeAccounts = (skewMs: number) => {
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response(null, { headers: { date: new Date(Date.now() + skewMs).toUTCString() } }) })
    cleanups.push(() => server.stop(true))
    return `http://127.0.0.1:${server.port}`
  }

  const serving = async (file: string): Promise<RunningServer> => {
    const server = await startServer(await resolveSettings(await loadSettings({ configFile: file, env: {} }), { secret: 'create' }), { quiet: true })
    cleanups.push(() => server.stop())
    return server
  }

  test('config prints each setting with its source, hides secrets and writes nothing', async () => {
    const file = configFile(
      `port = 9000\nmaster_secret = "do not print me, however long I am"\n[syncstorage]\ndatabase_url = "postgres://sync:hunter2@db.example/sync"\n[tokenserver]\nfxa_metrics_hash_secret = "nor me"\n`,
    )
    expect(await run(configCommand, '--config', file, '--host', '::1')).toBe(0)
    const output = printed()
    expect(output).toMatch(new RegExp(`^port = 9000 +# ${file} line 1$`, 'm'))
    expect(output).toMatch(/^host = "::1" +# --host$/m)
    expect(output).toMatch(/^public_url = "http:\/\/\[::1\]:9000" +# derived from host and port$/m)
    expect(output).toMatch(/^cors_max_age = 1728000 +# default$/m)
    expect(output).toContain('database_url = "postgres://sync:***@db.example/sync"')
    expect(output).toMatch(/^\[tokenserver\]$/m)
    for (const secret of ['do not print me', 'nor me', 'hunter2']) expect(output).not.toContain(secret)
    expect(readdirSync(dir)).toEqual(['syncserver.toml'])
  })

  test('config says where a generated secret is or will be kept', async () => {
    const file = configFile(`[syncstorage]\ndatabase_url = "sqlite:///${dir}/sync.db"\n`)
    await run(configCommand, '--config', file)
    expect(printed()).toContain(`master_secret = "(generated at first start)"  # into ${dir}/sync.db.secret`)
    expect(readdirSync(dir)).toEqual(['syncserver.toml'])
  })

  test('doctor passes a healthy server: databases, node, public URL, clock', async () => {
    const port = await freePort()
    const file = configFile(`port = ${port}\n[syncstorage]\ndatabase_url = "sqlite:///${dir}/sync.db"\n[tokenserver]\nfxa_oauth_server_url = "${fakeAccounts(0)}"\n`)
    await serving(file)
    expect(await run(doctorCommand, '--config', file)).toBe(0)
    const output = printed()
    expect(output).toContain(`ok    storage database: SQLite file ${dir}/sync.db answers; schema up to date`)
    expect(output).toContain(`ok    storage node: Firefox is sent to http://127.0.0.1:${port}`)
    expect(output).toContain(`ok    public URL: http://127.0.0.1:${port}/__heartbeat__ answers 200`)
    expect(output).toMatch(/ok {4}clock: within \d+ s of/)
    expect(output).toContain('no problems found')
  })

  test('doctor names each failure with its fix: node elsewhere, nothing at the public URL, a clock off', async () => {
    const port = await freePort()
    const file = configFile(`port = ${port}\n[syncstorage]\ndatabase_url = "sqlite:///${dir}/sync.db"\n[tokenserver]\nfxa_oauth_server_url = "${fakeAccounts(-600_000)}"\n`)
    const db = await openTokenserverDb(`sqlite:///${dir}/sync.db`, { runMigrations: true })
    const service = (await db.serviceId(SYNC_SERVICE)) as number
    await db.insertNode({ service, node: 'https://old.example', available: 1, currentLoad: 0, capacity: 1, downed: false, backoff: false })
    await db.close()
    expect(await run(doctorCommand, '--config', file)).toBe(1)
    const output = printed()
    expect(output).toContain(`FAIL  storage node: Firefox is sent to https://old.example, not to this server's http://127.0.0.1:${port}`)
    expect(output).toContain(`fix: syncserver nodes update https://old.example --move-to http://127.0.0.1:${port}`)
    expect(output).toContain(`FAIL  public URL: nothing answers at http://127.0.0.1:${port}/__heartbeat__`)
    expect(output).toContain('fix: start the server (syncserver serve)')
    expect(output).toMatch(/FAIL {2}clock: -60[01] s off/)
    expect(output).toContain('timedatectl set-ntp true')
  })

  test('doctor with run_migrations = false reports pending migrations and the command to run', async () => {
    const file = configFile(`[syncstorage]\ndatabase_url = "sqlite:///${dir}/sync.db"\nrun_migrations = false\n[tokenserver]\nenabled = false\n`)
    writeFileSync(join(dir, 'sync.db'), '')
    expect(await run(doctorCommand, '--config', file)).toBe(1)
    expect(printed()).toContain('fix: run `syncserver migrate`')
  })

  test.skipIf(backendNamed('spanner') === undefined)('doctor opens Spanner storage with its settings (the emulator here)', async () => {
    const url = await backendNamed('spanner')!.freshDatabaseUrl()
    const file = configFile(`master_secret = "${'s'.repeat(32)}"\n[syncstorage]\ndatabase_url = "${url}"\nspanner_emulator_host = "${await emulatorHost()}"\n[tokenserver]\nenabled = false\n`)
    await run(doctorCommand, '--config', file)
    expect(printed()).toMatch(/^ok {4}storage database: .* answers/m)
  }, 30_000)

  test('doctor reports a settings error as a failure', async () => {
    expect(await run(doctorCommand, '--config', configFile('prot = 9\n'))).toBe(1)
    expect(printed()).toContain('FAIL  settings: unknown setting prot; did you mean port?')
  })
})
