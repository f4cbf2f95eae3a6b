import { fixedRecords, type BenchRecord } from './records.ts'

/**
 * The storage scenarios, described once so the HTTP run (scenarios.ts) and its raw-database
 * ceiling (ceilings-*.ts) work on the same users, collections and records.
 */
export type WorkloadId = 'info-collections' | 'post-100' | 'get-1000' | 'batch-3'

export interface Workload {
  id: WorkloadId
  title: string
  /** What the rate is counted in: requests, or records moved. */
  unit: 'req' | 'rec'
  /** Units one operation moves (1 for info/collections, 100 for a POST, 300 for a batch). */
  unitsPerOp: number
  /** HTTP requests one operation sends. */
  requestsPerOp: number
  firstUid: number
  users: number
  collection: string
  /** Records each user has before the run. */
  seed: { collection: string; records: BenchRecord[] }[]
  /** What one operation uploads, per request (empty for reads). */
  uploads: BenchRecord[][]
}

const PAYLOAD_BYTES = 450
/**
 * Seed records go up 100 per POST (max_post_records), so they carry one timestamp per 100; the
 * ceilings stamp their seed the same way, or ORDER BY modified could not stop early there.
 */
export const SEED_CHUNK = 100
/** Enough users that no two workers share one: a user's writes are serialised in 10 ms ticks. */
const WRITERS = 64

const INFO_COLLECTIONS = ['bookmarks', 'clients', 'crypto', 'forms', 'history', 'meta', 'passwords', 'prefs', 'tabs']

export const workloads: Record<WorkloadId, Workload> = {
  'info-collections': {
    id: 'info-collections',
    title: 'GET info/collections',
    unit: 'req',
    unitsPerOp: 1,
    requestsPerOp: 1,
    firstUid: 1_000_000,
    users: WRITERS,
    collection: 'bookmarks',
    // A profile syncing every engine has about nine collections.
    seed: INFO_COLLECTIONS.map((collection) => ({ collection, records: fixedRecords(0, 1, PAYLOAD_BYTES) })),
    uploads: [],
  },
  'post-100': {
    id: 'post-100',
    title: 'POST 100 records (batch=true&commit=true)',
    unit: 'rec',
    unitsPerOp: 100,
    requestsPerOp: 1,
    firstUid: 2_000_000,
    users: WRITERS,
    collection: 'bookmarks',
    // The same 100 rows every time: after the warm-up round every write is an update.
    seed: [],
    uploads: [fixedRecords(0, 100, PAYLOAD_BYTES)],
  },
  'get-1000': {
    id: 'get-1000',
    title: 'GET full=1&limit=1000 (5,000-record collection)',
    unit: 'rec',
    unitsPerOp: 1000,
    requestsPerOp: 1,
    firstUid: 3_000_000,
    users: 2,
    collection: 'history',
    seed: [{ collection: 'history', records: fixedRecords(0, 5000, PAYLOAD_BYTES) }],
    uploads: [],
  },
  'batch-3': {
    id: 'batch-3',
    title: '3-POST batch + commit (3×100 records)',
    unit: 'rec',
    unitsPerOp: 300,
    requestsPerOp: 3,
    firstUid: 4_000_000,
    users: WRITERS,
    collection: 'forms',
    seed: [],
    uploads: [fixedRecords(0, 100, PAYLOAD_BYTES), fixedRecords(100, 100, PAYLOAD_BYTES), fixedRecords(200, 100, PAYLOAD_BYTES)],
  },
}

export const workloadOrder: WorkloadId[] = ['info-collections', 'post-100', 'get-1000', 'batch-3']

/**
 * Which of `users` a worker uses for its n-th operation: workers own disjoint sets of users
 * (like real clients, a profile never syncs twice at once) and cycle through them. With fewer
 * users than workers (read-only scenarios), workers share them.
 */
export function userIndexFor(users: number, concurrency: number, worker: number, n: number): number {
  if (users < concurrency) return worker % users
  return worker + concurrency * (n % Math.floor(users / concurrency))
}

/** The request body of one upload, as the client sends it. */
export const uploadBody = (records: readonly BenchRecord[]): string => JSON.stringify(records)
