import { beforeAll, describe, expect, test } from 'bun:test'
import net from 'node:net'
import postgres from 'postgres'
import { backendNamed, SETUP_TIMEOUT_MS } from '../support/backends.ts'

const backend = backendNamed('postgres')

/**
 * postgres.js (patched, patches/postgres@3.4.9.patch) reconnecting a connection that closed:
 * nothing of the closed socket may reach the next one. Unpatched, the PostgreSQL engine suite's
 * "killed while idle" tests failed now and then on a loaded machine: a read's retry hung for
 * connect_timeout and the request failed.
 */
;(backend === undefined ? describe.skip : describe)('postgres.js reconnecting a closed connection', () => {
  let url: string
  beforeAll(async () => {
    url = await backend!.freshDatabaseUrl()
  }, SETUP_TIMEOUT_MS)

  test('a query sent as its socket closes fails alone; the next one connects at once', async () => {
    let socket: net.Socket | undefined
    const { hostname, port } = new URL(url)
    const sql = postgres(url, {
      max: 1,
      connect_timeout: 3,
      onnotice: () => {},
      // Our own sockets, to close one in the same turn as a query is written to it (postgres.js
      // takes a `socket` function, though its types do not say so).
      ...{
        socket: () =>
          new Promise<net.Socket>((resolve, reject) => {
            const opened = net.connect(Number(port), hostname, () => resolve(opened))
            opened.once('error', reject)
            socket = opened
          }),
      },
    })
    try {
      await sql`SELECT 1`
      const lost = sql`SELECT 2`.catch((error: { code?: string }) => error.code)
      socket?.destroy()
      expect(await lost).toBe('CONNECTION_CLOSED')
      // Unpatched, its startup message was buffered behind the lost query's and never sent.
      expect([...(await sql`SELECT 3 AS three`)]).toEqual([{ three: 3 }])
    } finally {
      await sql.end({ timeout: 1 })
    }
  })

  test("a connection closing while it fetches the array types (right after connecting) leaves no unhandled rejection, which would end a worker", async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (error: unknown) => void unhandled.push(error)
    process.on('unhandledRejection', onUnhandled)
    const closed = Promise.withResolvers<void>()
    const { hostname, port } = new URL(url)
    const sql = postgres(url, {
      max: 1,
      onnotice: () => {},
      onclose: () => closed.resolve(),
      ...{
        socket: () =>
          new Promise<net.Socket>((resolve, reject) => {
            const opened = net.connect(Number(port), hostname, () => resolve(opened))
            opened.once('error', reject)
            // Closed as the types query goes out, as by a database restart at that moment.
            const write = opened.write.bind(opened) as (chunk: Uint8Array) => boolean
            Object.assign(opened, {
              write: (chunk: Uint8Array) => {
                const written = write(chunk)
                if (Buffer.from(chunk).includes('typarray')) opened.destroy()
                return written
              },
            })
          }),
      },
    })
    try {
      // A reservation is the first request on a new connection, as in the pool's checkout.
      void sql.reserve().catch(() => {})
      await closed.promise
      await Bun.sleep(20)
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
      await sql.end({ timeout: 0 })
    }
  })
})
