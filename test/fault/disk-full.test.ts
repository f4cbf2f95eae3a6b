/**
 * The SQLite file on a small tmpfs that fills up: writes answer 503 + Retry-After (a batch append
 * 202 with every id failed as `db error`, storage-api.md §13.4), the heartbeat fails, the log
 * says "disk full", reads keep working, and once space returns writes work again with nothing
 * acknowledged lost.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServerProcess, type ServerProcess } from './support/server-process.ts'

async function mountTmpfs(dir: string, size: string): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'tmpfs needs Linux'
  const child = Bun.spawn(['mount', '-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdout: 'ignore', stderr: 'pipe' })
  const [code, error] = await Promise.all([child.exited, new Response(child.stderr).text()])
  return code === 0 ? undefined : `cannot mount a tmpfs here (${error.trim() || `exit ${code}`})`
}

const dir = mkdtempSync(join(tmpdir(), 'syncserver-fault-full-'))
const skip = await mountTmpfs(dir, '3m')

describe('sqlite on a full disk', () => {
  if (skip !== undefined) return test.skip(skip, () => {})
  let server: ServerProcess
  const ballast = join(dir, 'ballast')

  beforeAll(async () => {
    writeFileSync(ballast, Buffer.alloc(1024 * 1024))
    server = await startServerProcess({ databaseUrl: `sqlite:///${join(dir, 'sync.db')}` })
    expect(await server.waitFor('/__heartbeat__', 200, 15_000)).toBe(true)
  }, 30_000)
  afterAll(async () => {
    await server?.kill()
    Bun.spawnSync(['umount', '-l', dir])
    rmSync(dir, { recursive: true, force: true })
  })

  test('writes 503 + Retry-After, batch append 202 db error, heartbeat fails, reads work, recovers', async () => {
    const client = server.client()
    const batch = ((await (await client.post('/storage/tabs?batch=true', [{ id: 'staged', payload: 'x' }])).json()) as { batch: string }).batch
    const acknowledged: string[] = []
    const payload = 'x'.repeat(100_000)
    let full: Response | undefined
    for (let n = 0; n < 100 && full === undefined; n++) {
      const response = await client.post('/storage/history', [{ id: `r${n}`, payload }])
      if (response.status === 200) acknowledged.push(`r${n}`)
      else full = response
    }
    expect(full?.status).toBe(503)
    expect(full?.headers.get('retry-after')).not.toBeNull()
    const append = await client.post(`/storage/tabs?batch=${batch}`, [{ id: 'more', payload: payload }])
    const appendBody = (await append.json()) as { success: string[]; failed: Record<string, string> }
    const heartbeat = await fetch(`${server.origin}/__heartbeat__`)
    const read = await client.get('/storage/history?full=1')
    const readCount = read.status === 200 ? ((await read.json()) as unknown[]).length : -1

    rmSync(ballast)
    const recovered = await client.post('/storage/history', [{ id: 'after', payload: 'small' }])
    const healthyAgain = await server.waitFor('/__heartbeat__', 200, 5000)
    const stored = (await client.json<{ id: string }[]>('GET', '/storage/history?full=1')).map((bso) => bso.id)
    const lost = acknowledged.filter((id) => !stored.includes(id))
    console.log(
      `[fault] sqlite disk full: ${acknowledged.length} writes acknowledged before full, checked ${acknowledged.length}, lost ${lost.length}; ` +
        `write ${full?.status} Retry-After ${full?.headers.get('retry-after')}; batch append ${append.status} ${JSON.stringify(appendBody.failed)}; ` +
        `heartbeat ${heartbeat.status}; read ${read.status} (${readCount} records); after freeing space: write ${recovered.status}, heartbeat healthy ${healthyAgain}`,
    )
    expect(append.status).toBe(202)
    expect(appendBody.success).toEqual([])
    expect(appendBody.failed).toEqual({ more: 'db error' })
    expect(heartbeat.status).toBe(503)
    expect(read.status).toBe(200)
    expect(await server.waitForOutput('database write failed: disk full', 2000)).toBe(true)
    expect(recovered.status).toBe(200)
    expect(healthyAgain).toBe(true)
    expect(lost).toEqual([])
    expect(server.exitCode()).toBeNull()
  }, 60_000)
})
