import { Database } from 'bun:sqlite'
import { parseSettings } from '../src/config/load.ts'
import { embeddedMigrations } from '../src/db/migrations/embed.ts'
import {
  BATCH_LIFETIME_MS,
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

interface BsoRow {
  id: string
  modified: number
  payload: string
  sortindex: number | null
}

type UpsertArgs = [number, number, string, number | null, string | null, number, number | null, number, number]

const upsertSql = (setTtl: string) => `INSERT INTO bso (userid, collection, id, sortindex, payload, modified, ttl)
  VALUES (?1, ?2, ?3, ?4, coalesce(?5, ''), ?6, coalesce(?7, ?8))
  ON CONFLICT (userid, collection, id) DO UPDATE SET
    sortindex = coalesce(?4, bso.sortindex),
    payload = coalesce(?5, bso.payload),
    ${setTtl}
    modified = CASE WHEN ?9 = 1 OR ?5 IS NOT NULL OR ?4 IS NOT NULL THEN ?6 ELSE bso.modified END`

/** The level the benchmark's server runs at: the default, as it sets no `sqlite_synchronous`. */
const SERVER_SYNCHRONOUS = parseSettings({}).syncstorage.sqlite_synchronous

/**
 * bun:sqlite doing, statement for statement, what the server's SQLite backend does for each
 * scenario (src/db/sqlite/storage.ts), on a scratch file with the server's own migrations and
 * PRAGMAs. Including the server's statements as they are (e.g. reading the collection's
 * timestamp twice per write) keeps the ratio about everything *except* SQL. Durability too: the
 * benchmark's server runs at the default `sqlite_synchronous` (FULL: an fsync per commit), so
 * the ceiling does; a NORMAL ceiling made the POST ratio about half of what it is like for like.
 */
export function openSqliteCeiling(path: string): DbCeiling {
  const db = new Database(path, { create: true, strict: true })
  db.run('PRAGMA journal_mode = WAL')
  db.run(`PRAGMA synchronous = ${SERVER_SYNCHRONOUS.toUpperCase()}`)
  db.run('PRAGMA busy_timeout = 5000')
  db.run('PRAGMA foreign_keys = ON')
  for (const migration of embeddedMigrations('sqlite')) {
    db.transaction(() => migration.statements.forEach((statement) => db.run(statement)))()
  }

  const q = {
    userCollections: db.query<{ collection: number; name: string | null; modified: number }, [number]>(
      'SELECT uc.collection AS collection, c.name AS name, uc.last_modified AS modified FROM user_collections uc LEFT JOIN collections c ON c.id = uc.collection WHERE uc.userid = ?',
    ),
    collectionModified: db.query<{ last_modified: number }, [number, number]>(
      'SELECT last_modified FROM user_collections WHERE userid = ? AND collection = ?',
    ),
    // The server's two upserts (src/db/sqlite/statements.ts): a record without a ttl keeps its row's.
    upsertBso: db.query<never, UpsertArgs>(upsertSql('ttl = coalesce(?7, bso.ttl),')),
    upsertKeepingTtl: db.query<never, UpsertArgs>(upsertSql('')),
    touch: db.query<never, [number, number, number]>(
      `INSERT INTO user_collections (userid, collection, last_modified) VALUES (?, ?, ?)
       ON CONFLICT (userid, collection) DO UPDATE SET last_modified = excluded.last_modified`,
    ),
    listing: db.query<BsoRow, [number, number, number, number]>(
      `SELECT id, modified, payload, sortindex FROM bso
       WHERE userid = ? AND collection = ? AND ttl > ?
       ORDER BY modified DESC, id DESC LIMIT ? OFFSET 0`,
    ),
    createBatch: db.query<never, [number, number, number]>(
      'INSERT INTO batch_uploads (batch, userid, collection) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    batchIsOpen: db.query<{ batch: number }, [number, number, number]>(
      'SELECT batch FROM batch_uploads WHERE batch = ? AND userid = ? AND collection = ?',
    ),
    stage: db.query<never, [number, number, string, number | null, string | null, number | null, number | null]>(
      `INSERT INTO batch_upload_items (batch, userid, id, sortindex, payload, payload_size, ttl_offset)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
       ON CONFLICT (batch, userid, id) DO UPDATE SET
         sortindex = coalesce(?4, batch_upload_items.sortindex),
         payload = coalesce(?5, batch_upload_items.payload),
         payload_size = coalesce(?6, batch_upload_items.payload_size),
         ttl_offset = coalesce(?7, batch_upload_items.ttl_offset)`,
    ),
    staged: db.query<{ id: string; sortindex: number | null; payload: string | null; ttl_offset: number | null }, [number, number]>(
      'SELECT id, sortindex, payload, ttl_offset FROM batch_upload_items WHERE batch = ? AND userid = ?',
    ),
    deleteStaged: db.query<never, [number, number]>('DELETE FROM batch_upload_items WHERE batch = ? AND userid = ?'),
    deleteBatch: db.query<never, [number, number]>('DELETE FROM batch_uploads WHERE batch = ? AND userid = ?'),
  }

  const upsertRow = (...args: UpsertArgs) => (args[6] === null ? q.upsertKeepingTtl : q.upsertBso).run(...args)
  const upsert = (uid: number, collection: number, records: SeedRecords, ts: number, touchEach: 0 | 1) => {
    for (const record of records) upsertRow(uid, collection, record.id, record.sortindex ?? null, record.payload, ts, null, ts + DEFAULT_EXPIRY_MS, touchEach)
  }

  /** BEGIN IMMEDIATE, the write timestamp and the precondition read, as every server write starts. */
  const beginWrite = (uid: number, collection: number): number => {
    db.run('BEGIN IMMEDIATE')
    const ts = nextTick(q.collectionModified.get(uid, collection)?.last_modified ?? 0)
    q.collectionModified.get(uid, collection)
    return ts
  }

  const stage = (batch: number, uid: number, records: SeedRecords) => {
    for (const record of records) {
      q.stage.run(batch, uid, record.id, record.sortindex ?? null, record.payload, Buffer.byteLength(record.payload), null)
    }
  }

  const operations = {
    'info-collections': (uid: number) => {
      db.run('BEGIN')
      const rows = q.userCollections.all(uid)
      db.run('COMMIT')
      const storageModified = Math.max(0, ...rows.map((row) => row.modified))
      const named = rows.filter((row): row is { collection: number; name: string; modified: number } => row.collection !== 0 && row.name !== null)
      return storageModified >= 0 && timestampsJson(named).length > 0
    },
    'post-100': (uid: number, w: Workload) => {
      const collection = COLLECTION_IDS[w.collection] as number
      const ts = beginWrite(uid, collection)
      upsert(uid, collection, w.uploads[0] ?? [], ts, 0)
      q.touch.run(uid, collection, ts)
      db.run('COMMIT')
      return true
    },
    'get-1000': (uid: number, w: Workload) => {
      const collection = COLLECTION_IDS[w.collection] as number
      db.run('BEGIN')
      q.collectionModified.get(uid, collection)
      const rows = q.listing.all(uid, collection, Date.now(), 1001)
      db.run('COMMIT')
      rows.length = Math.min(rows.length, 1000)
      return listingJson(rows).length > 0 && rows.length === 1000
    },
    'batch-3': (uid: number, w: Workload) => {
      const collection = COLLECTION_IDS[w.collection] as number
      const [first = [], second = [], third = []] = w.uploads
      let ts = beginWrite(uid, collection)
      const batch = ts + (uid % 10)
      q.createBatch.run(batch, uid, collection)
      stage(batch, uid, first)
      db.run('COMMIT')
      for (const chunk of [second, third]) {
        ts = beginWrite(uid, collection)
        if (!(batch + BATCH_LIFETIME_MS > ts && q.batchIsOpen.get(batch, uid, collection) !== null)) throw new Error('batch vanished')
        if (chunk === second) {
          stage(batch, uid, chunk)
        } else {
          // commit=true: staged records, then this request's, as the server's commitBatch + putBsos.
          for (const item of q.staged.all(batch, uid)) {
            upsertRow(uid, collection, item.id, item.sortindex, item.payload, ts, item.ttl_offset === null ? null : ts + item.ttl_offset * 1000, ts + DEFAULT_EXPIRY_MS, 1)
          }
          q.touch.run(uid, collection, ts)
          q.deleteStaged.run(batch, uid)
          q.deleteBatch.run(batch, uid)
          upsert(uid, collection, chunk, ts, 0)
          q.touch.run(uid, collection, ts)
        }
        db.run('COMMIT')
      }
      return true
    },
  } satisfies Record<Workload['id'], (uid: number, w: Workload) => boolean>

  return {
    engine: 'sqlite',
    describes: {
      // The server answers a repeated read from its cache; this is the work of a miss.
      'info-collections': "BEGIN; the user's user_collections rows LEFT JOIN collections; COMMIT; serialise",
      'post-100': 'BEGIN IMMEDIATE; 2× collection timestamp; 100× upsert; touch collection; COMMIT',
      'get-1000': 'BEGIN; collection timestamp; SELECT … ORDER BY modified DESC LIMIT 1001; COMMIT; serialise 1000',
      'batch-3': '3 write transactions: create + stage 100, stage 100, commit 200 staged + upsert 100',
    },
    async prepare(workload, concurrency): Promise<Operation> {
      db.transaction(() => {
        for (const seeded of seedPlan(workload)) {
          for (const chunk of seeded.chunks) upsert(seeded.uid, seeded.collection, chunk.records, chunk.modified, 0)
          q.touch.run(seeded.uid, seeded.collection, seeded.modified)
        }
      })()
      const nextUser = userPicker(workload, concurrency)
      const run = operations[workload.id]
      return (worker) => {
        try {
          return run(nextUser(worker), workload) ? 200 : 'wrong result'
        } catch (error) {
          if (db.inTransaction) db.run('ROLLBACK')
          throw error
        }
      }
    },
    async close() {
      db.close()
    },
  }
}
