import mysql from 'mysql2/promise'
import {
  COLLECTION_IDS,
  DEFAULT_EXPIRY_MS,
  listingJson,
  nextTick,
  timestampsJson,
  type DbCeiling,
  type SeedRecords,
  seedPlan,
  userPicker,
} from './ceiling-types.ts'
import type { Operation } from './load.ts'
import type { Workload } from './workloads.ts'

type Connection = mysql.PoolConnection

/**
 * The MariaDB/MySQL ceiling: as for PostgreSQL, the work an efficient backend does, on a minimal
 * schema of its own (the SQLite layout, which mirrors syncstorage-rs's MySQL one), independent of
 * the server's SQL: reads as concurrent statements without a transaction, a locking read of the
 * collection, one multi-row `INSERT … ON DUPLICATE KEY UPDATE` per request, a pool as large as the load's concurrency,
 * and the text protocol (`query`, rows as arrays for the listing), mysql2's fastest path.
 */
export async function openMysqlCeiling(url: string, concurrency: number): Promise<DbCeiling> {
  const pool = mysql.createPool({ uri: url, connectionLimit: concurrency, multipleStatements: true })
  // REPEATABLE READ would take gap locks around rows that do not exist yet, and concurrent
  // first writes of different users into one gap deadlock; READ COMMITTED locks rows only.
  pool.pool.on('connection', (conn) => conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED'))
  await pool.query(SCHEMA)

  const inTransaction = async <T>(work: (conn: Connection) => Promise<T>): Promise<T> => {
    const conn = await pool.getConnection()
    try {
      await conn.beginTransaction()
      const result = await work(conn)
      await conn.commit()
      return result
    } catch (error) {
      await conn.rollback().catch(() => undefined)
      throw error
    } finally {
      conn.release()
    }
  }

  const upsert = (conn: Connection, uid: number, collection: number, records: SeedRecords, ts: number) =>
    conn.query(
      `INSERT INTO bso (userid, collection, id, payload, modified, ttl) VALUES ?
       ON DUPLICATE KEY UPDATE payload = VALUES(payload), modified = VALUES(modified)`,
      [records.map((r) => [uid, collection, r.id, r.payload, ts, ts + DEFAULT_EXPIRY_MS])],
    )

  const touch = (conn: Connection, uid: number, collection: number, ts: number) =>
    conn.query(
      `INSERT INTO user_collections (userid, collection, last_modified) VALUES (?, ?, ?)
       ON DUPLICATE KEY UPDATE last_modified = VALUES(last_modified)`,
      [uid, collection, ts],
    )

  const lockCollection = async (conn: Connection, uid: number, collection: number): Promise<number> => {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT last_modified FROM user_collections WHERE userid = ? AND collection = ? FOR UPDATE',
      [uid, collection],
    )
    return nextTick(Number(rows[0]?.last_modified ?? 0))
  }

  const stage = (conn: Connection, batch: number, uid: number, records: SeedRecords) =>
    conn.query(
      `INSERT INTO batch_upload_items (batch, userid, id, payload, payload_size) VALUES ?
       ON DUPLICATE KEY UPDATE payload = VALUES(payload), payload_size = VALUES(payload_size)`,
      [records.map((r) => [batch, uid, r.id, r.payload, Buffer.byteLength(r.payload)])],
    )

  const operations = {
    'info-collections': async (uid: number) => {
      // Reads take no lock; in READ COMMITTED a transaction would add round trips, nothing else.
      const [, [rows]] = await Promise.all([
        pool.query('SELECT coalesce(max(last_modified), 0) AS modified FROM user_collections WHERE userid = ?', [uid]),
        pool.query<mysql.RowDataPacket[]>(
          `SELECT c.name AS name, uc.last_modified AS modified FROM user_collections uc JOIN collections c ON c.id = uc.collection
           WHERE uc.userid = ? AND uc.collection <> 0`,
          [uid],
        ),
      ])
      return timestampsJson(rows.map((row) => ({ name: String(row.name), modified: Number(row.modified) }))).length > 0
    },
    'post-100': async (uid: number, w: Workload) => {
      const collection = COLLECTION_IDS[w.collection] as number
      await inTransaction(async (conn) => {
        const ts = await lockCollection(conn, uid, collection)
        await upsert(conn, uid, collection, w.uploads[0] ?? [], ts)
        await touch(conn, uid, collection, ts)
      })
      return true
    },
    'get-1000': async (uid: number, w: Workload) => {
      const collection = COLLECTION_IDS[w.collection] as number
      const [, [rows]] = await Promise.all([
        pool.query('SELECT last_modified FROM user_collections WHERE userid = ? AND collection = ?', [uid, collection]),
        pool.query<mysql.RowDataPacket[][]>(
          {
            sql: `SELECT id, modified, payload, sortindex FROM bso WHERE userid = ? AND collection = ? AND ttl > ?
                  ORDER BY modified DESC, id DESC LIMIT 1001`,
            rowsAsArray: true,
          },
          [uid, collection, Date.now()],
        ),
      ])
      const page = rows.slice(0, 1000).map(([id, modified, payload, sortindex]) => ({
        id: String(id),
        modified: Number(modified),
        payload: String(payload),
        sortindex: sortindex === null ? null : Number(sortindex),
      }))
      return listingJson(page).length > 0 && page.length === 1000
    },
    'batch-3': async (uid: number, w: Workload) => {
      const collection = COLLECTION_IDS[w.collection] as number
      const [first = [], second = [], third = []] = w.uploads
      const batch = await inTransaction(async (conn) => {
        const ts = await lockCollection(conn, uid, collection)
        const id = ts + (uid % 10)
        await conn.query('INSERT IGNORE INTO batch_uploads (batch, userid, collection) VALUES (?, ?, ?)', [id, uid, collection])
        await stage(conn, id, uid, first)
        return id
      })
      const isOpen = 'SELECT batch FROM batch_uploads WHERE batch = ? AND userid = ? AND collection = ?'
      await inTransaction(async (conn) => {
        await lockCollection(conn, uid, collection)
        await conn.query(isOpen, [batch, uid, collection])
        await stage(conn, batch, uid, second)
      })
      await inTransaction(async (conn) => {
        const ts = await lockCollection(conn, uid, collection)
        await conn.query(isOpen, [batch, uid, collection])
        await conn.query(
          `INSERT INTO bso (userid, collection, id, payload, modified, ttl)
           SELECT userid, ?, id, payload, ?, ? FROM batch_upload_items WHERE batch = ? AND userid = ?
           ON DUPLICATE KEY UPDATE payload = VALUES(payload), modified = VALUES(modified)`,
          [collection, ts, ts + DEFAULT_EXPIRY_MS, batch, uid],
        )
        await conn.query('DELETE FROM batch_upload_items WHERE batch = ? AND userid = ?', [batch, uid])
        await conn.query('DELETE FROM batch_uploads WHERE batch = ? AND userid = ?', [batch, uid])
        await upsert(conn, uid, collection, third, ts)
        await touch(conn, uid, collection, ts)
      })
      return true
    },
  } satisfies Record<Workload['id'], (uid: number, w: Workload) => Promise<boolean>>

  return {
    engine: 'mysql',
    describes: {
      'info-collections': 'max(last_modified) and collections JOIN user_collections, concurrently, no transaction; serialise',
      'post-100': 'BEGIN; SELECT … FOR UPDATE; one 100-row INSERT … ON DUPLICATE KEY UPDATE; touch; COMMIT',
      'get-1000': 'collection timestamp and SELECT … ORDER BY modified DESC LIMIT 1001, concurrently, no transaction; serialise 1000',
      'batch-3': '3 transactions: create + stage 100, stage 100, INSERT … SELECT staged + upsert 100',
    },
    async prepare(workload, loadConcurrency): Promise<Operation> {
      await inTransaction(async (conn) => {
        for (let i = 0; i < workload.users; i++) {
          // The collection row every write locks exists from the start, as it would for a synced profile.
          await touch(conn, workload.firstUid + i, COLLECTION_IDS[workload.collection] as number, 0)
        }
        for (const seeded of seedPlan(workload)) {
          for (const chunk of seeded.chunks) await upsert(conn, seeded.uid, seeded.collection, chunk.records, chunk.modified)
          await touch(conn, seeded.uid, seeded.collection, seeded.modified)
        }
      })
      const nextUser = userPicker(workload, loadConcurrency)
      const run = operations[workload.id]
      return async (worker) => ((await run(nextUser(worker), workload)) ? 200 : 'wrong result')
    },
    async close() {
      await pool.end()
    },
  }
}

