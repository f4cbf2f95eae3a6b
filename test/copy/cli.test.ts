import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { sqlBackends } from '../support/backends.ts'
import { startTestServer } from '../support/server.ts'
import { seedTokenserver, writeUser } from './copy-support.ts'

const main = join(import.meta.dir, '../../src/main.ts')

async function runCopy(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn(['bun', main, 'copy', ...args], { stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, stdout, stderr }
}

const target = sqlBackends.at(-1)!

test(`syncserver copy (CLI, sqlite → ${target.name}): progress, verification, refusal of a non-empty target, --catch-up`, async () => {
  const sourceUrl = await sqlBackends[0]!.freshDatabaseUrl()
  const source = await startTestServer(sourceUrl)
  try {
    const users = await seedTokenserver(sourceUrl, source.url)
    for (const user of users) await writeUser(source.client(user.uid), 'custom')
  } finally {
    await source.stop()
  }
  const targetUrl = await target.freshDatabaseUrl()

  const first = await runCopy('--from', sourceUrl, '--to', targetUrl, '--chunk', '7')
  expect(first.stderr).toMatch(/copy: 3 users, 318\/318 records, [\d.]+ MB, \d+ records\/s, [\d.]+ MB\/s, ETA/)
  expect(first.stdout).toContain('copied 3 users, 318 records')
  expect(first.stdout).toMatch(/verified 3 users, \d+ collections, 318 records \(checksum [0-9a-f]{16}\): identical/)
  expect(first.code).toBe(0)

  const again = await runCopy('--from', sourceUrl, '--to', targetUrl)
  expect(again.code).toBe(1)
  expect(again.stderr).toContain('pass --resume')

  const catchUp = await runCopy('--from', sourceUrl, '--to', targetUrl, '--catch-up')
  expect(catchUp.stdout).toContain('copied 3 users, 0 records')
  expect(catchUp.code).toBe(0)

  const usage = await runCopy('--from', sourceUrl)
  expect(usage.code).toBe(2)
}, 60_000)
