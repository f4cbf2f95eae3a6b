import type postgres from 'postgres'
import { connectPostgres } from '../src/db/postgres/client.ts'
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

/**
 * The PostgreSQL ceiling: the work an efficient backend does for each scenario, on a minimal
 * schema of its own (the SQLite layout with bigint milliseconds): reads as concurrent
 * statements without a transaction, writes under a row lock on the collection with one
 * multi-row upsert per request (unnest of arrays, not 100 round trips), prepared statements over
 * a pool as large as the load's concurrency. It is independent of the server's own SQL and
 * schema, so a ratio near or above 100 % means the server is as good as this baseline.
 */
export async function openPostgresCeiling(url: string, concurrency: number): Promise<DbCeiling> {
  const sql = connectPostgres(url, { max: concurrency, onnotice: () => {} })
  await sql.unsafe(SCHEMA)

  const upsert = (tx: postgres.TransactionSql, uid: number, collection: number, records: SeedRecords, ts: number) =>
    tx`INSERT INTO bso (userid, collection, id, payload, modified, ttl)
       SELECT ${uid}, ${collection}, r.id, r.payload, ${ts}, ${ts + DEFAULT_EXPIRY_MS}
       FROM unnest(${records.map((r) => r.id)}::text[], ${records.map((r) => r.payload)}::text[]) AS r(id, payload)
       ON CONFLICT (userid, collection, id) DO UPDATE SET payload = excluded.payload, modified = excluded.modified`

  const touch = (tx: postgres.TransactionSql, uid: number, collection: number, ts: number) =>
    tx`INSERT INTO user_collections (userid, collection, last_modified) VALUES (${uid}, ${collection}, ${ts})
       ON CONFLICT (userid, collection) DO UPDATE SET last_modified = excluded.last_modified`

  /** The write timestamp, read under a row lock that serialises writers of one collection. */
  const lockCollection = async (tx: postgres.TransactionSql, uid: number, collection: number): Promise<number> => {
    const [row] = await tx<{ last_modified: string }[]>`
      SELECT last_modified FROM user_collections WHERE userid = ${uid} AND collection = ${collection} FOR UPDATE`
    return nextTick(Number(row?.last_modified ?? 0))
  }

  const stage = (tx: postgres.TransactionSql, batch: number, uid: number, records: SeedRecords) =>
    tx`INSERT INTO batch_upload_items (batch, userid, id, payload, payload_size)
       SELECT ${batch}, ${uid}, r.id, r.payload, octet_length(r.payload)
       FROM unnest(${records.map((r) => r.id)}::text[], ${records.map((r) => r.payload)}::text[]) AS r(id, payload)
       ON CONFLICT (batch, userid, id) DO UPDATE SET payload = excluded.payload, payload_size = excluded.payload_size`

  const operations = {
    'info-collections': async (uid: number) => {
      // Reads take no lock, and in READ COMMITTED a transaction would add round trips, nothing else.
      const [, rows] = await Promise.all([
        sql`SELECT coalesce(max(last_modified), 0) AS modified FROM user_collections WHERE userid = ${uid}`,
        sql<{ name: string; modified: string }[]>`
          SELECT c.name, uc.last_modified AS modified FROM user_collections uc JOIN collections c ON c.id = uc.collection
          WHERE uc.userid = ${uid} AND uc.collection <> 0`,
      ])
      return timestampsJson(rows.map((row) => ({ name: row.name, modified: Number(row.modified) }))).length > 0
    },
    'post-100': async (uid: number, w: Workload) => {
      const collection = COLLECTION_IDS[w.collection] as number
      await sql.begin(async (tx) => {
        const ts = await lockCollection(tx, uid, collection)
        await upsert(tx, uid, collection, w.uploads[0] ?? [], ts)
        await touch(tx, uid, collection, ts)
      })
      return true
    },
    'get-1000': async (uid: number, w: Workload) => {
      const collection = COLLECTION_IDS[w.collection] as number
      const [, rows] = await Promise.all([
        sql`SELECT last_modified FROM user_collections WHERE userid = ${uid} AND collection = ${collection}`,
        // Rows as arrays: the driver skips building an object per row.
        sql`
          SELECT id, modified, payload, sortindex FROM bso
          WHERE userid = ${uid} AND collection = ${collection} AND ttl > ${Date.now()}
          ORDER BY modified DESC, id DESC LIMIT 1001`.values(),
      ])
      const page = (rows as unknown as [string, string, string, number | null][])
        .slice(0, 1000)
        .map(([id, modified, payload, sortindex]) => ({ id, modified: Number(modified), payload, sortindex }))
      return listingJson(page).length > 0 && page.length === 1000
    },
    'batch-3': async (uid: number, w: Workload) => {
      const collection = COLLECTION_IDS[w.collection] as number
      const [first = [], second = [], third = []] = w.uploads
      const batch = await sql.begin(async (tx) => {
        const ts = await lockCollection(tx, uid, collection)
        const id = ts + (uid % 10)
        await tx`INSERT INTO batch_uploads (batch, userid, collection) VALUES (${id}, ${uid}, ${collection}) ON CONFLICT DO NOTHING`
        await stage(tx, id, uid, first)
        return id
      })
      await sql.begin(async (tx) => {
        await lockCollection(tx, uid, collection)
        await tx`SELECT batch FROM batch_uploads WHERE batch = ${batch} AND userid = ${uid} AND collection = ${collection}`
        await stage(tx, batch, uid, second)
      })
      await sql.begin(async (tx) => {
        const ts = await lockCollection(tx, uid, collection)
        await tx`SELECT batch FROM batch_uploads WHERE batch = ${batch} AND userid = ${uid} AND collection = ${collection}`
        await tx`INSERT INTO bso (userid, collection, id, payload, modified, ttl)
                 SELECT userid, ${collection}, id, payload, ${ts}, ${ts + DEFAULT_EXPIRY_MS} FROM batch_upload_items
                 WHERE batch = ${batch} AND userid = ${uid}
                 ON CONFLICT (userid, collection, id) DO UPDATE SET payload = excluded.payload, modified = excluded.modified`
        await tx`DELETE FROM batch_upload_items WHERE batch = ${batch} AND userid = ${uid}`
        await tx`DELETE FROM batch_uploads WHERE batch = ${batch} AND userid = ${uid}`
        await upsert(tx, uid, collection, third, ts)
        await touch(tx, uid, collection, ts)
      })
      return true
    },
  } satisfies Record<Workload['id'], (uid: number, w: Workload) => Promise<boolean>>

  return {
    engine: 'postgres',
    describes: {
      'info-collections': 'max(last_modified) and collections JOIN user_collections, concurrently, no transaction; serialise',
      'post-100': 'BEGIN; SELECT … FOR UPDATE; one 100-row upsert (unnest); touch; COMMIT',
      'get-1000': 'collection timestamp and SELECT … ORDER BY modified DESC LIMIT 1001, concurrently, no transaction; serialise 1000',
      'batch-3': '3 transactions: create + stage 100, stage 100, INSERT … SELECT staged + upsert 100',
    },
    async prepare(workload, loadConcurrency): Promise<Operation> {
      await sql.begin(async (tx) => {
        for (let i = 0; i < workload.users; i++) {
          // The collection row every write locks exists from the start, as it would for a synced profile.
          await touch(tx, workload.firstUid + i, COLLECTION_IDS[workload.collection] as number, 0)
        }
        for (const seeded of seedPlan(workload)) {
          for (const chunk of seeded.chunks) await upsert(tx, seeded.uid, seeded.collection, chunk.records, chunk.modified)
          await touch(tx, seeded.uid, seeded.collection, seeded.modified)
        }
      })
      const nextUser = userPicker(workload, loadConcurrency)
      const run = operations[workload.id]
      return async (worker) => ((await run(nextUser(worker), workload)) ? 200 : 'wrong result')
    },
    async close() {
      await sql.end({ timeout: 5 })
    },
  }
}