const SCHEMA = `
CREATE TABLE collections (id INT PRIMARY KEY, name VARCHAR(32) NOT NULL UNIQUE) ENGINE=InnoDB;
CREATE TABLE user_collections (
  userid BIGINT NOT NULL, collection INT NOT NULL, last_modified BIGINT NOT NULL,
  total_bytes BIGINT, count INT, PRIMARY KEY (userid, collection)) ENGINE=InnoDB;
CREATE TABLE bso (
  userid BIGINT NOT NULL, collection INT NOT NULL, id VARCHAR(64) NOT NULL, sortindex INT,
  payload MEDIUMTEXT NOT NULL, payload_size BIGINT DEFAULT 0, modified BIGINT NOT NULL,
  ttl BIGINT NOT NULL DEFAULT 3153600000000, PRIMARY KEY (userid, collection, id),
  INDEX bso_expiry_idx (ttl), INDEX bso_usr_col_mod_idx (userid, collection, modified)) ENGINE=InnoDB;
CREATE TABLE batch_uploads (batch BIGINT NOT NULL, userid BIGINT NOT NULL, collection INT NOT NULL, PRIMARY KEY (batch, userid)) ENGINE=InnoDB;
CREATE TABLE batch_upload_items (
  batch BIGINT NOT NULL, userid BIGINT NOT NULL, id VARCHAR(64) NOT NULL, sortindex INT, payload MEDIUMTEXT,
  payload_size BIGINT, ttl_offset INT, PRIMARY KEY (batch, userid, id)) ENGINE=InnoDB;
INSERT INTO collections (id, name) VALUES
  (1, 'clients'), (2, 'crypto'), (3, 'forms'), (4, 'history'), (5, 'keys'), (6, 'meta'), (7, 'bookmarks'),
  (8, 'prefs'), (9, 'tabs'), (10, 'passwords'), (11, 'addons'), (12, 'addresses'), (13, 'creditcards'), (100, '');
`
