import type { Operation } from './load.ts'
import type { BenchRecord } from './records.ts'
import { SEED_CHUNK, userIndexFor, type Workload, type WorkloadId } from './workloads.ts'

/**
 * The database ceiling of one engine: the SQL each storage scenario makes the server run,
 * issued directly through the driver in this process (prepared statements, no HTTP, no Hono,
 * no Hawk, no ORM), on a scratch database of its own with the same schema and seed data.
 */
export interface DbCeiling {
  readonly engine: string
  /** What one operation does, per workload, for the report. */
  readonly describes: Record<WorkloadId, string>
  /** Seeds the workload's users and answers the operation to drive with the load generator. */
  prepare(workload: Workload, concurrency: number): Promise<Operation>
  close(): Promise<void>
}

/** Sync's wire form of a millisecond timestamp: seconds with exactly two decimals. */
function wireTimestamp(ms: number): string {
  const hundredths = Math.floor(ms / 10)
  const fraction = hundredths % 100
  return `${Math.floor(hundredths / 100)}.${fraction < 10 ? '0' : ''}${fraction}`
}

/** The response body of a full listing, serialised the obvious way (what the server must do too). */
export function listingJson(rows: readonly { id: string; modified: number; payload: string; sortindex: number | null }[]): string {
  const parts = new Array<string>(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as (typeof rows)[number]
    const sortindex = row.sortindex === null ? '' : `,"sortindex":${row.sortindex}`
    parts[i] = `{"id":${JSON.stringify(row.id)},"modified":${wireTimestamp(row.modified)},"payload":${JSON.stringify(row.payload)}${sortindex}}`
  }
  return `[${parts.join(',')}]`
}

export function timestampsJson(rows: readonly { name: string; modified: number }[]): string {
  return `{${rows.map((row) => `${JSON.stringify(row.name)}:${wireTimestamp(row.modified)}`).join(',')}}`
}

/** Milliseconds truncated to the 10 ms tick, strictly after `previous` (as the server stamps writes). */
export function nextTick(previous: number): number {
  const now = Date.now() - (Date.now() % 10)
  return now > previous ? now : previous + 10
}

export const DEFAULT_EXPIRY_MS = 2_100_000_000_000
export const BATCH_LIFETIME_MS = 7_200_000

export type SeedRecords = readonly BenchRecord[]

export const COLLECTION_IDS: Record<string, number> = {
  clients: 1,
  crypto: 2,
  forms: 3,
  history: 4,
  keys: 5,
  meta: 6,
  bookmarks: 7,
  prefs: 8,
  tabs: 9,
  passwords: 10,
  addons: 11,
  addresses: 12,
  creditcards: 13,
}

/** One collection of one seeded user: its records in 100-record chunks, each with its own tick. */
export interface SeedCollection {
  uid: number
  collection: number
  chunks: { records: SeedRecords; modified: number }[]
  /** The collection's last-modified once every chunk is written. */
  modified: number
}

/**
 * What every ceiling seeds, the same way the server's seeding POSTs stamp it: one timestamp per
 * 100 records, so a listing's ORDER BY modified can stop early as it does on the server.
 */
export function seedPlan(workload: Workload): SeedCollection[] {
  const plan: SeedCollection[] = []
  for (let i = 0; i < workload.users; i++) {
    for (const seed of workload.seed) {
      const chunks: SeedCollection['chunks'] = []
      let modified = 0
      for (let from = 0; from < seed.records.length; from += SEED_CHUNK) {
        modified = nextTick(modified)
        chunks.push({ records: seed.records.slice(from, from + SEED_CHUNK), modified })
      }
      plan.push({ uid: workload.firstUid + i, collection: COLLECTION_IDS[seed.collection] as number, chunks, modified })
    }
  }
  return plan
}

/** The user each load worker drives next, spread over the workload's users like the scenarios. */
export function userPicker(workload: Workload, concurrency: number): (worker: number) => number {
  const counters = new Array<number>(concurrency).fill(0)
  return (worker) => workload.firstUid + userIndexFor(workload.users, concurrency, worker, counters[worker]!++)
}
