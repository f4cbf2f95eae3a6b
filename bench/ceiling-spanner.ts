import { randomUUID } from 'node:crypto'
import type { v1 } from '@google-cloud/spanner'
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

type Value = { stringValue: string } | { nullValue: 'NULL_VALUE' }
type Mutation = { insertOrUpdate: Write } | { insert: Write } | { delete: { table: string; keySet: { keys: { values: Value[] }[] } } }
interface Write {
  table: string
  columns: string[]
  values: { values: Value[] }[]
}
type SpannerTypeCode = 'STRING' | 'INT64' | 'TIMESTAMP'

const text = (value: string): Value => ({ stringValue: value })
/** INT64 and TIMESTAMP travel as strings in the Spanner API. */
const int64 = (value: number): Value => ({ stringValue: String(value) })
const time = (ms: number): Value => ({ stringValue: new Date(ms).toISOString() })

const NAMES = new Map(Object.entries(COLLECTION_IDS).map(([name, id]) => [String(id), name]))
/** Every ceiling user has this key generation: the keyspace is (fxa_uid, fxa_kid). */
const FXA_KID = '0000000000001-ceiling'
const fxaUid = (uid: number) => `ceiling${uid}`
const USER = 'fxa_uid = @fxa_uid AND fxa_kid = @fxa_kid'
const USER_COLLECTION = `${USER} AND collection_id = @collection`

/**
 * The Spanner ceiling: the work an efficient backend does for each scenario, issued through the
 * Spanner API's generated gRPC client in this process (no HTTP, no Hawk, no server code), on a
 * database of the same emulator prepared with schema.ddl. Reads are single-use strong read-only
 * queries, run concurrently; a write is one read-write transaction begun inline with its first
 * read (Spanner's clock and the collection's timestamp, which locks the row), its rows sent as
 * mutations with the commit. The emulator runs one read-write transaction at a time for all
 * its databases, so writes queue in this process one behind the other, exactly as the server
 * queues them when spanner_emulator_host is set; reads do not queue. One session per load worker.
 */
