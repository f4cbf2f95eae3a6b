import { randomUUID } from 'node:crypto'
import type { Database, Spanner, Transaction } from '@google-cloud/spanner'
import {
  COLLECTION_IDS,
  DEFAULT_EXPIRY_MS,
  listingJson,
  timestampsJson,
  type DbCeiling,
  type SeedRecords,
  seedPlan,
  userPicker,
} from './ceiling-types.ts'
import type { Operation } from './load.ts'
import type { Workload } from './workloads.ts'

/** INT64 and TIMESTAMP values as the Spanner API carries them: strings. */
const time = (ms: number) => new Date(ms).toISOString()
const NAMES = new Map(Object.entries(COLLECTION_IDS).map(([name, id]) => [id, name]))
/** Every ceiling user has this key generation: the keyspace is (fxa_uid, fxa_kid). */
const FXA_KID = '0000000000001-ceiling'
const fxaUid = (uid: number) => `ceiling${uid}`
const USER = 'fxa_uid = @fxa_uid AND fxa_kid = @fxa_kid'
const USER_COLLECTION = `${USER} AND collection_id = @collection`
const TYPES = { fxa_uid: 'string', fxa_kid: 'string', collection: 'int64', batch: 'string', now: 'timestamp', expiry: 'timestamp' } as const
type Params = Partial<Record<keyof typeof TYPES, string | number>>
type Row = Record<string, unknown>
/** Rows as plain objects, INT64 as numbers (every value read here is within 2^53). */
const AS_JSON = { json: true, jsonOptions: { wrapNumbers: false } } as const

/**
 * The Spanner ceiling: the work an efficient backend does for each scenario, issued through
 * `@google-cloud/spanner` (the server's own driver) in this process, with no HTTP, no Hawk and
 * no server code, on a database of the same emulator prepared with schema.ddl. Reads are
 * single-use strong read-only queries, run concurrently; a write is one read-write transaction
 * whose first query (Spanner's clock and the collection's timestamp, which locks the row)
 * begins it inline, its rows buffered as mutations and sent with the commit. The emulator runs
 * one read-write transaction at a time for all its databases, so writes queue in this process
 * one behind the other, exactly as the server queues them when spanner_emulator_host is set;
 * reads do not queue.
 */
