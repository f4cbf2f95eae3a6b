/**
 * An in-memory model of one server's storage as storage-api.md describes it. It never guesses a
 * timestamp: every write timestamp it holds was observed in a server response, and the checks
 * compare relations (T strictly after the collection's previous timestamp, X-Last-Modified = T,
 * …) plus exact bodies built from those observed values.
 */

export type Millis = number

/** The limits the model's servers run with: small, so size rules are reached (storage-api.md §10.7). */
export const MODEL_LIMITS = {
  max_post_records: 4,
  max_post_bytes: 3000,
  max_record_payload_bytes: 2000,
  // Derived by the server: max_post_bytes + 4096, max_post_bytes * 100.
  max_request_bytes: 7096,
  max_total_bytes: 300_000,
  // Configured: the default (10,000) is more than one Spanner commit can carry.
  max_total_records: 9_984,
  max_quota_limit: 2_097_152_000,
} as const

export interface ModelBso {
  payload: string
  sortindex: number | null
  modified: Millis
  /** Records are written with ttl 0 (expired at once) or a ttl far beyond any run. */
  live: boolean
}

/** One field-wise write: an absent field keeps the stored (or staged) value. */
export interface Write {
  id: string
  payload?: string
  sortindex?: number
  ttl?: number
}

export interface ModelCollection {
  modified: Millis
  bsos: Map<string, ModelBso>
}

export type SortOrder = 'newest' | 'oldest' | 'index' | 'none'

export class UserModel {
  readonly collections = new Map<string, ModelCollection>()
  tombstone: Millis = 0
  /** Open batches by `collection␠id` (ids are scoped to user and collection). */
  readonly batches = new Map<string, Map<string, Write>>()
  /** Every batch id this user was ever handed, open or not, with its collection. */
  readonly issuedBatches: { collection: string; id: string }[] = []

  storageTimestamp(): Millis {
    let ts = this.tombstone
    for (const collection of this.collections.values()) ts = Math.max(ts, collection.modified)
    return ts
  }

  collectionTimestamp(name: string): Millis {
    return this.collections.get(name)?.modified ?? 0
  }

  /** A BSO's own timestamp for preconditions: expired rows count, absent ones are 0 (§7.1). */
  bsoTimestamp(collection: string, id: string): Millis {
    return this.collections.get(collection)?.bsos.get(id)?.modified ?? 0
  }

  liveBso(collection: string, id: string): ModelBso | undefined {
    const bso = this.collections.get(collection)?.bsos.get(id)
    return bso?.live ? bso : undefined
  }

  /** Upserts with write timestamp T; `touch` moves `modified` even for ttl-only writes (batch commit). */
  upsert(collection: string, write: Write, t: Millis, touch: boolean): void {
    const bsos = this.touch(collection, t).bsos
    const existing = bsos.get(write.id)
    const liveAfterTtl = write.ttl === undefined ? undefined : write.ttl > 0
    if (existing === undefined) {
      bsos.set(write.id, { payload: write.payload ?? '', sortindex: write.sortindex ?? null, modified: t, live: liveAfterTtl ?? true })
      return
    }
    if (write.payload !== undefined) existing.payload = write.payload
    if (write.sortindex !== undefined) existing.sortindex = write.sortindex
    if (touch || write.payload !== undefined || write.sortindex !== undefined) existing.modified = t
    if (liveAfterTtl !== undefined) existing.live = liveAfterTtl
  }

  /** Moves (or creates) the collection's row to T. */
  touch(collection: string, t: Millis): ModelCollection {
    let row = this.collections.get(collection)
    if (row === undefined) {
      row = { modified: t, bsos: new Map() }
      this.collections.set(collection, row)
    }
    row.modified = t
    return row
  }

  batchKey = (collection: string, id: string) => `${collection} ${id}`