export async function openSpannerCeiling(url: string, emulatorHost: string, concurrency: number): Promise<DbCeiling> {
  const database = url.replace(/^spanner:\/\//, '')
  const client = await emulatorClient(emulatorHost)
  const [created] = await client.batchCreateSessions({ database, sessionCount: concurrency + 1 })
  const sessions = (created.session ?? []).map((session) => session.name as string)
  if (sessions.length < concurrency + 1) throw new Error(`the emulator made ${sessions.length} of ${concurrency + 1} sessions`)
  const seedSession = sessions[concurrency] as string

  let writeQueue: Promise<unknown> = Promise.resolve()
  const oneWriterAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const result = writeQueue.then(work)
    writeQueue = result.catch(() => undefined)
    return result
  }

  const wire = (params: Record<string, [SpannerTypeCode, Value]>) => ({
    params: { fields: Object.fromEntries(Object.entries(params).map(([name, [, value]]) => [name, value])) },
    paramTypes: Object.fromEntries(Object.entries(params).map(([name, [code]]) => [name, { code }])),
  })
  const rowsOf = (result: { rows?: { values?: { stringValue?: string | null }[] | null }[] | null }) =>
    (result.rows ?? []).map((row) => (row.values ?? []).map((value) => value.stringValue ?? null))

  /** A single-use strong read-only query: no transaction to begin or end. */
  const read = async (session: string, sql: string, params: Record<string, [SpannerTypeCode, Value]>) => {
    const [result] = await client.executeSql({ session, sql, transaction: { singleUse: { readOnly: { strong: true } } }, ...wire(params) })
    return rowsOf(result)
  }

  const userParams = (uid: number, collection: number): Record<string, [SpannerTypeCode, Value]> => ({
    fxa_uid: ['STRING', text(fxaUid(uid))],
    fxa_kid: ['STRING', text(FXA_KID)],
    collection: ['INT64', int64(collection)],
  })

  /**
   * One write: its first statement begins the transaction and reads Spanner's clock, the
   * collection's timestamp (`extra` columns after them); `work` answers the mutations to commit.
   */
  const write = (
    session: string,
    uid: number,
    collection: number,
    work: (context: { ts: number; row: (string | null)[]; transactionId: Uint8Array; params: Record<string, [SpannerTypeCode, Value]> }) => Promise<Mutation[]>,
    extra = '',
    extraParams: Record<string, [SpannerTypeCode, Value]> = {},
  ) =>
    oneWriterAtATime(async () => {
      const params = { ...userParams(uid, collection), ...extraParams }
      const [result] = await client.executeSql({
        session,
        sql: `SELECT UNIX_MICROS(CURRENT_TIMESTAMP()), (SELECT UNIX_MILLIS(modified) FROM user_collections WHERE ${USER_COLLECTION})${extra}`,
        transaction: { begin: { readWrite: {} } },
        ...wire(params),
      })
      const transactionId = result.metadata?.transaction?.id as Uint8Array
      try {
        const [row = []] = rowsOf(result)
        const spannerNow = Math.floor(Number(row[0]) / 1000)
        const ts = Math.max(spannerNow - (spannerNow % 10), Number(row[1] ?? 0) + 10)
        const mutations = await work({ ts, row, transactionId, params })
        await client.commit({ session, transactionId, mutations })
      } catch (error) {
        await client.rollback({ session, transactionId }).catch(() => undefined)
        throw error
      }
    })

  const touch = (uid: number, collection: number, ts: number): Mutation => ({
    insertOrUpdate: {
      table: 'user_collections',
      columns: ['fxa_uid', 'fxa_kid', 'collection_id', 'modified'],
      values: [{ values: [text(fxaUid(uid)), text(FXA_KID), int64(collection), time(ts)] }],
    },
  })
  const upsert = (uid: number, collection: number, records: SeedRecords, ts: number): Mutation => ({
    insertOrUpdate: {
      table: 'bsos',
      columns: ['fxa_uid', 'fxa_kid', 'collection_id', 'bso_id', 'payload', 'modified', 'expiry'],
      values: records.map((r) => ({ values: [text(fxaUid(uid)), text(FXA_KID), int64(collection), text(r.id), text(r.payload), time(ts), time(ts + DEFAULT_EXPIRY_MS)] })),
    },
  })
  const stage = (uid: number, collection: number, batch: string, records: SeedRecords): Mutation => ({
    insertOrUpdate: {
      table: 'batch_bsos',
      columns: ['fxa_uid', 'fxa_kid', 'collection_id', 'batch_id', 'batch_bso_id', 'payload'],
      values: records.map((r) => ({ values: [text(fxaUid(uid)), text(FXA_KID), int64(collection), text(batch), text(r.id), text(r.payload)] })),
    },
  })
  const BATCH_OPEN = `, (SELECT COUNT(*) FROM batches WHERE ${USER_COLLECTION} AND batch_id = @batch AND expiry > CURRENT_TIMESTAMP())`
  const requireOpen = (row: (string | null)[]) => {
    if (row[2] !== '1') throw new Error('batch vanished')
  }

  const operations = {
    'info-collections': async (uid: number, _w: Workload, session: string) => {
      const rows = await read(session, `SELECT collection_id, UNIX_MILLIS(modified) FROM user_collections WHERE ${USER}`, {
        fxa_uid: ['STRING', text(fxaUid(uid))],
        fxa_kid: ['STRING', text(FXA_KID)],
      })
      const named = rows.flatMap(([id, modified]) => {
        const name = NAMES.get(String(id))
        return name === undefined ? [] : [{ name, modified: Number(modified) }]
      })
      const storageModified = Math.max(0, ...rows.map((row) => Number(row[1])))
      return storageModified > 0 && timestampsJson(named).length > 0
    },
    'post-100': async (uid: number, w: Workload, session: string) => {
      const collection = COLLECTION_IDS[w.collection] as number
      await write(session, uid, collection, async ({ ts }) => [touch(uid, collection, ts), upsert(uid, collection, w.uploads[0] ?? [], ts)])
      return true
    },
    'get-1000': async (uid: number, w: Workload, session: string) => {
      const params = { ...userParams(uid, COLLECTION_IDS[w.collection] as number), now: ['TIMESTAMP', time(Date.now())] as [SpannerTypeCode, Value] }
      const [, rows] = await Promise.all([
        read(session, `SELECT UNIX_MILLIS(modified) FROM user_collections WHERE ${USER_COLLECTION}`, params),
        read(
          session,
          `SELECT bso_id, UNIX_MILLIS(modified), payload, sortindex FROM bsos WHERE ${USER_COLLECTION} AND expiry > @now
            ORDER BY modified DESC, bso_id DESC LIMIT 1001`,
          params,
        ),
      ])
      const page = rows.slice(0, 1000).map(([id, modified, payload, sortindex]) => ({
        id: id as string,
        modified: Number(modified),
        payload: payload as string,
        sortindex: sortindex === null ? null : Number(sortindex),
      }))
      return listingJson(page).length > 0 && page.length === 1000
    },
    'batch-3': async (uid: number, w: Workload, session: string) => {
      const collection = COLLECTION_IDS[w.collection] as number
      const [first = [], second = [], third = []] = w.uploads
      const batch = randomUUID().replaceAll('-', '')
      const batchParam: Record<string, [SpannerTypeCode, Value]> = { batch: ['STRING', text(batch)] }
      await write(session, uid, collection, async ({ ts }) => [
        {
          insert: {
            table: 'batches',
            columns: ['fxa_uid', 'fxa_kid', 'collection_id', 'batch_id', 'expiry'],
            values: [{ values: [text(fxaUid(uid)), text(FXA_KID), int64(collection), text(batch), time(ts + 7_200_000)] }],
          },
        },
        stage(uid, collection, batch, first),
      ])
      await write(session, uid, collection, async ({ row }) => (requireOpen(row), [stage(uid, collection, batch, second)]), BATCH_OPEN, batchParam)
      await write(
        session,
        uid,
        collection,
        async ({ ts, row, transactionId, params }) => {
          requireOpen(row)
          // The staged rows move inside Spanner; only the request's own 100 travel.
          await client.executeSql({
            session,
            transaction: { id: transactionId },
            seqno: 1,
            sql: `INSERT OR UPDATE INTO bsos (fxa_uid, fxa_kid, collection_id, bso_id, payload, modified, expiry)
                  SELECT fxa_uid, fxa_kid, collection_id, batch_bso_id, payload, @now, @expiry FROM batch_bsos
                   WHERE ${USER_COLLECTION} AND batch_id = @batch`,
            ...wire({ ...params, now: ['TIMESTAMP', time(ts)], expiry: ['TIMESTAMP', time(ts + DEFAULT_EXPIRY_MS)] }),
          })
          return [
            // The batch's staged rows go with it (ON DELETE CASCADE).
            { delete: { table: 'batches', keySet: { keys: [{ values: [text(fxaUid(uid)), text(FXA_KID), int64(collection), text(batch)] }] } } },
            upsert(uid, collection, third, ts),
            touch(uid, collection, ts),
          ]
        },
        BATCH_OPEN,
        batchParam,
      )
      return true
    },
  } satisfies Record<Workload['id'], (uid: number, w: Workload, session: string) => Promise<boolean>>

  /** Seeds in one transaction per user: parents (user_collections) before their records. */
  const seed = async (workload: Workload) => {
    const plan = seedPlan(workload)
    for (let i = 0; i < workload.users; i++) {
      const uid = workload.firstUid + i
      // The collection row every write locks exists from the start, as it would for a synced profile.
      const parents = new Map<number, number>([[COLLECTION_IDS[workload.collection] as number, 0]])
      const records: Mutation[] = []
      for (const seeded of plan.filter((entry) => entry.uid === uid)) {
        parents.set(seeded.collection, seeded.modified)
        for (const chunk of seeded.chunks) records.push(upsert(uid, seeded.collection, chunk.records, chunk.modified))
      }
      const mutations = [...[...parents].map(([collection, modified]) => touch(uid, collection, modified)), ...records]
      await retryAborted(() =>
        oneWriterAtATime(async () => {
          const [begun] = await client.beginTransaction({ session: seedSession, options: { readWrite: {} } })
          await client.commit({ session: seedSession, transactionId: begun.id, mutations })
        }),
      )
    }
  }

  return {
    engine: 'spanner',
    describes: {
      'info-collections': "single-use strong read of the user's user_collections rows; serialise",
      'post-100': 'read-write transaction begun inline with SELECT CURRENT_TIMESTAMP() + collection timestamp; commit with 100 bso upsert mutations + touch',
      'get-1000': 'collection timestamp and SELECT … ORDER BY modified DESC LIMIT 1001, two single-use strong reads, concurrently; serialise 1000',
      'batch-3': '3 read-write transactions: create batch + stage 100 (mutations), check + stage 100, check + INSERT OR UPDATE … SELECT staged (DML) + delete batch + upsert 100',
    },
    async prepare(workload, loadConcurrency): Promise<Operation> {
      await seed(workload)
      const nextUser = userPicker(workload, loadConcurrency)
      const run = operations[workload.id]
      return async (worker) => {
        try {
          return (await run(nextUser(worker), workload, sessions[worker % concurrency] as string)) ? 200 : 'wrong result'
        } catch (error) {
          // What the server answers for an aborted transaction, counted alike on both sides of the ratio.
          if (isAborted(error)) return 503
          throw error
        }
      }
    },
    async close() {
      await Promise.all(sessions.map((name) => client.deleteSession({ name }).catch(() => undefined)))
      await client.close()
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
 * The generated client (the one `@google-cloud/spanner` ships) on the emulator's plaintext gRPC
 * port. Built here rather than through the server's transport (src/db/spanner/client.ts), so the
 * ceiling stays independent of it.
 */
async function emulatorClient(emulatorHost: string): Promise<v1.SpannerClient> {
  const [{ v1 }, { grpc }] = await Promise.all([import('@google-cloud/spanner'), import('google-gax')])
  const at = emulatorHost.lastIndexOf(':')
  return new v1.SpannerClient({
    servicePath: emulatorHost.slice(0, at),
    port: Number(emulatorHost.slice(at + 1)),
    sslCreds: grpc.credentials.createInsecure(),
    // Without them the auth library probes for Google Cloud metadata.
    projectId: 'emulator',
    universeDomain: 'googleapis.com',
  })
}