export async function openSpannerCeiling(url: string, emulatorHost: string): Promise<DbCeiling> {
  const [, project, instance, name] = /^spanner:\/\/projects\/([^/]+)\/instances\/([^/]+)\/databases\/([^/]+)$/.exec(url) ?? []
  if (project === undefined || instance === undefined || name === undefined) throw new Error(`not a Spanner URL: ${url}`)
  const spanner = await emulatorSpanner(project, emulatorHost)
  const database: Database = spanner.instance(instance).database(name)

  let writeQueue: Promise<unknown> = Promise.resolve()
  const oneWriterAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const result = writeQueue.then(work)
    writeQueue = result.catch(() => undefined)
    return result
  }

  const query = (sql: string, params: Params) => ({ sql, params, types: TYPES, ...AS_JSON })
  /** A single-use strong read-only query: no transaction to begin or end. */
  const read = async (sql: string, params: Params) => (await database.run(query(sql, params)))[0] as unknown as Row[]
  const userParams = (uid: number, collection: number): Params => ({ fxa_uid: fxaUid(uid), fxa_kid: FXA_KID, collection })

  /**
   * One write: its first query begins the transaction and reads Spanner's clock and the
   * collection's timestamp (`extra` columns after them); `work` buffers the mutations the
   * commit carries.
   */
  const write = (uid: number, collection: number, work: (ts: number, row: Row, tx: Transaction, params: Params) => Promise<void> | void, extra = '', batch?: string) =>
    oneWriterAtATime(async () => {
      const params: Params = { ...userParams(uid, collection), ...(batch === undefined ? {} : { batch }) }
      const [transaction] = await database.getTransaction()
      try {
        const [rows] = await transaction.run(
          query(`SELECT UNIX_MICROS(CURRENT_TIMESTAMP()) AS now, (SELECT UNIX_MILLIS(modified) FROM user_collections WHERE ${USER_COLLECTION}) AS modified${extra}`, params),
        )
        const row = (rows[0] ?? {}) as Row
        const spannerNow = Math.floor(Number(row.now) / 1000)
        await work(Math.max(spannerNow - (spannerNow % 10), Number(row.modified ?? 0) + 10), row, transaction, params)
        await transaction.commit()
      } catch (error) {
        await transaction.rollback().catch(() => undefined)
        throw error
      } finally {
        transaction.end()
      }
    })

  const key = (uid: number, collection: number) => ({ fxa_uid: fxaUid(uid), fxa_kid: FXA_KID, collection_id: String(collection) })
  const touch = (tx: Transaction, uid: number, collection: number, ts: number) => tx.upsert('user_collections', { ...key(uid, collection), modified: time(ts) })
  const upsert = (tx: Transaction, uid: number, collection: number, records: SeedRecords, ts: number) =>
    tx.upsert('bsos', records.map((r) => ({ ...key(uid, collection), bso_id: r.id, payload: r.payload, modified: time(ts), expiry: time(ts + DEFAULT_EXPIRY_MS) })))
  const stage = (tx: Transaction, uid: number, collection: number, batch: string, records: SeedRecords) =>
    tx.upsert('batch_bsos', records.map((r) => ({ ...key(uid, collection), batch_id: batch, batch_bso_id: r.id, payload: r.payload })))
  const BATCH_OPEN = `, (SELECT COUNT(*) FROM batches WHERE ${USER_COLLECTION} AND batch_id = @batch AND expiry > CURRENT_TIMESTAMP()) AS open`
  const requireOpen = (row: Row) => {
    if (Number(row.open) !== 1) throw new Error('batch vanished')
  }

  const operations = {
    'info-collections': async (uid: number) => {
      const rows = await read(`SELECT collection_id, UNIX_MILLIS(modified) AS modified FROM user_collections WHERE ${USER}`, { fxa_uid: fxaUid(uid), fxa_kid: FXA_KID })
      const named = rows.flatMap((row) => {
        const name = NAMES.get(Number(row.collection_id))
        return name === undefined ? [] : [{ name, modified: Number(row.modified) }]
      })
      const storageModified = Math.max(0, ...rows.map((row) => Number(row.modified)))
      return storageModified > 0 && timestampsJson(named).length > 0
    },
    'post-100': async (uid: number, w: Workload) => {
      const collection = COLLECTION_IDS[w.collection] as number
      await write(uid, collection, (ts, _row, tx) => {
        touch(tx, uid, collection, ts)
        upsert(tx, uid, collection, w.uploads[0] ?? [], ts)
      })
      return true
    },
    'get-1000': async (uid: number, w: Workload) => {
      const params = { ...userParams(uid, COLLECTION_IDS[w.collection] as number), now: time(Date.now()) }
      const [, rows] = await Promise.all([
        read(`SELECT UNIX_MILLIS(modified) AS modified FROM user_collections WHERE ${USER_COLLECTION}`, params),
        read(
          `SELECT bso_id AS id, UNIX_MILLIS(modified) AS modified, payload, sortindex FROM bsos WHERE ${USER_COLLECTION} AND expiry > @now
            ORDER BY modified DESC, bso_id DESC LIMIT 1001`,
          params,
        ),
      ])
      const page = (rows as { id: string; modified: number; payload: string; sortindex: number | null }[]).slice(0, 1000)
      return listingJson(page).length > 0 && page.length === 1000
    },
    'batch-3': async (uid: number, w: Workload) => {
      const collection = COLLECTION_IDS[w.collection] as number
      const [first = [], second = [], third = []] = w.uploads
      const batch = randomUUID().replaceAll('-', '')
      await write(uid, collection, (ts, _row, tx) => {
        tx.insert('batches', { ...key(uid, collection), batch_id: batch, expiry: time(ts + 7_200_000) })
        stage(tx, uid, collection, batch, first)
      })
      await write(uid, collection, (_ts, row, tx) => (requireOpen(row), stage(tx, uid, collection, batch, second)), BATCH_OPEN, batch)
      await write(
        uid,
        collection,
        async (ts, row, tx, params) => {
          requireOpen(row)
          // The staged rows move inside Spanner; only the request's own 100 travel.
          await tx.batchUpdate([
            query(
              `INSERT OR UPDATE INTO bsos (fxa_uid, fxa_kid, collection_id, bso_id, payload, modified, expiry)
               SELECT fxa_uid, fxa_kid, collection_id, batch_bso_id, payload, @now, @expiry FROM batch_bsos
                WHERE ${USER_COLLECTION} AND batch_id = @batch`,
              { ...params, now: time(ts), expiry: time(ts + DEFAULT_EXPIRY_MS) },
            ),
          ])
          // The batch's staged rows go with it (ON DELETE CASCADE).
          tx.deleteRows('batches', [[fxaUid(uid), FXA_KID, String(collection), batch]])
          upsert(tx, uid, collection, third, ts)
          touch(tx, uid, collection, ts)
        },
        BATCH_OPEN,
        batch,
      )
      return true
    },
  } satisfies Record<Workload['id'], (uid: number, w: Workload) => Promise<boolean>>

  /** Seeds in one transaction per user: parents (user_collections) before their records. */
  const seed = async (workload: Workload) => {
    const plan = seedPlan(workload)
    for (let i = 0; i < workload.users; i++) {
      const uid = workload.firstUid + i
      // The collection row every write locks exists from the start, as it would for a synced profile.
      const parents = new Map<number, number>([[COLLECTION_IDS[workload.collection] as number, 0]])
      const seeded = plan.filter((entry) => entry.uid === uid)
      for (const entry of seeded) parents.set(entry.collection, entry.modified)
      await retryAborted(() =>
        oneWriterAtATime(async () => {
          const [transaction] = await database.getTransaction()
          try {
            for (const [collection, modified] of parents) touch(transaction, uid, collection, modified)
            for (const entry of seeded) for (const chunk of entry.chunks) upsert(transaction, uid, entry.collection, chunk.records, chunk.modified)
            await transaction.commit()
          } finally {
            transaction.end()
          }
        }),
      )
    }
  }

  return {
    engine: 'spanner',
    describes: {
      'info-collections': "single-use strong read of the user's user_collections rows; serialise",
      'post-100': 'read-write transaction begun inline by SELECT CURRENT_TIMESTAMP() + collection timestamp; commit with 100 bso upsert mutations + touch',
      'get-1000': 'collection timestamp and SELECT … ORDER BY modified DESC LIMIT 1001, two single-use strong reads, concurrently; serialise 1000',
      'batch-3': '3 read-write transactions: create batch + stage 100 (mutations), check + stage 100, check + INSERT OR UPDATE … SELECT staged (DML) + delete batch + upsert 100',
    },
    async prepare(workload, loadConcurrency): Promise<Operation> {
      await seed(workload)
      const nextUser = userPicker(workload, loadConcurrency)
      const run = operations[workload.id]
      return async (worker) => {
        try {
          return (await run(nextUser(worker), workload)) ? 200 : 'wrong result'
        } catch (error) {
          // What the server answers for an aborted transaction, counted alike on both sides of the ratio.
          if (isAborted(error)) return 503
          throw error
        }
      }
    },
    async close() {
      await database.close()
      spanner.close()
    },
  }
}

