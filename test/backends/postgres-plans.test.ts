import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { migrateStorage } from '../../src/db/open.ts'
import { statements } from '../../src/db/postgres/statements.ts'
import { backendNamed } from '../support/backends.ts'

const backend = backendNamed('postgres')

/**
 * The info/collections statement runs for every sync of every user: PostgreSQL must keep one
 * plan for it rather than plan each execution again, which cost more than running it.
 */
;(backend === undefined ? describe.skip : describe)('postgres statement plans', () => {
  test('the users-timestamps statement settles on a generic plan after the trial runs', async () => {
    const url = await backend!.freshDatabaseUrl()
    await migrateStorage(url)
    const sql = postgres(url, { max: 1, onnotice: () => {} })
    try {
      const statement = statements.usersTimestampsJson
      await sql`INSERT INTO user_collections (user_id, collection_id, modified) SELECT u, 7, now() FROM generate_series(1, 50) u`
      const runs = 20
      for (let run = 0; run < runs; run++) {
        const uids = Array.from({ length: 1 + (run % 6) }, (_, i) => run + i + 1)
        const rows = await sql.unsafe(statement.text, statement.bind({ uids: `{${uids.join(',')}}` }) as never[], { prepare: true }).values()
        expect(rows.map((row) => Number(row.at(-1))).sort((a, b) => a - b)).toEqual(uids)
      }
      const [plans] = await sql`
        SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = ${statement.text}`
      expect({ generic: Number(plans?.generic_plans), custom: Number(plans?.custom_plans) }).toEqual({ generic: runs - 5, custom: 5 })
    } finally {
      await sql.end({ timeout: 5 })
    }
  }, 30_000)
})
