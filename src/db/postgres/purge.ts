import type { ExpiredRows, ExpiredTable } from '../purge.ts'
import type { PostgresPool } from './connection.ts'

/** Before any row's address: a pass over bsos starts here. */
const FIRST_TID = '(0,0)'

/**
 * Deletes of each table's expired rows, at most $limit at a time, each statement in a
 * transaction of its own. PostgreSQL has no index on expiry alone (the reference's layout
 * indexes it after user and collection), so bsos are walked once in physical order: a chunk
 * looks only past the last row address (ctid) the previous chunk deleted, a TID range scan.
 * Rows are then deleted by address (a TID scan), never by a second search.
 */
const SWEEP: Record<ExpiredTable, string> = {
  bsos: `
    WITH gone AS (
      DELETE FROM bsos
       WHERE ctid = ANY(ARRAY(SELECT ctid FROM bsos WHERE ctid > $3::tid AND expiry <= $1::timestamptz LIMIT $2))
      RETURNING ctid
    )
    SELECT count(*)::int, max(ctid)::text FROM gone`,
  // Staged records first, so that deleting their batches (which would cascade to them) stays small.
  batchItems: `
    WITH gone AS (
      DELETE FROM batch_bsos
       WHERE ctid = ANY(ARRAY(
               SELECT i.ctid FROM batches b JOIN batch_bsos i USING (user_id, collection_id, batch_id)
                WHERE b.expiry <= $1::timestamptz LIMIT $2))
      RETURNING 1
    )
    SELECT count(*)::int FROM gone`,
  batches: `
    WITH gone AS (
      DELETE FROM batches
       WHERE ctid = ANY(ARRAY(SELECT ctid FROM batches WHERE expiry <= $1::timestamptz LIMIT $2))
      RETURNING 1
    )
    SELECT count(*)::int FROM gone`,
}

const COUNT: Record<ExpiredTable, string> = {
  bsos: 'SELECT count(*)::int FROM bsos WHERE expiry <= $1::timestamptz',
  batchItems: `SELECT count(*)::int FROM batches b JOIN batch_bsos i USING (user_id, collection_id, batch_id)
                WHERE b.expiry <= $1::timestamptz`,
  batches: 'SELECT count(*)::int FROM batches WHERE expiry <= $1::timestamptz',
}

const timestamptz = (ms: number) => new Date(ms).toISOString()

/** Purge on PostgreSQL: one pooled connection per statement, through the pool's admission gate. */
export function postgresExpiredRows(pool: PostgresPool): ExpiredRows {
  const query = (text: string, params: unknown[]) => pool.withSession((session) => session.raw(text, params, true))
  return {
    async count(table, expiredBy) {
      const [row] = await query(COUNT[table], [timestamptz(expiredBy)])
      return Number(row?.[0] ?? 0)
    },
    sweep(table, expiredBy) {
      let after = FIRST_TID
      return async (limit) => {
        const params = table === 'bsos' ? [timestamptz(expiredBy), limit, after] : [timestamptz(expiredBy), limit]
        const [row] = await query(SWEEP[table], params)
        if (typeof row?.[1] === 'string') after = row[1]
        return Number(row?.[0] ?? 0)
      }
    },
  }
}
