/**
 * A TCP proxy between the server and its database (storage and tokenserver alike) refuses,
 * resets and stalls connections under write load. The server must survive every fault, answer
 * only 200/202 or 503 + Retry-After meanwhile, lose no acknowledged write, and recover by itself.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { backendNamed } from '../support/backends.ts'
import { startServerProcess, type ServerProcess } from './support/server-process.ts'
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts'
import { firstWriteWithin, formatStatuses, settle, startWriteLoad, timeUntil } from './support/write-load.ts'

const engines = ['postgres', 'mysql'].map((name) => ({ name, backend: backendNamed(name) }))

function throughProxy(url: string, proxy: TcpProxy): string {
  const parsed = new URL(url)
  parsed.host = `127.0.0.1:${proxy.port}`
  return parsed.toString()
}

describe.each(engines)('$name behind a faulty network', ({ name, backend }) => {
  if (backend === undefined) return test.skip(`${name} server not reachable`, () => {})
  let proxy: TcpProxy
  let server: ServerProcess
  let url: string

  beforeAll(async () => {
    url = await backend.freshDatabaseUrl()
    const target = new URL(url)
    proxy = startTcpProxy({ host: target.hostname, port: Number(target.port) })
  })
  afterAll(async () => {
    await server?.kill()
    proxy?.close()
  })

  test('serve starts while the database refuses connections, answers 503, and heals by itself', async () => {
    proxy.refuse()
    const viaProxy = throughProxy(url, proxy)
    server = await startServerProcess({ databaseUrl: viaProxy, tokenserverDatabaseUrl: viaProxy })
    expect(await server.waitFor('/__heartbeat__', 503, 15_000)).toBe(true)
    const refused = await server.client().post('/storage/history', [{ id: 'a', payload: 'x' }])
    expect(refused.status).toBe(503)
    expect(refused.headers.get('retry-after')).not.toBeNull()
    proxy.heal()
    const recovery = await timeUntil(async () => (await fetch(`${server.origin}/__heartbeat__`)).status === 200, 20_000)
    console.log(`[fault] ${name} start while down: heartbeat 503 and POST 503 + Retry-After while refused; healthy ${recovery} ms after the database came back`)
    expect(recovery).toBeGreaterThanOrEqual(0)
    expect(server.exitCode()).toBeNull()
  }, 60_000)

  test.each(['refuse', 'reset', 'stall'] as const)('%s under write load: survives, 503 + Retry-After, nothing acknowledged lost', async (fault) => {
    const load = startWriteLoad(Array.from({ length: 4 }, () => server.client()))
    await Bun.sleep(700)
    proxy[fault]()
    await Bun.sleep(1500)
    const during = formatStatuses(load.statuses)
    proxy.heal()
    const recovery = await firstWriteWithin(server, 20_000)
    const { verdict, figures } = await settle(load, server)
    console.log(
      `[fault] ${name} ${fault}: ${figures}; statuses up to heal ${during}, overall ${formatStatuses(load.statuses)}; ` +
        `first write ${recovery} ms after heal; exit ${server.exitCode() ?? 'none'}`,
    )
    expect(server.exitCode()).toBeNull()
    expect([...load.statuses.keys()].filter((status) => ![200, 202, 503].includes(status))).toEqual([])
    expect(load.bare503).toBe(0)
    expect(verdict.lost).toEqual([])
    expect(verdict.halfBatches).toEqual([])
    expect(verdict.checked).toBeGreaterThan(0)
    expect(recovery).toBeGreaterThanOrEqual(0)
    expect(await server.waitFor('/__heartbeat__', 200, 10_000)).toBe(true)
  }, 60_000)
})
