/**
 * actix_keep_alive on idle keep-alive connections (issue 12, finding 7), measured over raw
 * sockets: from the last byte of a response until the server closes the connection.
 *
 * Bun's connection timer moves in 4 s steps on a grid of its own, so the close cannot come at
 * the configured second; what the server promises (README, docs/configuration.md) is the bound:
 * never before `actix_keep_alive`, and at most 4·⌈n/4⌉ + 4 s after the last response. Connections
 * start a second apart so that together they meet the grid at every phase.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hawkAuthorization } from '../../src/auth/hawk.ts'
import { startTestServer, type TestServer } from '../support/server.ts'

/** Slack for a loaded machine: timers and the close reach this process a little late. */
const SLACK_SECONDS = 0.75

/** Longer than any allowed close here: a connection still open then counts as never closed. */
const GIVE_UP_MS = 16_000

/** Sends `request`, waits for a complete response, then times how long the idle connection stays open. */
function idleCloseSeconds(url: string, request: string, startAfterMs: number): Promise<number> {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    setTimeout(() => {
      const socket = connect(Number(port), '127.0.0.1')
      let received = ''
      let answeredAt = 0
      socket.on('data', (data) => {
        received += data.toString('latin1')
        const [head, body = ''] = received.split('\r\n\r\n')
        const length = Number(/content-length: (\d+)/i.exec(head!)?.[1] ?? 0)
        if (body.length >= length) answeredAt = performance.now()
      })
      socket.on('close', () => (answeredAt === 0 ? reject(new Error(`closed before a whole response: ${received}`)) : resolve((performance.now() - answeredAt) / 1000)))
      socket.on('error', () => {})
      setTimeout(() => {
        resolve(Infinity)
        socket.destroy()
      }, GIVE_UP_MS)
      socket.write(request)
    }, startAfterMs)
  })
}

const get = (url: string) => `GET /__heartbeat__ HTTP/1.1\r\nHost: ${new URL(url).host}\r\n\r\n`

/** A Sync upload: its body goes through the paced reader, which lifts the timer while it arrives. */
function post(server: TestServer): string {
  const client = server.client()
  const url = client.url('/storage/history')
  const body = JSON.stringify([{ id: 'a', payload: 'x' }])
  const authorization = hawkAuthorization(client.credentials, { method: 'POST', url })
  return (
    `POST ${new URL(url).pathname} HTTP/1.1\r\nHost: ${new URL(url).host}\r\nAuthorization: ${authorization}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
  )
}

describe('idle keep-alive connections close after actix_keep_alive, never before', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncserver-keep-alive-'))
  const servers = new Map<number, TestServer>()

  beforeAll(async () => {
    for (const seconds of [2, 5]) {
      servers.set(seconds, await startTestServer(`sqlite:///${join(dir, `${seconds}.db`)}`, { actix_keep_alive: seconds }))
    }
  })
  afterAll(async () => {
    await Promise.all([...servers.values()].map((server) => server.stop()))
    rmSync(dir, { recursive: true, force: true })
  })

  test('after GETs and after uploads, at every phase of the timer', async () => {
    const starts = [0, 1000, 2100, 3200]
    const measured = await Promise.all(
      [...servers].map(async ([seconds, server]) => {
        const [gets, posts] = await Promise.all([
          Promise.all(starts.map((start) => idleCloseSeconds(server.url, get(server.url), start))),
          Promise.all(starts.map((start) => idleCloseSeconds(server.url, post(server), start))),
        ])
        return { seconds, get: gets, post: posts }
      }),
    )
    for (const { seconds, get, post } of measured) {
      const latest = 4 * Math.ceil(seconds / 4) + 4 + SLACK_SECONDS
      console.log(
        `[keep-alive] actix_keep_alive=${seconds}: closed after GET ${get.map((s) => s.toFixed(2)).join(', ')} s; ` +
          `after POST ${post.map((s) => s.toFixed(2)).join(', ')} s (allowed ${seconds}–${latest} s)`,
      )
      for (const closedAfter of [...get, ...post]) {
        expect(closedAfter).toBeGreaterThanOrEqual(seconds)
        expect(closedAfter).toBeLessThanOrEqual(latest)
      }
    }
  }, 30_000)
})
