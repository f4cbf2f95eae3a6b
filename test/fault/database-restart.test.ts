/**
 * A private PostgreSQL / MariaDB (own data dir, own port: the shared servers are never touched)
 * is stopped under write load and started again; the server is also started while it is down.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { privateMariadb, privateMariadbSkip, privatePostgres, privatePostgresSkip, type PrivateDatabase } from './support/private-db.ts'
import { startServerProcess, type ServerProcess } from './support/server-process.ts'
import { firstWriteWithin, formatStatuses, settle, startWriteLoad, timeUntil } from './support/write-load.ts'

const engines = [
  { name: 'postgres', make: privatePostgres, skip: privatePostgresSkip },
  { name: 'mariadb', make: privateMariadb, skip: privateMariadbSkip },
]

describe.each(engines)('private $name stopped and started', ({ name, make, skip }) => {
  if (skip !== undefined) return test.skip(`${name}: ${skip}`, () => {})
  let database: PrivateDatabase
  let server: ServerProcess

  beforeAll(async () => {
    database = await make()
  }, 60_000)
  afterAll(async () => {
    await server?.kill()
    await database?.remove()
  })

  test('serve starts with the database down and becomes healthy when it starts', async () => {
    await database.start()
    await database.stop()
    server = await startServerProcess({ databaseUrl: database.url, tokenserverDatabaseUrl: database.url })
    expect(await server.waitFor('/__heartbeat__', 503, 15_000)).toBe(true)
    const started = Date.now()
    await database.start()
    const startMs = Date.now() - started
    const recovery = await timeUntil(async () => (await fetch(`${server.origin}/__heartbeat__`)).status === 200, 30_000)
    console.log(`[fault] ${name} down at serve start: heartbeat 503; database start took ${startMs} ms, server healthy ${recovery} ms after it`)
    expect(recovery).toBeGreaterThanOrEqual(0)
  }, 90_000)

  test('stopped under write load: 503 + Retry-After, then writes again; nothing acknowledged lost', async () => {
    const load = startWriteLoad(Array.from({ length: 4 }, () => server.client()))
    await Bun.sleep(700)
    await database.stop()
    await Bun.sleep(1500)
    const down = formatStatuses(load.statuses)
    const heartbeatDown = (await fetch(`${server.origin}/__heartbeat__`)).status
    await database.start()
    const recovery = await firstWriteWithin(server, 30_000)
    const { verdict, figures } = await settle(load, server)
    console.log(
      `[fault] ${name} stop/start: ${figures}; statuses until restart ${down}, overall ${formatStatuses(load.statuses)}; ` +
        `heartbeat while down ${heartbeatDown}; first write ${recovery} ms after the database started`,
    )
    expect(server.exitCode()).toBeNull()
    expect(heartbeatDown).toBe(503)
    expect(load.statuses.get(503) ?? 0).toBeGreaterThan(0)
    expect([...load.statuses.keys()].filter((status) => ![200, 202, 503].includes(status))).toEqual([])
    expect(load.bare503).toBe(0)
    expect(verdict.lost).toEqual([])
    expect(verdict.halfBatches).toEqual([])
    expect(recovery).toBeGreaterThanOrEqual(0)
  }, 90_000)
})
