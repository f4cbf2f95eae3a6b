import { describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startTestServer } from '../support/server.ts'
import { backendNamed } from '../support/backends.ts'
import { emulatorHost, freePort } from '../support/spanner-emulator.ts'

const MAIN = resolve(import.meta.dir, '../../src/main.ts')

/** `syncserver <args>` from source, configured only by these SYNC_* variables. */
async function syncserver(args: string[], env: Record<string, string>) {
  const child = Bun.spawn(['bun', MAIN, ...args], {
    cwd: mkdtempSync(join(tmpdir(), 'syncserver-spanner-')),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { stdout, stderr, code }
}

let databases = 0
const newDatabaseUrl = (instance = 'prepare-test') =>
  `spanner://projects/test-project/instances/${instance}/databases/p${process.pid}-${++databases}`

describe.skipIf(backendNamed('spanner') === undefined)('prepare-spanner on the emulator', () => {
  const spannerEnv = async (url: string) => ({
    SYNC_SYNCSTORAGE__DATABASE_URL: url,
    SYNC_SYNCSTORAGE__SPANNER_EMULATOR_HOST: await emulatorHost(),
  })

  test('creates instance and database, applies schema.ddl, skips what the emulator refuses; a second run changes nothing', async () => {
    const url = newDatabaseUrl(`prepare-${process.pid}`)
    const first = await syncserver(['prepare-spanner'], await spannerEnv(url))
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    const lines = first.stdout.trim().split('\n')
    expect(lines.slice(0, 2)).toEqual([
      `created instance projects/test-project/instances/prepare-${process.pid}`,
      `created database ${url.slice('spanner://'.length)}`,
    ])
    expect(lines.filter((line) => line.startsWith('applied: '))).toHaveLength(12)
    const skipped = lines.filter((line) => line.startsWith('skipped '))
    expect(skipped).toHaveLength(3)
    expect(skipped[0]).toContain('Unsupported ddl statement')
    expect(skipped[0]).toEndWith('CREATE ROLE payload_link_reader')

    const second = await syncserver(['prepare-spanner'], await spannerEnv(url))
    expect(second.code).toBe(0)
    expect(second.stdout).not.toContain('created ')
    expect(second.stdout).not.toContain('applied: ')
    expect(second.stdout.trim().split('\n').at(-1)).toBe('schema up to date')
  }, 30_000)

  test('migrate with a Spanner URL does the same work', async () => {
    const url = newDatabaseUrl()
    const env = { ...(await spannerEnv(url)), SYNC_TOKENSERVER__ENABLED: 'false', SYNC_MASTER_SECRET: 'a'.repeat(64) }
    const migrated = await syncserver(['migrate'], env)
    expect(migrated.stderr).toBe('')
    expect(migrated.code).toBe(0)
    expect(migrated.stdout).toContain(`database ${url.slice('spanner://'.length)}, CREATE TABLE user_collections`)
    expect(migrated.stdout).toContain('CREATE TABLE bsos')
    expect((await syncserver(['prepare-spanner'], env)).stdout).toContain('schema up to date')
  }, 30_000)

  test('the server refuses a database without the schema and names the command that fixes it', async () => {
    const host = await emulatorHost()
    // The database exists (created by the admin API) but holds no tables.
    const { adminClients } = await import('../../src/db/spanner/client.ts')
    const { instances, databases: admin, close } = await adminClients('test-project', { emulatorHost: host, routeToLeader: false })
    const [instance] = await instances.createInstance({
      parent: 'projects/test-project',
      instanceId: `empty-${process.pid}`,
      instance: { config: 'projects/test-project/instanceConfigs/emulator-config', nodeCount: 1, displayName: 'empty' },
    })
    await instance.promise()
    const name = `projects/test-project/instances/empty-${process.pid}/databases/empty`
    const [database] = await admin.createDatabase({ parent: name.slice(0, name.indexOf('/databases/')), createStatement: 'CREATE DATABASE `empty`' })
    await database.promise()
    await close()
    await expect(startTestServer(`spanner://${name}`)).rejects.toThrow('run `syncserver prepare-spanner`')
    await expect(startTestServer(`spanner://projects/test-project/instances/empty-${process.pid}/databases/absent`)).rejects.toThrow(
      'does not exist: run `syncserver prepare-spanner`',
    )
  }, 30_000)

  test('serve with Spanner storage and no tokenserver database stops at start, naming the setting', async () => {
    const result = await syncserver(['serve'], {
      ...(await spannerEnv(newDatabaseUrl())),
      SYNC_MASTER_SECRET: 'a secret for the Spanner tests, long enough',
      SYNC_PORT: String(await freePort()),
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('tokenserver.database_url (SYNC_TOKENSERVER__DATABASE_URL)')
  })
})

describe('prepare-spanner without a database', () => {
  test('--print-ddl prints the statements of schema.ddl and contacts nothing', async () => {
    const result = await syncserver(['prepare-spanner', '--print-ddl'], {})
    expect(result.code).toBe(0)
    const statements = result.stdout.trim().split('\n')
    expect(statements).toHaveLength(15)
    expect(statements[0]).toStartWith('CREATE TABLE user_collections (')
    expect(statements.every((statement) => statement.endsWith(';'))).toBe(true)
  })

  test('a storage URL that is not Spanner is a usage error naming the setting', async () => {
    const result = await syncserver(['prepare-spanner'], { SYNC_SYNCSTORAGE__DATABASE_URL: 'sqlite:///x.db' })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('SYNC_SYNCSTORAGE__DATABASE_URL')
  })

  test('a malformed Spanner URL names the expected form', async () => {
    const result = await syncserver(['prepare-spanner'], { SYNC_SYNCSTORAGE__DATABASE_URL: 'spanner://projects/p/databases/d' })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('expected spanner://projects/PROJECT/instances/INSTANCE/databases/DATABASE')
  })

  test('an emulator host given as a URL (its REST address) is refused with the right form', async () => {
    const result = await syncserver(['prepare-spanner'], {
      SYNC_SYNCSTORAGE__DATABASE_URL: 'spanner://projects/p/instances/i/databases/d',
      SYNC_SYNCSTORAGE__SPANNER_EMULATOR_HOST: 'http://localhost:9020',
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("must be the emulator's gRPC host:port")
  })

  test('an emulator that does not answer is named, with what to check', async () => {
    const result = await syncserver(['prepare-spanner'], {
      SYNC_SYNCSTORAGE__DATABASE_URL: 'spanner://projects/p/instances/inst/databases/db',
      SYNC_SYNCSTORAGE__SPANNER_EMULATOR_HOST: `127.0.0.1:${await freePort()}`,
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('cannot reach the Spanner emulator')
  }, 30_000)

  test('Ctrl-C stops it while it waits for an emulator that does not answer (the client library installs no handlers)', async () => {
    // A port that takes the connection and never answers: once the client connects, the library
    // is loaded and its first call waits. Sent then, not after a fixed sleep, the signal tests
    // what it should on a loaded machine too, where loading can take longer than any sleep.
    const connected = Promise.withResolvers<void>()
    const silent = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { open: () => connected.resolve(), data: () => {} } })
    const child = Bun.spawn(['bun', MAIN, 'prepare-spanner'], {
      cwd: mkdtempSync(join(tmpdir(), 'syncserver-spanner-')),
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        SYNC_SYNCSTORAGE__DATABASE_URL: 'spanner://projects/p/instances/inst/databases/db',
        SYNC_SYNCSTORAGE__SPANNER_EMULATOR_HOST: `127.0.0.1:${silent.port}`,
      },
      stdout: 'ignore',
      stderr: 'ignore',
    })
    try {
      await connected.promise
      child.kill('SIGINT')
      await child.exited
      // Ended by the signal. A handler that kept it alive leaves it waiting on the silent port
      // (the test times out) or ending later on its own, without the signal.
      expect(child.signalCode).toBe('SIGINT')
    } finally {
      child.kill('SIGKILL')
      silent.stop(true)
    }
  }, 30_000)

  test('without credentials for real Spanner, the error says how to provide them', async () => {
    const result = await syncserver(['prepare-spanner'], {
      SYNC_SYNCSTORAGE__DATABASE_URL: 'spanner://projects/p/instances/inst/databases/db',
      // No metadata server, no key file: Google's default credentials cannot be found.
      GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/key.json',
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('GOOGLE_APPLICATION_CREDENTIALS')
  }, 60_000)
})

describe('the Spanner backend when Spanner does not answer', () => {
  test('refuses to start within seconds, not after ten minutes of retries by the client library', async () => {
    const started = Date.now()
    const result = await syncserver(['serve'], {
      SYNC_SYNCSTORAGE__DATABASE_URL: 'spanner://projects/p/instances/inst/databases/db',
      SYNC_SYNCSTORAGE__SPANNER_EMULATOR_HOST: `127.0.0.1:${await freePort()}`,
      SYNC_MASTER_SECRET: 'a secret for the Spanner tests, long enough',
      SYNC_TOKENSERVER__ENABLED: 'false',
      SYNC_PORT: String(await freePort()),
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('cannot open Spanner database projects/p/instances/inst/databases/db')
    expect(Date.now() - started).toBeLessThan(20_000)
  }, 30_000)
})
