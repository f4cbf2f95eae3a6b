/**
 * The linux-arm64 release binary, cross-compiled by scripts/release.ts and run under qemu-user:
 * it reports its target, migrates a database, serves, and answers a Hawk-signed write and read.
 * Needs Debian's qemu-user-static and libc6-arm64-cross (scripts/test.sh installs them).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildTarget } from '../../scripts/release.ts'
import { freePorts, startServerProcess, type ServerProcess } from '../support/server-process.ts'
import { SyncClient } from '../support/sync-client.ts'

const QEMU = Bun.which('qemu-aarch64-static') ?? Bun.which('qemu-aarch64')
/** Where libc6-arm64-cross puts the arm64 loader and libc that the glibc binary links against. */
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu'
const available = QEMU !== null && existsSync(join(ARM64_SYSROOT, 'lib/ld-linux-aarch64.so.1'))
if (!available) console.warn('arm64 smoke test skipped: install qemu-user-static and libc6-arm64-cross')

const EMULATED_TIMEOUT_MS = 120_000

describe.skipIf(!available)('linux-arm64 release binary under qemu-user', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncserver-arm64-'))
  let binary = ''
  let server: ServerProcess | undefined
  const emulated = (...args: string[]) => [QEMU as string, '-L', ARM64_SYSROOT, binary, ...args]
  const env = { SYNC_SYNCSTORAGE__DATABASE_URL: `sqlite:///${join(dir, 'sync.db')}`, SYNC_MASTER_SECRET: 'the arm64 smoke test secret, long enough' }

  beforeAll(async () => {
    binary = (await buildTarget('linux-arm64', dir)).file
  }, EMULATED_TIMEOUT_MS)
  afterAll(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  async function run(...args: string[]) {
    const child = Bun.spawn(emulated(...args), { cwd: dir, env: { PATH: Bun.env.PATH ?? '/usr/bin:/bin', ...env }, stdout: 'pipe', stderr: 'pipe' })
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
    return { stdout, stderr, code }
  }

  test('is an aarch64 executable that names its target in --version', async () => {
    const header = new DataView(await Bun.file(binary).slice(0, 20).arrayBuffer())
    // ELF e_machine 183 = EM_AARCH64: the test must not pass by running a host binary.
    expect(header.getUint16(18, true)).toBe(183)
    const version = await run('--version')
    expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^syncserver \d+\.\d+\.\d+ \(linux-arm64\)\n$/) })
  }, EMULATED_TIMEOUT_MS)

  test('migrate creates the schema', async () => {
    const migrate = await run('migrate')
    expect({ code: migrate.code, stderr: migrate.stderr }).toEqual({ code: 0, stderr: '' })
    expect(existsSync(join(dir, 'sync.db'))).toBe(true)
  }, EMULATED_TIMEOUT_MS)

  test('serve answers a Hawk-signed write and read of a record', async () => {
    const [port] = (await freePorts(1)) as [number]
    server = await startServerProcess({
      command: emulated('serve'),
      cwd: dir,
      // One process: a supervisor would re-execute the arm64 binary, which only qemu (not the host) can run.
      env: { ...env, SYNC_HOST: '127.0.0.1', SYNC_PORT: String(port), SYNC_TOKENSERVER__ENABLED: 'false', SYNC_WORKERS: '1' },
      port,
      readyTimeoutMs: EMULATED_TIMEOUT_MS / 2,
    })
    const client = new SyncClient(server.origin, env.SYNC_MASTER_SECRET)
    const put = await client.put('/storage/bookmarks/arm64', { payload: 'written under qemu' })
    expect(put.status).toBe(200)
    const record = await client.json<{ id: string; payload: string }>('GET', '/storage/bookmarks/arm64')
    expect(record).toMatchObject({ id: 'arm64', payload: 'written under qemu' })
    const forged = new SyncClient(server.origin, 'some other secret', client.uid)
    expect((await forged.get('/storage/bookmarks/arm64')).status).toBe(401)
    expect(await server.stop()).toBe(0)
    server = undefined
  }, EMULATED_TIMEOUT_MS)
})
