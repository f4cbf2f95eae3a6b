import type { Statement } from 'bun:sqlite'
import { batchNumberExpiredBy, type ExpiredRows, type ExpiredTable } from '../purge.ts'
import type { SqliteConnection } from './connection.ts'

/**
 * Which rows of each table are expired: records by their absolute expiry (`ttl`), batches and
 * their staged records by the batch number, which is the batch's creation time (batch-id.ts).
 * Each bound is a range over an index (bso_expiry_idx, or the primary keys that lead with batch).
 */
const EXPIRED: Record<ExpiredTable, { table: string; where: string; bound: (expiredBy: number) => number }> = {
  bsos: { table: 'bso', where: 'ttl <= ?1', bound: (expiredBy) => expiredBy },
  batchItems: { table: 'batch_upload_items', where: 'batch <= ?1', bound: batchNumberExpiredBy },
  batches: { table: 'batch_uploads', where: 'batch <= ?1', bound: batchNumberExpiredBy },
}

/**
 * Purge on SQLite. Every statement waits its turn on the shared connection: run between the
 * awaits of a request's transaction, it would become part of that transaction. Each chunk is one statement run in its turn on the shared connection, so a
 * request waits for at most one chunk; another process on the file waits through busy_timeout.
 */
export function sqliteExpiredRows(connection: SqliteConnection): ExpiredRows {
  const prepared = new Map<string, Statement>()
  const statement = (text: string) => {
    let found = prepared.get(text)
    if (found === undefined) {
      found = connection.client.prepare(text)
      prepared.set(text, found)
    }
    return found
  }
  return {
    count(table, expiredBy) {
      const { table: name, where, bound } = EXPIRED[table]
      const count = statement(`SELECT count(*) FROM ${name} WHERE ${where}`)
      return connection.exclusive(async () => Number(count.values(bound(expiredBy))[0]?.[0] ?? 0))
    },
    sweep(table, expiredBy) {
      const { table: name, where, bound } = EXPIRED[table]
      const remove = statement(`DELETE FROM ${name} WHERE rowid IN (SELECT rowid FROM ${name} WHERE ${where} LIMIT ?2)`)
      return (limit) => connection.exclusive(async () => remove.run(bound(expiredBy), limit).changes)
    },
  }
}
