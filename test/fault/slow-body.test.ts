/**
 * Slow uploads: a body that keeps arriving is never cut by the idle timeout (Bun's idle timeout
 * alone would cut it), a body that stalls is cut after the idle timeout, and an upload is bounded
 * in total by `upload_timeout`. Meanwhile many slow clients do not slow normal requests down.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hawkAuthorization } from '../../src/auth/hawk.ts'
import { startServerProcess, type ServerProcess } from './support/server-process.ts'

const IDLE_SECONDS = 2
const UPLOAD_SECONDS = 8

interface Upload {
  /** The status line's code, 0 when none came. */
  status: number
  /** Milliseconds from the first byte sent until the answer (or the close). */
  ms: number
  closed: boolean
}

/** A POST whose body goes out in `chunk`-byte pieces every `everyMs`, pausing `stallMs` halfway. */
function trickle(server: ServerProcess, options: { records: number; chunk: number; everyMs: number; stallMs?: number }): Promise<Upload> {
  const client = server.client()
  const body = JSON.stringify(Array.from({ length: options.records }, (_, i) => ({ id: `r${i}`, payload: 'x'.repeat(60) })))
  const url = client.url('/storage/history')
  const { port, pathname } = new URL(url)
  const head =
    `POST ${pathname} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${hawkAuthorization(client.credentials, { method: 'POST', url })}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`
  return new Promise((resolve) => {
    const started = Date.now()
    const socket: Socket = connect(Number(port), '127.0.0.1')
    let status = 0
    const finish = (closed: boolean) => {
      socket.destroy()
      resolve({ status, ms: Date.now() - started, closed })
    }
    socket.on('data', (data) => {
      status = Number(data.toString('latin1').split(' ')[1])
      finish(false)
    })
    socket.on('close', () => finish(true))
    socket.on('error', () => {})
    socket.write(head)
    void (async () => {
      for (let offset = 0; offset < body.length && !socket.destroyed; offset += options.chunk) {
        if (options.stallMs !== undefined && offset >= body.length / 2 && offset < body.length / 2 + options.chunk) await Bun.sleep(options.stallMs)
        socket.write(body.slice(offset, offset + options.chunk))
        await Bun.sleep(options.everyMs)
      }
    })()
  })
}

describe('slow uploads', () => {
  let server: ServerProcess
  const dir = mkdtempSync(join(tmpdir(), 'syncserver-fault-slow-'))

  beforeAll(async () => {
    server = await startServerProcess({
      databaseUrl: `sqlite:///${join(dir, 'sync.db')}`,
      env: { SYNC_ACTIX_KEEP_ALIVE: String(IDLE_SECONDS), SYNC_UPLOAD_TIMEOUT: String(UPLOAD_SECONDS) },
    })
    expect(await server.waitFor('/__heartbeat__', 200, 15_000)).toBe(true)
  }, 30_000)
  afterAll(async () => {
    await server?.kill()
    rmSync(dir, { recursive: true, force: true })
  })

  test('a moving body outlives the idle timeout; a stalled one and an over-long one are cut', async () => {
    const [moving, stalled, overlong] = await Promise.all([
      trickle(server, { records: 40, chunk: 100, everyMs: 150 }), // ~3.5 KB over ~5 s
      trickle(server, { records: 30, chunk: 150, everyMs: 50, stallMs: 5000 }),
      trickle(server, { records: 90, chunk: 100, everyMs: 150 }), // ~12 s of steady sending
    ])
    console.log(
      `[fault] slow bodies (idle ${IDLE_SECONDS} s, upload_timeout ${UPLOAD_SECONDS} s): moving ${moving.status} after ${moving.ms} ms; ` +
        `stalled ${stalled.status || 'closed'} after ${stalled.ms} ms; over-long ${overlong.status || 'closed'} after ${overlong.ms} ms`,
    )
    expect(moving.status).toBe(200)
    expect(moving.ms).toBeGreaterThan(IDLE_SECONDS * 2000)
    expect(stalled.status).not.toBe(200)
    expect(stalled.ms).toBeLessThan(IDLE_SECONDS * 1000 + 2500)
    expect(overlong.status).not.toBe(200)
    expect(overlong.ms).toBeGreaterThanOrEqual(UPLOAD_SECONDS * 1000 - 100)
    expect(overlong.ms).toBeLessThan(UPLOAD_SECONDS * 1000 + 1500)
  }, 30_000)

  test('200 slow clients do not hold up normal requests', async () => {
    // Default-like timeouts here: on a loaded machine this process alone may pause 200 senders for over a second.
    const roomy = await startServerProcess({ databaseUrl: `sqlite:///${join(dir, 'roomy.db')}`, env: { SYNC_ACTIX_KEEP_ALIVE: '30' } })
    expect(await roomy.waitFor('/__heartbeat__', 200, 15_000)).toBe(true)
    const slow = Array.from({ length: 200 }, () => trickle(roomy, { records: 10, chunk: 80, everyMs: 250 })) // ~2.5 s each
    await Bun.sleep(300)
    const client = roomy.client()
    const latencies: number[] = []
    for (let n = 0; n < 40; n++) {
      const started = performance.now()
      const response = await client.post('/storage/bookmarks', [{ id: `b${n}`, payload: 'x' }])
      latencies.push(performance.now() - started)
      expect(response.status).toBe(200)
    }
    const finished = await Promise.all(slow)
    await roomy.kill()
    latencies.sort((a, b) => a - b)
    const ok = finished.filter((upload) => upload.status === 200).length
    console.log(
      `[fault] 200 slow clients: normal POST p50 ${latencies[20]!.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms; slow uploads answered 200: ${ok}/200`,
    )
    expect(ok).toBe(200)
  }, 60_000)
})
