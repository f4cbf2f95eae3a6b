/**
 * patches/postgres@3.4.9.patch, for the cost of a read of no collection (issue #11): queries
 * issued on the pool in one turn of the event loop join the connection the first of them went
 * to, and share its write and its reply, instead of waking an idle connection each.
 */
import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { backendNamed } from '../support/backends.ts'

const backend = backendNamed('postgres')

;(backend === undefined ? describe.skip : describe)('postgres.js pipelining on the pool', () => {
  const open = async () => postgres(await backend!.freshDatabaseUrl(), { max: 4, onnotice: () => {} })

  /**
   * Runs `count` one-row queries in one turn, and says which connection took each. They have
   * no parameters: a statement with parameters is first described on its own (a connection
   * waiting for that takes no other query), which our statements are only once per connection.
   */
  async function oneTurn(sql: postgres.Sql, count: number, text: (i: number) => string) {
    const connections: number[] = []
    const onexecute = (connection: { id: number }) => (connections.push(connection.id), true)
    const settled = await Promise.allSettled(
      Array.from({ length: count }, (_, i) => sql.unsafe(text(i), [], { prepare: false, onexecute } as postgres.UnsafeQueryOptions).values()),
    )
    return { connections, settled }
  }

  test('queries of one turn share one connection and each gets its own answer', async () => {
    const sql = await open()
    try {
      // Open every connection first: a query joins only one that is already busy.
      await Promise.all(Array.from({ length: 4 }, () => sql`SELECT pg_sleep(0.05)`))
      const { connections, settled } = await oneTurn(sql, 8, (i) => `SELECT ${i} * 2`)
      expect(connections).toEqual(Array(8).fill(connections[0]))
      expect(settled.map((result) => (result.status === 'fulfilled' ? result.value : result.reason))).toEqual(
        Array.from({ length: 8 }, (_, i) => [[i * 2]]),
      )
      // Once the batch is sent, the next turn takes the longest idle connection again.
      const next = await oneTurn(sql, 1, () => 'SELECT 0')
      expect(next.connections).toHaveLength(1)
      expect(next.connections[0]).not.toBe(connections[0])
      expect(next.settled[0]).toEqual({ status: 'fulfilled', value: [[0]] as never })
    } finally {
      await sql.end({ timeout: 1 })
    }
  })

  test('a failing query in a shared batch fails alone', async () => {
    const sql = await open()
    try {
      await Promise.all(Array.from({ length: 4 }, () => sql`SELECT pg_sleep(0.05)`))
      const { connections, settled } = await oneTurn(sql, 5, (i) => `SELECT 1 / (${i} - 2) * 0 + ${i}`)
      expect(connections).toEqual(Array(5).fill(connections[0]))
      expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
      expect((settled[2] as PromiseRejectedResult).reason.code).toBe('22012') // division_by_zero
      expect((settled[4] as PromiseFulfilledResult<unknown>).value).toEqual([[4]])
    } finally {
      await sql.end({ timeout: 1 })
    }
  })
})
