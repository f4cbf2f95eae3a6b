/**
 * patches/postgres@3.4.9.patch reads data rows where they lie in the received chunk instead of
 * cutting each message out of it first (issue #11: two Buffer slices per row of every result):
 * rows that straddle chunks, NULLs, multi-byte text, arrays and objects still come out whole.
 */
import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { backendNamed } from '../support/backends.ts'

const backend = backendNamed('postgres')

;(backend === undefined ? describe.skip : describe)('postgres.js data rows', () => {
  test('rows split across received chunks are read whole, as arrays and as objects', async () => {
    const sql = postgres(await backend!.freshDatabaseUrl(), { max: 1, onnotice: () => {} })
    try {
      const text = `SELECT g, repeat(chr(228), g % 700), CASE WHEN g % 3 = 0 THEN NULL ELSE g END AS maybe FROM generate_series(1, 4000) g WHERE g > $1`
      const expected = Array.from({ length: 4000 }, (_, i) => [i + 1, 'ä'.repeat((i + 1) % 700), (i + 1) % 3 === 0 ? null : i + 1])
      expect(await sql.unsafe(text, [0]).values()).toEqual(expected as never)
      const objects = await sql.unsafe(text, [3990])
      expect(objects.map((row) => [row.g, row.repeat, row.maybe])).toEqual(expected.slice(3990) as never)
      expect(objects.count).toBe(10)
    } finally {
      await sql.end({ timeout: 1 })
    }
  })
})
