import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { backends } from '../support/backends.ts'
import { BINARY, buildBinary, cleanEnv, emptyDir, freePort, run, waitFor } from '../support/binary.ts'

/**
 * A self-hoster's first hour with the binary (issue 12): the node follows the address, output a
 * person can read, start errors that name the setting and the fix.
 */

interface Started {
  child: Bun.Subprocess<'ignore', 'pipe', 'pipe'>
  /** The origin the server says it listens on. */
  url: string
  output: () => string
}

const children: Bun.Subprocess[] = []
const postgresBackend = backends.find((backend) => backend.name === 'postgres')

/** Starts `syncserver serve` and waits for its start line (JSON: stdout is not a terminal). */
async function start(cwd: string, env: Record<string, string>, args: string[] = []): Promise<Started> {
  const child = Bun.spawn([BINARY, 'serve', ...args], { cwd, env: cleanEnv(env), stdout: 'pipe', stderr: 'pipe' })
  children.push(child)
  let text = ''
  const decoder = new TextDecoder()
  void (async () => {
    for await (const chunk of child.stdout) text += decoder.decode(chunk, { stream: true })
  })()
  void (async () => {
    for await (const chunk of child.stderr) text += decoder.decode(chunk, { stream: true })
  })()
  const deadline = Date.now() + 15_000
  for (;;) {
    const match = /"url":"([^"]+)"/.exec(text)
    if (match) return { child, url: match[1] as string, output: () => text }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${text}`)
    await Bun.sleep(20)
  }
}

async function stop(started: Started): Promise<void> {
  started.child.kill('SIGTERM')
  await started.child.exited
}

async function nodesIn(cwd: string, env: Record<string, string> = {}): Promise<string[]> {
  const listed = await run(['nodes', 'list', '--json'], cwd, env)
  expect(listed.stderr).toBe('')
  return (JSON.parse(listed.stdout) as { node: string }[]).map((node) => node.node)
}

describe('first hour with dist/syncserver', () => {
  beforeAll(buildBinary, 120_000)
  afterAll(() => children.forEach((child) => child.kill('SIGKILL')))

  describe('the storage node follows the configured address', () => {
    test('a new port moves the node; tokens would send Firefox to the new port', async () => {
      const cwd = emptyDir()
      const [first, second] = [await freePort(), await freePort()]
      await stop(await start(cwd, { SYNC_PORT: String(first) }))
      expect(await nodesIn(cwd)).toEqual([`http://127.0.0.1:${first}`])
      const moved = await start(cwd, { SYNC_PORT: String(second) })
      await stop(moved)
      expect(moved.output()).toContain(`moved from http://127.0.0.1:${first}`)
      expect(await nodesIn(cwd)).toEqual([`http://127.0.0.1:${second}`])
    })

    test('a new host moves the node too', async () => {
      const cwd = emptyDir()
      const port = await freePort()
      await stop(await start(cwd, { SYNC_PORT: String(port) }))
      await stop(await start(cwd, { SYNC_PORT: String(port), SYNC_HOST: '127.0.0.2' }))
      expect(await nodesIn(cwd)).toEqual([`http://127.0.0.2:${port}`])
    })

    test('port 0 listens on a free port and registers that port', async () => {
      const cwd = emptyDir()
      const started = await start(cwd, { SYNC_PORT: '0' })
      const port = Number(new URL(started.url).port)
      expect(port).toBeGreaterThan(0)
      expect((await fetch(`${started.url}/__heartbeat__`)).status).toBe(200)
      expect(started.output()).toContain(`identity.sync.tokenserver.uri = http://127.0.0.1:${port}/1.0/sync/1.5`)
      await stop(started)
      expect(await nodesIn(cwd)).toEqual([`http://127.0.0.1:${port}`])
    })

    test('an IPv6 host works without public_url', async () => {
      const cwd = emptyDir()
      const port = await freePort()
      const started = await start(cwd, { SYNC_PORT: String(port), SYNC_HOST: '::1' })
      expect(started.url).toBe(`http://[::1]:${port}`)
      expect((await fetch(`http://[::1]:${port}/__lbheartbeat__`)).status).toBe(200)
      await stop(started)
      expect(await nodesIn(cwd)).toEqual([`http://[::1]:${port}`])
    })

    test('a server without storage registers no node', async () => {
      const cwd = emptyDir()
      await stop(await start(cwd, { SYNC_PORT: String(await freePort()), SYNC_SYNCSTORAGE__ENABLED: 'false' }))
      expect(await nodesIn(cwd)).toEqual([])
    })

    test('a node someone else added is left alone, with a loud warning giving the exact command', async () => {
      const cwd = emptyDir()
      expect((await run(['nodes', 'add', 'https://sync.example.com'], cwd)).code).toBe(0)
      const port = await freePort()
      const started = await start(cwd, { SYNC_PORT: String(port) })
      await stop(started)
      expect(started.output()).toContain('"Severity":4')
      expect(started.output()).toContain(`syncserver nodes update https://sync.example.com --move-to http://127.0.0.1:${port}`)
      expect(await nodesIn(cwd)).toEqual(['https://sync.example.com'])
    })
  })

  describe('output for a person', () => {
    test('serve takes --port, --host, --database-url and --public-url; the banner gives absolute paths and the Firefox value', async () => {
      const cwd = emptyDir()
      const port = await freePort()
      const started = await start(cwd, {}, ['--port', String(port), '--host', '127.0.0.1', '--database-url', 'sqlite:///data/sync.db', '--public-url', 'https://sync.example.com'])
      await stop(started)
      const fields = JSON.parse(started.output().split('\n').find((line) => line.includes('"url"')) as string).Fields
      expect(fields).toMatchObject({
        url: `http://127.0.0.1:${port}`,
        storage: `SQLite file ${cwd}/data/sync.db`,
        master_secret_file: `${cwd}/data/sync.db.secret`,
        firefox_setting: 'identity.sync.tokenserver.uri = https://sync.example.com/1.0/sync/1.5',
      })
    })

    test('on a terminal the logs are lines of text with a banner saying what to do next', async () => {
      const cwd = emptyDir()
      const port = await freePort()
      // script(1) gives the server a pseudo-terminal as stdout.
      const child = Bun.spawn(['script', '-qfec', `${BINARY} --port ${port}`, '/dev/null'], { cwd, env: cleanEnv(), stdout: 'pipe', stderr: 'pipe' })
      children.push(child)
      await waitFor(`http://127.0.0.1:${port}/__lbheartbeat__`, Date.now() + 10_000)
      // Killing script(1) closes the terminal under the server: its request line must be out
      // first, and the logger gathers lines for up to 50 ms.
      await Bun.sleep(300)
      child.kill('SIGTERM')
      const output = await new Response(child.stdout).text()
      expect(output).not.toContain('{"Type"')
      expect(output).toContain(`  storage      SQLite file ${cwd}/syncserver.db`)
      expect(output).toContain(`  secret       ${cwd}/syncserver.db.secret (generated now; back it up with the database)`)
      expect(output).toContain(`about:config → identity.sync.tokenserver.uri = http://127.0.0.1:${port}/1.0/sync/1.5`)
      expect(output).toContain('syncserver doctor')
      expect(output).toMatch(/\d\d:\d\d:\d\d INFO  GET \/__lbheartbeat__ 200 [\d.]+ms/)
    })

    test('log_level and log_requests silence lines', async () => {
      const port = await freePort()
      const quiet = await start(emptyDir(), { SYNC_PORT: String(port), SYNC_LOG_REQUESTS: 'false' })
      await fetch(`${quiet.url}/__lbheartbeat__`)
      await stop(quiet)
      expect(quiet.output()).not.toContain('"msg":"request"')
      const warnOnly = Bun.spawn([BINARY], { cwd: emptyDir(), env: cleanEnv({ SYNC_PORT: String(port), SYNC_LOG_LEVEL: 'warn' }), stdout: 'pipe' })
      children.push(warnOnly)
      await waitFor(`http://127.0.0.1:${port}/__lbheartbeat__`, Date.now() + 10_000)
      warnOnly.kill('SIGTERM')
      expect(await new Response(warnOnly.stdout).text()).not.toContain('"Severity":6')
    })

    test('help is complete without the README', async () => {
      const help = await run(['--help'])
      for (const needed of ['SYNC_SYNCSTORAGE__DATABASE_URL', 'identity.sync.tokenserver.uri', 'allowed_fxa_uids', 'public_url', '--config', 'doctor', 'log_level']) {
        expect(help.stdout).toContain(needed)
      }
      expect(help.stdout).not.toContain('README')
      const serve = await run(['serve', '--help'])
      for (const flag of ['--port', '--host', '--database-url', '--public-url']) expect(serve.stdout).toContain(flag)
    })

    test('an unknown SYNC_* variable is reported with the closest setting', async () => {
      const started = await start(emptyDir(), { SYNC_PORT: String(await freePort()), SYNC_TOKENSERVER__ALLOWED_EMAIL: 'me@example.com' })
      await stop(started)
      expect(started.output()).toContain('SYNC_TOKENSERVER__ALLOWED_EMAIL is not a setting and is ignored; did you mean SYNC_TOKENSERVER__ALLOWED_EMAILS?')
    })

    test('every error starts with "syncserver: "', async () => {
      const cwd = emptyDir()
      writeFileSync(join(cwd, 'bad.toml'), 'prot = 9\n')
      for (const args of [['frobnicate'], ['serve', '--nope'], ['--config', join(cwd, 'bad.toml')], ['nodes', 'remove', 'https://nowhere.example'], ['healthcheck', '--url', 'http://127.0.0.1:1']]) {
        const result = await run(args, cwd)
        expect({ args, first: result.stderr.split('\n')[0]?.slice(0, 12) }).toEqual({ args, first: 'syncserver: ' })
      }
    })
  })

  describe('start errors name the setting, the database and the fix', () => {
    const refused = async (env: Record<string, string>, cwd = emptyDir()) => {
      const result = await run(['serve'], cwd, { SYNC_PORT: String(await freePort()), ...env })
      expect(result.code).toBe(1)
      return result.stderr
    }

    test('an unopenable SQLite path', async () => {
      const message = await refused({ SYNC_SYNCSTORAGE__DATABASE_URL: 'sqlite:////etc/hostname/sync.db', SYNC_MASTER_SECRET: 'a secret that is long enough to be safe' })
      expect(message).toContain('cannot open the storage database sqlite:////etc/hostname/sync.db = file /etc/hostname/sync.db')
      expect(message).toContain('(setting syncstorage.database_url, SYNC_SYNCSTORAGE__DATABASE_URL)')
      expect(message).toContain('Fix: /etc/hostname cannot be a folder here')
    })

    // A database server that is down may come back: serve starts, answers 503 and says why (issue 14).
    test('nothing accepts connections at the database address: served as 503, the log names the fix', async () => {
      const started = await start(emptyDir(), {
        SYNC_PORT: String(await freePort()),
        SYNC_SYNCSTORAGE__DATABASE_URL: 'mysql://sync:hunter2@127.0.0.1:1/sync',
        SYNC_MASTER_SECRET: 'a secret that is long enough to be safe',
        SYNC_TOKENSERVER__ENABLED: 'false',
      })
      try {
        expect((await fetch(`${started.url}/__heartbeat__`)).status).toBe(503)
        const message = started.output()
        expect(message).toContain('storage database unreachable')
        expect(message).toContain('mysql://sync:***@127.0.0.1:1/sync')
        expect(message).not.toContain('hunter2')
        expect(message).toContain('Fix: nothing accepts connections at 127.0.0.1:1')
      } finally {
        await stop(started)
      }
    })

    test('a master secret too short to be safe stops the start, naming the setting and the fix; nothing is written', async () => {
      const cwd = emptyDir()
      for (const secret of ['x', 'secret0', 'y'.repeat(31)]) {
        const message = await refused({ SYNC_MASTER_SECRET: secret }, cwd)
        expect(message).toContain(`setting master_secret (SYNC_MASTER_SECRET) has ${secret.length} characters, too few to be safe`)
        expect(message).toContain('`openssl rand -hex 32`')
        if (secret.length > 1) expect(message).not.toContain(secret)
      }
      expect(readdirSync(cwd)).toEqual([])
      const stored = emptyDir()
      writeFileSync(join(stored, 'syncserver.db.secret'), 'short\n')
      expect(await refused({}, stored)).toContain(`the master secret in ${stored}/syncserver.db.secret has 5 characters`)
    })

    test('a URL of no accepted form (mysql:/x) is refused before anything opens', async () => {
      const message = await refused({ SYNC_SYNCSTORAGE__DATABASE_URL: 'mysql:/x' })
      expect(message).toContain('invalid setting syncstorage.database_url (SYNC_SYNCSTORAGE__DATABASE_URL)')
    })

    test.skipIf(postgresBackend === undefined)('a missing PostgreSQL database gets a createdb hint; a tokenserver one is named as such', async () => {
      const missing = 'postgres://postgres@127.0.0.1:5432/syncserver_no_such_database'
      const storage = await refused({ SYNC_SYNCSTORAGE__DATABASE_URL: missing, SYNC_MASTER_SECRET: 'a secret that is long enough to be safe' })
      expect(storage).toContain('cannot open the storage database')
      expect(storage).toContain('Fix: create it: createdb -h 127.0.0.1 -U postgres syncserver_no_such_database')
      const tokenserver = await refused({ SYNC_TOKENSERVER__DATABASE_URL: missing })
      expect(tokenserver).toContain('cannot open the tokenserver database')
      expect(tokenserver).toContain('(setting tokenserver.database_url, SYNC_TOKENSERVER__DATABASE_URL)')
    })

    test.skipIf(postgresBackend === undefined)('an unknown PostgreSQL role is named with how to fix it', async () => {
      const message = await refused({ SYNC_SYNCSTORAGE__DATABASE_URL: 'postgres://no_such_role@127.0.0.1:5432/postgres', SYNC_MASTER_SECRET: 'a secret that is long enough to be safe' })
      expect(message).toContain('the user no_such_role cannot sign in')
    })

    test.skipIf(process.getuid?.() !== 0)('a secret file the server may not write: the path and who must own the folder', async () => {
      const cwd = emptyDir()
      const data = join(cwd, 'data')
      mkdirSync(data)
      chmodSync(cwd, 0o755)
      chmodSync(data, 0o755)
      const result = await run(['serve'], data, { SYNC_PORT: String(await freePort()) }, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(`cannot read or create the master secret file ${data}/syncserver.db.secret`)
      expect(result.stderr).toContain(`Fix: let uid 65534 read and write ${data}`)
    })

    test('a busy port is reported before anything is written', async () => {
      const blocker = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
      const busy = blocker.port as number
      const cwd = emptyDir()
      const result = await run(['serve', '--port', String(busy)], cwd)
      await blocker.stop(true)
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(`another program uses port ${busy}`)
      expect(result.stderr).toContain('--port')
      expect(readdirSync(cwd)).toEqual([])
    })

    test('sqlite:///var/… is relative, and the server says so with the absolute path', async () => {
      const cwd = emptyDir()
      const started = await start(cwd, { SYNC_PORT: String(await freePort()), SYNC_SYNCSTORAGE__DATABASE_URL: 'sqlite:///var/lib/sync.db' })
      await stop(started)
      expect(started.output()).toContain(`the database is ${cwd}/var/lib/sync.db`)
      expect(started.output()).toContain('write sqlite:////var/lib/sync.db (four slashes)')
    })
  })

  describe('smaller things', () => {
    test('SIGHUP stops the server gracefully', async () => {
      const started = await start(emptyDir(), { SYNC_PORT: String(await freePort()) })
      started.child.kill('SIGHUP')
      expect(await started.child.exited).toBe(0)
      expect(started.output()).toContain('"signal":"SIGHUP"')
    })

    test.skipIf(postgresBackend === undefined)('migrate and nodes list on PostgreSQL need no master secret', async () => {
      const url = await (postgresBackend as NonNullable<typeof postgresBackend>).freshDatabaseUrl()
      const env = { SYNC_SYNCSTORAGE__DATABASE_URL: url }
      const migrated = await run(['migrate'], emptyDir(), env)
      expect(migrated.stderr).toBe('')
      expect(migrated.code).toBe(0)
      expect((await run(['nodes', 'list'], emptyDir(), env)).code).toBe(0)
    })
  })
})
