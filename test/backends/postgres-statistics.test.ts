import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { openStorage } from '../../src/db/open.ts'
import { backendNamed } from '../support/backends.ts'

const backend = backendNamed('postgres')

/**
 * Statistics that lag a bulk load make the planner sort a whole collection for "the newest
 * 1,000" (issue #11); opening storage on such a database analyzes bsos, and leaves a database
 * whose statistics are current alone.
 */
;(backend === undefined ? describe.skip : describe)('postgres statistics at start', () => {
  const open = (url: string) => openStorage(url, { runMigrations: true, poolMaxSize: 2, connectionTimeoutSeconds: 5 })
  const lastAnalyze = async (sql: postgres.Sql) =>
    (await sql`SELECT last_analyze FROM pg_stat_user_tables WHERE relid = 'bsos'::regclass`)[0]?.last_analyze as Date | null

  async function analyzedWithin(sql: postgres.Sql, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      if ((await lastAnalyze(sql)) !== null) return true
      await Bun.sleep(50)
    }
    return false
  }

  test('a bulk-loaded bsos table is analyzed when storage opens; a fresh one is not', async () => {
    const url = await backend!.freshDatabaseUrl()
    await (await open(url)).close()
    const sql = postgres(url, { max: 1, onnotice: () => {} })
    try {
      const reopened = await open(url)
      expect(await analyzedWithin(sql, 1_000)).toBe(false)
      await reopened.close()
      const [history] = await sql`SELECT collection_id FROM collections WHERE name = 'history'`
      await sql`INSERT INTO user_collections (user_id, collection_id, modified) VALUES (1, ${history!.collection_id}, now())`
      await sql`
        INSERT INTO bsos (user_id, collection_id, bso_id, payload, modified, expiry)
        SELECT 1, ${history!.collection_id}, i::text, 'x', now(), 'infinity' FROM generate_series(1, 5000) i`
      // The statistics collector reports the inserts asynchronously.
      await Bun.sleep(1_000)
      const loaded = await open(url)
      expect(await analyzedWithin(sql, 10_000)).toBe(true)
      await loaded.close()
    } finally {
      await sql.end({ timeout: 5 })
    }
  }, 30_000)
})