const SCHEMA = `
CREATE TABLE collections (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE user_collections (
  userid bigint NOT NULL, collection integer NOT NULL, last_modified bigint NOT NULL,
  total_bytes bigint, count integer, PRIMARY KEY (userid, collection));
CREATE TABLE bso (
  userid bigint NOT NULL, collection integer NOT NULL, id text NOT NULL, sortindex integer,
  payload text NOT NULL, payload_size bigint DEFAULT 0, modified bigint NOT NULL,
  ttl bigint NOT NULL DEFAULT 3153600000000, PRIMARY KEY (userid, collection, id));
CREATE INDEX bso_expiry_idx ON bso (ttl);
CREATE INDEX bso_usr_col_mod_idx ON bso (userid, collection, modified);
CREATE TABLE batch_uploads (batch bigint NOT NULL, userid bigint NOT NULL, collection integer NOT NULL, PRIMARY KEY (batch, userid));
CREATE TABLE batch_upload_items (
  batch bigint NOT NULL, userid bigint NOT NULL, id text NOT NULL, sortindex integer, payload text,
  payload_size bigint, ttl_offset integer, PRIMARY KEY (batch, userid, id));
INSERT INTO collections (id, name) VALUES
  (1, 'clients'), (2, 'crypto'), (3, 'forms'), (4, 'history'), (5, 'keys'), (6, 'meta'), (7, 'bookmarks'),
  (8, 'prefs'), (9, 'tabs'), (10, 'passwords'), (11, 'addons'), (12, 'addresses'), (13, 'creditcards'), (100, '');
`
