/**
 * `syncserver backup` while a server in another process takes writes: the copy must open, pass
 * `PRAGMA integrity_check`, hold every record acknowledged before the backup began and no part
 * of a POST without the rest.
 */
import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { freePorts, startServerProcess, type ServerProcess } from '../support/server-process.ts'
import { SyncClient } from '../support/sync-client.ts'

const MAIN = resolve(import.meta.dir, '../../src/main.ts')
const WRITERS = 4
const RECORDS_PER_POST = 50
const PAYLOAD = 'x'.repeat(400)
const LOAD_BEFORE_BACKUP_MS = 2_000

/** CPU seconds a process has used so far (Linux /proc; 0 elsewhere). */
function cpuSeconds(pid: number): number {
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : ''
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100
}

async function syncserver(args: string[], env: Record<string, string>, cwd: string) {
  const child = Bun.spawn([process.execPath, MAIN, ...args], { cwd, env: { PATH: Bun.env.PATH ?? '/usr/bin:/bin', ...env }, stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { stdout, stderr, code }
}

interface AcknowledgedPost {
  uid: number
  ids: string[]
  at: number
}

/** Writers that POST batches of records in a loop and log what the server acknowledged. */
function startWriters(origin: string, secret: string) {
  const acknowledged: AcknowledgedPost[] = []
  const failures: string[] = []
  let running = true
  let posts = 0
  const loop = async (client: SyncClient) => {
    while (running) {
      const post = posts++
      const ids = Array.from({ length: RECORDS_PER_POST }, (_, i) => `p${post}-${i}`)
      const response = await client.post('/storage/history', ids.map((id) => ({ id, payload: PAYLOAD })))
      const body = (await response.json()) as { success?: string[] }
      if (response.status !== 200 || body.success?.length !== ids.length) failures.push(`${response.status} ${JSON.stringify(body).slice(0, 200)}`)
      else acknowledged.push({ uid: client.uid, ids, at: performance.now() })
    }
  }
  const done = Promise.all(Array.from({ length: WRITERS }, () => loop(new SyncClient(origin, secret))))
  return {
    acknowledged,
    failures,
    stop: async () => {
      running = false
      await done
    },
  }
}

describe('syncserver backup (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncserver-backup-'))
  const env = { SYNC_SYNCSTORAGE__DATABASE_URL: `sqlite:///${join(dir, 'sync.db')}` }
  let server: ServerProcess | undefined
  afterAll(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('copies the database and its secret while another process writes', async () => {
    const [port] = (await freePorts(1)) as [number]
    server = await startServerProcess({
      command: [process.execPath, MAIN, 'serve'],
      cwd: dir,
      env: { ...env, SYNC_HOST: '127.0.0.1', SYNC_PORT: String(port), SYNC_TOKENSERVER__ENABLED: 'false' },
      port,
    })
    const secret = (await Bun.file(join(dir, 'sync.db.secret')).text()).trim()
    const cpuAtStart = { server: cpuSeconds(server.child.pid), writers: cpuSeconds(process.pid), at: performance.now() }
    const writers = startWriters(server.origin, secret)
    await Bun.sleep(LOAD_BEFORE_BACKUP_MS)

    const backupStarted = performance.now()
    const ackedBefore = writers.acknowledged.filter((post) => post.at < backupStarted)
    const sizeAtStart = statSync(join(dir, 'sync.db')).size + statSync(join(dir, 'sync.db-wal')).size
    const backup = await syncserver(['backup', join(dir, 'copy.db')], env, dir)
    const backupEnded = performance.now()
    await Bun.sleep(200)
    await writers.stop()
    const loadSeconds = (performance.now() - cpuAtStart.at) / 1000
    const cpu = (pid: number, start: number) => `${(((cpuSeconds(pid) - start) / loadSeconds) * 100).toFixed(0)}%`
    const cpuLine = `CPU over the load: server ${cpu(server.child.pid, cpuAtStart.server)}, load generator ${cpu(process.pid, cpuAtStart.writers)} of one core`
    expect({ code: backup.code, stderr: backup.stderr }).toEqual({ code: 0, stderr: '' })
    expect(backup.stdout).toContain('integrity_check ok')
    expect(writers.failures).toEqual([])

    const copy = new Database(join(dir, 'copy.db'), { readonly: true })
    const integrity = copy.query<{ integrity_check: string }, []>('PRAGMA integrity_check').all()
    const rows = copy.query<{ userid: number; id: string }, []>('SELECT userid, id FROM bso').all()
    copy.close()
    expect(integrity).toEqual([{ integrity_check: 'ok' }])

    const inCopy = new Set(rows.map((row) => `${row.userid}/${row.id}`))
    const missing = ackedBefore.flatMap((post) => post.ids.filter((id) => !inCopy.has(`${post.uid}/${id}`)))
    expect(missing).toEqual([])
    // One POST is one transaction: the snapshot holds all of its records or none of them.
    const partialPosts = writers.acknowledged.filter((post) => {
      const present = post.ids.filter((id) => inCopy.has(`${post.uid}/${id}`)).length
      return present !== 0 && present !== post.ids.length
    })
    expect(partialPosts).toEqual([])
    expect(await Bun.file(join(dir, 'copy.db.secret')).text()).toBe(`${secret}\n`)

    const ackedDuring = writers.acknowledged.filter((post) => post.at >= backupStarted && post.at <= backupEnded)
    const seconds = (backupEnded - backupStarted) / 1000
    console.log(
      `backup under load: database ${(sizeAtStart / 1e6).toFixed(1)} MB, ${ackedBefore.length * RECORDS_PER_POST} records ` +
        `acknowledged before it began, all ${ackedBefore.length * RECORDS_PER_POST} in the copy (which holds ${rows.length}); ` +
        `backup took ${seconds.toFixed(2)} s (process start included) while ${ackedDuring.length} POSTs ` +
        `(${ackedDuring.length * RECORDS_PER_POST} records) were acknowledged; integrity_check ok; ${cpuLine}`,
    )
    // The writers were not stopped by the backup: the server took POSTs while it ran.
    expect(ackedDuring.length).toBeGreaterThan(0)
  }, 60_000)

  test('includes commits still only in the write-ahead log of another process', async () => {
    // The writer turns automatic checkpoints off and stays open, so its rows are nowhere but in
    // sync.db-wal: a plain file copy of the database would hold none of them.
    const database = join(dir, 'wal-only.db')
    const writer = Bun.spawn(
      [process.execPath, '-e', `
        const db = new (require('bun:sqlite').Database)(${JSON.stringify(database)})
        db.run('PRAGMA journal_mode = WAL'); db.run('CREATE TABLE t (n INTEGER)')
        db.run('PRAGMA wal_autocheckpoint = 0')
        for (let i = 0; i < 100; i++) db.run('INSERT INTO t VALUES (?)', [i])
        console.log('committed'); await new Response(Bun.stdin.stream()).text()`],
      { stdin: 'pipe', stdout: 'pipe' },
    )
    const reader = writer.stdout.getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('committed\n')
    const backup = await syncserver(['backup', join(dir, 'wal-only-copy.db')], { SYNC_SYNCSTORAGE__DATABASE_URL: `sqlite:///${database}` }, dir)
    writer.stdin.end()
    await writer.exited
    expect(backup.code).toBe(0)
    const copy = new Database(join(dir, 'wal-only-copy.db'), { readonly: true })
    expect(copy.query('SELECT count(*) AS n FROM t').get()).toEqual({ n: 100 })
    copy.close()
  })

  test('never overwrites an existing file, and names the missing database', async () => {
    const existing = await syncserver(['backup', join(dir, 'copy.db')], env, dir)
    expect(existing.code).toBe(1)
    expect(existing.stderr).toContain('already exists')
    const absent = await syncserver(['backup', join(dir, 'other.db')], { SYNC_SYNCSTORAGE__DATABASE_URL: `sqlite:///${join(dir, 'absent.db')}` }, dir)
    expect(absent.code).toBe(1)
    expect(absent.stderr).toContain(`no SQLite database at ${join(dir, 'absent.db')}`)
    expect(existsSync(join(dir, 'other.db'))).toBe(false)
  })

  test('refuses PostgreSQL, MySQL and Spanner and names the tool to use instead', async () => {
    const cases = [
      ['postgres://sync@127.0.0.1:5432/syncstorage', 'pg_dump'],
      ['mysql://sync@127.0.0.1:3306/syncstorage', 'mariadb-dump'],
      ['spanner://projects/p/instances/i/databases/d', 'gcloud spanner backups'],
    ] as const
    for (const [url, tool] of cases) {
      const result = await syncserver(['backup', join(dir, 'never.db')], { SYNC_SYNCSTORAGE__DATABASE_URL: url, SYNC_MASTER_SECRET: 's'.repeat(32) }, dir)
      expect({ url, code: result.code }).toEqual({ url, code: 1 })
      expect(result.stderr).toContain(tool)
    }
    expect(existsSync(join(dir, 'never.db'))).toBe(false)
  })
})