  stage(collection: string, id: string, writes: readonly Write[]): void {
    const items = this.batches.get(this.batchKey(collection, id))
    if (items === undefined) throw new Error(`model: staging into a batch that is not open`)
    for (const write of writes) {
      const staged = items.get(write.id) ?? { id: write.id }
      if (write.payload !== undefined) staged.payload = write.payload
      if (write.sortindex !== undefined) staged.sortindex = write.sortindex
      if (write.ttl !== undefined) staged.ttl = write.ttl
      items.set(write.id, staged)
    }
  }

  commit(collection: string, id: string, t: Millis): void {
    const key = this.batchKey(collection, id)
    for (const staged of this.batches.get(key)?.values() ?? []) this.upsert(collection, staged, t, true)
    this.touch(collection, t)
    this.batches.delete(key)
  }

  deleteCollectionBatches(collection: string): void {
    for (const key of [...this.batches.keys()]) if (key.startsWith(`${collection} `)) this.batches.delete(key)
  }

  wipe(): void {
    this.collections.clear()
    this.tombstone = 0
    this.batches.clear()
  }

  /** Live records of a collection after the `ids`/`newer`/`older` filters, in `sort` order. */
  listing(collection: string, filter: { ids?: string[]; newer?: Millis; older?: Millis; sort: SortOrder }): ({ id: string } & ModelBso)[] {
    const rows = [...(this.collections.get(collection)?.bsos ?? new Map<string, ModelBso>())]
      .filter(([, bso]) => bso.live)
      .filter(([id]) => filter.ids === undefined || filter.ids.includes(id))
      .filter(([, bso]) => filter.newer === undefined || bso.modified > filter.newer)
      .filter(([, bso]) => filter.older === undefined || bso.modified < filter.older)
      .map(([id, bso]) => ({ id, ...bso }))
    return rows.sort(ordering(filter.sort))
  }
}

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Orders of §10.6 with the recommended choices: `none` is `newest`; ties broken by id; records
 * without a sortindex last under `index`.
 */
function ordering(sort: SortOrder) {
  type Row = { id: string; modified: Millis; sortindex: number | null }
  switch (sort) {
    case 'oldest':
      return (a: Row, b: Row) => a.modified - b.modified || byId(a.id, b.id)
    case 'index':
      return (a: Row, b: Row) =>
        (b.sortindex ?? -Infinity) - (a.sortindex ?? -Infinity) || (a.sortindex === b.sortindex ? 0 : a.sortindex === null ? 1 : -1) || byId(b.id, a.id)
    default:
      return (a: Row, b: Row) => b.modified - a.modified || byId(b.id, a.id)
  }
}

export interface PageRequest {
  full: boolean
  sort: SortOrder
  limit?: number
  offset?: { timestamp?: Millis; skip: number }
}

/** One page of a listing and the X-Weave-Next-Offset that must come with it (§12). */
export function page<Row extends { modified: Millis }>(rows: Row[], request: PageRequest): { items: Row[]; next?: string } {
  const boundary = request.offset?.timestamp
  let candidates = rows
  if (boundary !== undefined && request.sort !== 'index') {
    candidates = rows.filter((row) => (request.sort === 'oldest' ? row.modified >= boundary : row.modified <= boundary))
  }
  const skip = request.offset?.skip ?? 0
  const rest = candidates.slice(skip)
  const { limit } = request
  if (limit === 0) return { items: [], next: rest.length > 0 ? '0' : undefined }
  if (limit === undefined || rest.length <= limit) return { items: rest }
  const items = rest.slice(0, limit)
  return { items, next: nextOffset(request, skip, items) }
}

function nextOffset(request: PageRequest, skip: number, items: { modified: Millis }[]): string {
  if (!request.full) return String(skip + (request.limit ?? 0))
  if (request.sort === 'index') return String(skip + items.length)
  const last = items[items.length - 1] as { modified: Millis }
  let run = 0
  for (let i = items.length - 1; i >= 0 && items[i]?.modified === last.modified; i--) run++
  const sameBoundary = run === items.length && request.offset?.timestamp === last.modified
  return `${last.modified}:${sameBoundary ? run + skip : run}`
}

