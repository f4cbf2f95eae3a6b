import { batchNumberExpiredBy, type ExpiredRows, type ExpiredTable } from '../purge.ts'
import type { MysqlPool } from './connection.ts'

/**
 * Which rows of each table are expired: records by their absolute expiry (`ttl`, indexed by
 * bso_expiry_idx), batches and their staged records by the batch number, their creation time
 * (the leading column of both primary keys). Chunks follow the index order, so a chunk locks
 * a short index range and statement-based replication deletes the same rows.
 */
const EXPIRED: Record<ExpiredTable, { table: string; column: string; bound: (expiredBy: number) => number }> = {
  bsos: { table: 'bso', column: 'ttl', bound: (expiredBy) => expiredBy },
  batchItems: { table: 'batch_upload_items', column: 'batch', bound: batchNumberExpiredBy },
  batches: { table: 'batch_uploads', column: 'batch', bound: batchNumberExpiredBy },
}

/** Purge on MySQL/MariaDB: one pooled connection per statement, each its own transaction. */
export function mysqlExpiredRows(pool: MysqlPool): ExpiredRows {
  return {
    async count(table, expiredBy) {
      const { table: name, column, bound } = EXPIRED[table]
      const [row] = await pool.withSession((session) =>
        session.rows(`SELECT count(*) FROM ${name} WHERE ${column} <= ?`, [bound(expiredBy)]),
      )
      return Number(row?.[0] ?? 0)
    },
    sweep(table, expiredBy) {
      const { table: name, column, bound } = EXPIRED[table]
      const text = `DELETE FROM ${name} WHERE ${column} <= ? ORDER BY ${column} LIMIT ?`
      return async (limit) => {
        const changed = await pool.withSession((session) => session.change(text, [bound(expiredBy), limit]))
        return changed.affectedRows
      }
    },
  }
}
