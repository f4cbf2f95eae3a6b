import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { backendNamed, sqlBackends } from '../support/backends.ts'
import { startTestServer } from '../support/server.ts'
import { emulatorHost } from '../support/spanner-emulator.ts'
import { clientOf, seedTokenserver, writeUser } from './copy-support.ts'

const main = join(import.meta.dir, '../../src/main.ts')

async function runCopy(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn(['bun', main, 'copy', ...args], { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, ...env } })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, stdout, stderr }
}

const target = sqlBackends.at(-1)

// Without a SQL engine among SYNCSERVER_TEST_BACKENDS there is no pair to copy between.
test.skipIf(target === undefined)(`syncserver copy (CLI, sqlite → ${target?.name}): progress, verification, refusal of a non-empty target, --catch-up`, async () => {
  const sourceUrl = await sqlBackends[0]!.freshDatabaseUrl()
  const source = await startTestServer(sourceUrl)
  try {
    const users = await seedTokenserver(sourceUrl, source.url)
    for (const user of users) await writeUser(source.client(user.uid), 'custom')
  } finally {
    await source.stop()
  }
  const targetUrl = await target!.freshDatabaseUrl()

  const first = await runCopy(['--from', sourceUrl, '--to', targetUrl, '--chunk', '7'])
  expect(first.stderr).toMatch(/copy: 3 users, 318\/318 records, [\d.]+ MB, \d+ records\/s, [\d.]+ MB\/s, ETA/)
  expect(first.stdout).toContain('copied 3 users, 318 records')
  expect(first.stdout).toMatch(/verified 3 users, \d+ collections, 318 records \(checksum [0-9a-f]{16}\): identical/)
  expect(first.code).toBe(0)

  const again = await runCopy(['--from', sourceUrl, '--to', targetUrl])
  expect(again.code).toBe(1)
  expect(again.stderr).toContain('pass --resume')

  const catchUp = await runCopy(['--from', sourceUrl, '--to', targetUrl, '--catch-up'])
  expect(catchUp.stdout).toContain('copied 3 users, 0 records')
  expect(catchUp.code).toBe(0)

  const usage = await runCopy(['--from', sourceUrl])
  expect(usage.code).toBe(2)
}, 60_000)

const spanner = backendNamed('spanner')

describe.skipIf(spanner === undefined || target === undefined)('syncserver copy (CLI) with Spanner', () => {
  test('sqlite → spanner: the Spanner side names its tokenserver database; unmapped users are listed and exit 3 unless --allow-unmapped', async () => {
    const sourceUrl = await sqlBackends[0]!.freshDatabaseUrl()
    const source = await startTestServer(sourceUrl)
    try {
      const users = await seedTokenserver(sourceUrl, source.url)
      for (const user of users) await writeUser(clientOf(source, user), 'custom')
      await source.client(424_242).put('/storage/prefs/orphan', { payload: 'no tokenserver row' })
    } finally {
      await source.stop()
    }
    const targetUrl = await spanner!.freshDatabaseUrl()
    const tokensUrl = await spanner!.tokenserverDatabaseUrl!()
    const env = { SYNC_SYNCSTORAGE__SPANNER_EMULATOR_HOST: await emulatorHost() }

    const usage = await runCopy(['--from', sourceUrl, '--to', targetUrl], env)
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('--to-tokenserver')

    const first = await runCopy(['--from', sourceUrl, '--to', targetUrl, '--to-tokenserver', tokensUrl, '--chunk', '7'], env)
    expect(first.stdout).toContain('copied 4 users, 318 records')
    expect(first.stdout).toContain('NOT COPIED: the storage of 1 users')
    expect(first.stdout).toContain('uid 424242: no tokenserver user has this uid')
    expect(first.stdout).toMatch(/verified 3 users, \d+ collections, 318 records \(checksum [0-9a-f]{16}\): identical; 1 unmapped users not compared/)
    expect(first.code).toBe(3)

    const catchUp = await runCopy(['--from', sourceUrl, '--to', targetUrl, '--to-tokenserver', tokensUrl, '--catch-up', '--allow-unmapped'], env)
    expect(catchUp.stdout).toContain('NOT COPIED: the storage of 1 users')
    expect(catchUp.code).toBe(0)
  }, 120_000)
})