/** UTF-8 bytes, as the spec counts payloads. */
export const utf8Bytes = (text: string) => Buffer.byteLength(text, 'utf8')

/** `[ -~]{1,64}` (§9). */
export const isValidId = (id: string) => /^[ -~]{1,64}$/.test(id)

const KNOWN_FIELDS = new Set(['id', 'payload', 'sortindex', 'ttl', 'modified', 'collection'])
const isInt = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value)

/** One record's field verdict (§9, §10.7 steps 1–3), or the write it stands for. */
export function checkRecord(record: Record<string, unknown>): { write: Write } | { reason: string } {
  const unknown = Object.keys(record).find((key) => !KNOWN_FIELDS.has(key))
  if (unknown !== undefined) return { reason: `unknown field ${unknown}` }
  const { id, payload, sortindex, ttl } = record
  if (payload != null && typeof payload !== 'string') return { reason: 'invalid json' }
  if (sortindex != null && !(isInt(sortindex) && Math.abs(sortindex) < 2 ** 31)) return { reason: 'invalid json' }
  if (ttl != null && !(isInt(ttl) && ttl >= 0 && ttl < 2 ** 32)) return { reason: 'invalid json' }
  if (typeof id !== 'string' || !isValidId(id)) return { reason: 'invalid bso' }
  if (sortindex != null && Math.abs(sortindex as number) > 999_999_999) return { reason: 'invalid bso' }
  if (ttl != null && (ttl as number) > 999_999_999) return { reason: 'invalid bso' }
  const write: Write = { id }
  if (payload != null) write.payload = payload as string
  if (sortindex != null) write.sortindex = sortindex as number
  if (ttl != null) write.ttl = ttl as number
  return { write }
}

export type PostVerdict = { rejected: true } | { rejected: false; valid: Write[]; failed: Map<string, string> }

const KNOWN_BAD_CRYPTO = /IV":\s*"AAAAAAAAAAAAAAAAAAAAAA==/

/** A POST body's verdict (§10.7): whole-request rejection (400 code 8) or per-record results. */
export function judgePost(items: unknown, collection: string): PostVerdict {
  if (!Array.isArray(items)) return { rejected: true }
  const ids = new Set<string>()
  for (const item of items) {
    if (typeof item !== 'object' || item === null || Array.isArray(item) || typeof item.id !== 'string' || ids.has(item.id)) return { rejected: true }
    ids.add(item.id)
  }
  const valid: Write[] = []
  const failed = new Map<string, string>()
  let total = 0
  for (const item of items as Record<string, unknown>[]) {
    const verdict = checkRecord(item)
    if ('reason' in verdict) {
      failed.set(item.id as string, verdict.reason)
      continue
    }
    const size = utf8Bytes(verdict.write.payload ?? '')
    total += size
    if (size > MODEL_LIMITS.max_record_payload_bytes || total > MODEL_LIMITS.max_post_bytes) failed.set(verdict.write.id, 'retry bytes')
    else valid.push(verdict.write)
  }
  if (collection === 'crypto' && valid.some((write) => KNOWN_BAD_CRYPTO.test(write.payload ?? ''))) return { rejected: true }
  for (const surplus of valid.splice(MODEL_LIMITS.max_post_records)) failed.set(surplus.id, 'retry bso')
  return { rejected: false, valid, failed }
}

/** A PUT body's write, or undefined for a 400 code 8 (§10.10). */
export function judgePut(id: string, body: unknown, collection: string): Write | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const record = body as Record<string, unknown>
  if (record.id !== undefined && !(typeof record.id === 'string' && isValidId(record.id))) return undefined
  const verdict = checkRecord({ ...record, id })
  if ('reason' in verdict) return undefined
  if (utf8Bytes(verdict.write.payload ?? '') > MODEL_LIMITS.max_record_payload_bytes) return undefined
  if (collection === 'crypto' && KNOWN_BAD_CRYPTO.test(verdict.write.payload ?? '')) return undefined
  return verdict.write
}
