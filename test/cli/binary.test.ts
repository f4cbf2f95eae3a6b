import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BINARY, buildBinary, cleanEnv, emptyDir, freePort, run, waitFor } from '../support/binary.ts'
import { SyncClient } from '../support/sync-client.ts'

describe('compiled binary dist/syncserver', () => {
  const children: ReturnType<typeof Bun.spawn>[] = []
  // Built here, so the smoke test always runs the binary of the code under test.
  beforeAll(async () => {
    await buildBinary()
    expect(existsSync(BINARY)).toBe(true)
  }, 120_000)
  afterAll(() => children.forEach((child) => child.kill('SIGKILL')))

  test('runs from an empty folder with no configuration: SQLite file, secret kept beside it, heartbeat 200', async () => {
    const cwd = emptyDir()
    const port = await freePort()
    // The port is the one thing a parallel test run must not share; everything else is default.
    const child = Bun.spawn([BINARY], { cwd, env: cleanEnv({ SYNC_PORT: String(port) }), stdout: 'pipe', stderr: 'pipe' })
    children.push(child)
    const heartbeat = await waitFor(`http://127.0.0.1:${port}/__heartbeat__`, Date.now() + 10_000)
    expect(heartbeat.status).toBe(200)
    expect(((await heartbeat.json()) as { database: string }).database).toBe('Ok')
    expect(readdirSync(cwd).sort()).toContain('syncserver.db')
    expect(readdirSync(cwd)).toContain('syncserver.db.secret')
    child.kill('SIGTERM')
    expect(await child.exited).toBe(0)
    const output = await new Response(child.stdout).text()
    expect(output).toContain('shutting down')
    // The heartbeat's line may still be gathering (logger.ts) when the signal comes: it must be
    // out by the time the server has exited.
    expect(output).toContain('"path":"/__heartbeat__","status":200')
    expect(output).not.toContain(await Bun.file(join(cwd, 'syncserver.db.secret')).text().then((s) => s.trim()))
  })

  test('keeps serving after the reader of its log goes away (EPIPE on stdout)', async () => {
    const port = await freePort()
    const child = Bun.spawn([BINARY, 'serve'], { cwd: emptyDir(), env: cleanEnv({ SYNC_PORT: String(port) }), stdout: 'pipe', stderr: 'pipe' })
    children.push(child)
    const log = child.stdout.getReader()
    await log.read()
    // Closes the read end of the pipe, as a log shipper that exits would.
    await log.cancel()
    expect((await waitFor(`http://127.0.0.1:${port}/__lbheartbeat__`, Date.now() + 10_000)).status).toBe(200)
    // Every request logs a line; the writes after the pipe closed must not take the server down.
    for (let i = 0; i < 20; i++) {
      expect((await fetch(`http://127.0.0.1:${port}/__lbheartbeat__`)).status).toBe(200)
      await Bun.sleep(10)
    }
    expect(child.exitCode).toBeNull()
    child.kill('SIGTERM')
    expect(await child.exited).toBe(0)
  })

  test('compiles nothing while it starts, and JIT-compiles requests once serving (--compile-jit-policy, serve.ts)', async () => {
    const port = await freePort()
    const log = join(emptyDir(), 'jsc.log')
    // JavaScriptCore writes a line "Optimized … using Baseline|DFG" for each compile it makes.
    const env = cleanEnv({ SYNC_PORT: String(port), SYNC_WORKERS: '1', BUN_JSC_reportCompileTimes: '1' })
    const child = Bun.spawn([BINARY, 'serve'], { cwd: emptyDir(), env, stdout: 'ignore', stderr: Bun.file(log) })
    children.push(child)
    const heartbeat = `http://127.0.0.1:${port}/__lbheartbeat__`
    expect((await waitFor(heartbeat, Date.now() + 10_000)).status).toBe(200)
    // Past the moment the server gives the JIT its normal policy back; nothing ran in between.
    await Bun.sleep(1_000)
    const compiles = async () => ((await Bun.file(log).text()).match(/^Optimized /gm) ?? []).length
    expect(await compiles()).toBe(0)
    // A few hundred requests make their handlers hot under the normal policy (not under the start-up one).
    for (let i = 0; i < 300; i++) expect((await fetch(heartbeat)).status).toBe(200)
    await Bun.sleep(200)
    expect(await compiles()).toBeGreaterThan(0)
    child.kill('SIGTERM')
    expect(await child.exited).toBe(0)
  })

  test('--version prints the version and --help lists the commands', async () => {
    const version = await run(['--version'])
    expect(version.code).toBe(0)
    expect(version.stdout.trim()).toMatch(new RegExp(`^syncserver \\d+\\.\\d+\\.\\d+ \\(${process.platform}-${process.arch}\\)$`))
    const help = await run(['--help'])
    expect(help.code).toBe(0)
    for (const command of ['serve', 'migrate']) expect(help.stdout).toContain(command)
  })

  test('an unknown command or option prints usage and exits 2', async () => {
    for (const args of [['frobnicate'], ['--frobnicate'], ['serve', '--nope']]) {
      const result = await run(args)
      expect({ args, code: result.code }).toEqual({ args, code: 2 })
      expect(result.stderr).toContain('usage: syncserver')
    }
  })

  test('a bad setting stops the server with one message naming the setting and its form', async () => {
    const cwd = emptyDir()
    writeFileSync(join(cwd, 'bad.toml'), '[syncstorage.limits]\nmax_post_bytes = "lots"\n')
    const result = await run(['serve', '--config', join(cwd, 'bad.toml')], cwd)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('syncstorage.limits.max_post_bytes')
    expect(result.stderr).toContain('SYNC_SYNCSTORAGE__LIMITS__MAX_POST_BYTES')
    expect(result.stderr).toContain('positive integer')
  })

  test('migrate applies the schema once and then reports it up to date', async () => {
    const cwd = emptyDir()
    const first = await run(['migrate'], cwd)
    expect(first.code).toBe(0)
    expect(first.stdout).toContain('applied')
    const second = await run(['migrate'], cwd)
    expect(second.code).toBe(0)
    expect(second.stdout).toContain('up to date')
  })

  test('two processes on one SQLite file serve one user alternately, a batch spanning both', async () => {
    const cwd = emptyDir()
    const secret = 'the secret of two processes, long enough'
    const ports = [await freePort(), await freePort()]
    for (const port of ports) {
      const env = cleanEnv({ SYNC_PORT: String(port), SYNC_MASTER_SECRET: secret, SYNC_SYNCSTORAGE__DATABASE_URL: 'sqlite:///shared.db' })
      children.push(Bun.spawn([BINARY], { cwd, env, stdout: 'ignore', stderr: 'ignore' }))
      await waitFor(`http://127.0.0.1:${port}/__lbheartbeat__`, Date.now() + 10_000)
    }
    const [a, b] = ports.map((port) => new SyncClient(`http://127.0.0.1:${port}`, secret, 77)) as [SyncClient, SyncClient]
    const created = await a.post('/storage/history?batch=true', [{ id: 'r1', payload: 'one' }])
    const { batch } = (await created.json()) as { batch: string }
    expect((await b.post(`/storage/history?batch=${batch}`, [{ id: 'r2', payload: 'two' }])).status).toBe(202)
    expect((await a.post(`/storage/history?batch=${batch}&commit=true`, [])).status).toBe(200)
    expect(await b.json('GET', '/storage/history?sort=oldest')).toEqual(['r1', 'r2'])
    const writes = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).put(`/storage/tabs/t${i}`, { payload: 'x' })))
    expect(writes.map((response) => response.status === 200 || response.status === 503)).not.toContain(false)
    const written = writes.filter((response) => response.status === 200).length
    expect(((await a.json('GET', '/storage/tabs')) as string[]).length).toBe(written)
  })
})