/**
 * The emulator aborts a transaction now and then ("aborted due to another transaction getting
 * priority") even when this process runs one at a time; a real Spanner aborts on conflicts.
 */
const isAborted = (error: unknown) => (error as { code?: unknown } | null)?.code === ABORTED
const ABORTED = 10

/** Seeding is not measured: an aborted seed transaction is run again, as a client retries a 503. */
async function retryAborted(work: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work()
    } catch (error) {
      if (!isAborted(error) || attempt >= 5) throw error
    }
  }
}

/**
 * The library on the emulator's plaintext gRPC port. Built here rather than through the
 * server's transport (src/db/spanner/client.ts), so the ceiling stays independent of it.
 */
async function emulatorSpanner(projectId: string, emulatorHost: string): Promise<Spanner> {
  const [{ Spanner }, { grpc }] = await Promise.all([import('@google-cloud/spanner'), import('google-gax')])
  const at = emulatorHost.lastIndexOf(':')
  return new Spanner({
    projectId,
    servicePath: emulatorHost.slice(0, at),
    port: Number(emulatorHost.slice(at + 1)),
    sslCreds: grpc.credentials.createInsecure(),
    // Without it the auth library probes for Google Cloud metadata.
    universeDomain: 'googleapis.com',
    disableBuiltInMetrics: true,
  } as ConstructorParameters<typeof Spanner>[0])
}
