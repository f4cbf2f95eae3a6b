import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { backendNamed } from '../support/backends.ts'
import { emulatorHost, freePort } from '../support/spanner-emulator.ts'
import { SyncClient } from '../support/sync-client.ts'

const ROOT = resolve(import.meta.dir, '../..')
const BINARY = join(ROOT, 'dist/syncserver')
const SECRET = 'the shared secret of both processes'

/**
 * The compiled binary on Spanner, configured as an operator would (SYNC_* only): it prepares a
 * database on a fresh emulator, then two server processes serve it together.
 */
describe.skipIf(backendNamed('spanner') === undefined)('dist/syncserver on the Spanner emulator', () => {
  const url = `spanner://projects/test-project/instances/binary-${process.pid}/databases/sync`
  const children: ReturnType<typeof Bun.spawn>[] = []
  let env: Record<string, string>

  beforeAll(async () => {
    const build = Bun.spawn(['bun', 'run', 'build'], { cwd: ROOT, stdout: 'ignore', stderr: 'pipe' })
    if ((await build.exited) !== 0) throw new Error(`bun run build failed: ${await new Response(build.stderr).text()}`)
    env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      SYNC_SYNCSTORAGE__DATABASE_URL: url,
      SYNC_SYNCSTORAGE__SPANNER_EMULATOR_HOST: await emulatorHost(),
      SYNC_MASTER_SECRET: SECRET,
      SYNC_TOKENSERVER__ENABLED: 'false',
    }
  }, 120_000)
  afterAll(() => children.forEach((child) => child.kill('SIGKILL')))

  async function run(args: string[]) {
    const child = Bun.spawn([BINARY, ...args], { cwd: mkdtempSync(join(tmpdir(), 'syncserver-spanner-bin-')), env, stdout: 'pipe', stderr: 'pipe' })
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
    return { stdout, stderr, code }
  }

  async function serve(): Promise<{ origin: string; child: ReturnType<typeof Bun.spawn> }> {
    const port = await freePort()
    const child = Bun.spawn([BINARY, 'serve'], { env: { ...env, SYNC_PORT: String(port) }, stdout: 'pipe', stderr: 'pipe' })
    children.push(child)
    const origin = `http://127.0.0.1:${port}`
    const deadline = Date.now() + 20_000
    for (;;) {
      try {
        const response = await fetch(`${origin}/__heartbeat__`)
        expect(response.status).toBe(200)
        expect(((await response.json()) as { database: string }).database).toBe('Ok')
        return { origin, child }
      } catch (error) {
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`server did not start: ${String(error)}\n${await new Response(child.stderr).text()}`)
        }
        await Bun.sleep(50)
      }
    }
  }

  test('prepare-spanner creates and prepares the database, and a second run finds it up to date', async () => {
    const first = await run(['prepare-spanner'])
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect(first.stdout).toContain(`created database ${url.slice('spanner://'.length)}`)
    expect(first.stdout).toContain('applied: CREATE TABLE bsos')
    const second = await run(['prepare-spanner'])
    expect(second.code).toBe(0)
    expect(second.stdout).toContain('schema up to date')
  }, 60_000)

  test('two server processes serve one database: writes, batches and new collections cross between them', async () => {
    const [a, b] = [await serve(), await serve()]
    const one = new SyncClient(a.origin, SECRET)
    const other = new SyncClient(b.origin, SECRET, one.uid)

    const put = await one.put('/storage/bookmarks/x', { payload: 'from a', sortindex: 2 })
    expect(put.status).toBe(200)
    expect(await other.json('GET', '/storage/bookmarks/x')).toMatchObject({ id: 'x', payload: 'from a', sortindex: 2 })

    const created = await other.post('/storage/my-engine?batch=true', [{ id: 'r1', payload: 'one' }])
    expect(created.status).toBe(202)
    const { batch } = (await created.json()) as { batch: string }
    expect(batch).toMatch(/^[0-9a-f]{32}$/)
    expect((await one.post(`/storage/my-engine?batch=${batch}&commit=true`, [{ id: 'r2', payload: 'two' }])).status).toBe(200)
    expect(await other.json('GET', '/storage/my-engine?sort=oldest')).toEqual(['r1', 'r2'])
    expect(Object.keys((await one.json('GET', '/info/collections')) as object).sort()).toEqual(['bookmarks', 'my-engine'])

    // Both stop cleanly on SIGTERM.
    for (const { child } of [a, b]) {
      child.kill('SIGTERM')
      expect(await child.exited).toBe(0)
    }
  }, 60_000)
})
