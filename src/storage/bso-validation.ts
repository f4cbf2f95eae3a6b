import { SyncError } from '../errors.ts'
import { writtenPayloadBytes } from '../db/rules.ts'
import type { BsoWrite } from '../db/types.ts'
import type { CollectionLimits } from './limits.ts'
import { BSO_ID } from './query.ts'

const MAX_SORTINDEX = 999_999_999
const MAX_TTL = 999_999_999
const I32 = 2 ** 31
const U32 = 2 ** 32
// A historical client bug uploaded keys encrypted with an all-zero IV (compatibility-notes §2).
const KNOWN_BAD_CRYPTO = /IV":\s*"AAAAAAAAAAAAAAAAAAAAAA==/

const isInteger = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value)

// Compared in place rather than looked up in a Set: this runs for every key of every POSTed record.
const isKnownField = (key: string): boolean =>
  key === 'id' || key === 'payload' || key === 'sortindex' || key === 'ttl' || key === 'modified' || key === 'collection'

/**
 * Why one record's fields are refused (not its size), or undefined when they are not; `id` has
 * been checked by the caller. A reason rather than a verdict object: this runs for every record.
 */
function fieldProblem(id: string, record: Record<string, unknown>): string | undefined {
  // for…in rather than Object.keys: no array per record (a parsed object has no inherited keys).
  for (const key in record) {
    if (!isKnownField(key)) return `unknown field ${key}`
  }
  const { payload, sortindex, ttl } = record
  // JSON null means "not given" (storage-api.md §9).
  if (payload != null && typeof payload !== 'string') return 'invalid json'
  if (sortindex != null && !(isInteger(sortindex) && Math.abs(sortindex) < I32)) return 'invalid json'
  if (ttl != null && !(isInteger(ttl) && ttl >= 0 && ttl < U32)) return 'invalid json'
  if (!BSO_ID.test(id)) return 'invalid bso: invalid id'
  if (sortindex != null && Math.abs(sortindex as number) > MAX_SORTINDEX) return 'invalid bso: sortindex out of range'
  if (ttl != null && (ttl as number) > MAX_TTL) return 'invalid bso: ttl out of range'
  return undefined
}

/** The write of a record whose fields passed `fieldProblem`. */
function toWrite(id: string, record: Record<string, unknown>): BsoWrite {
  const { payload, sortindex, ttl } = record
  const write: BsoWrite = { id }
  if (payload != null) write.payload = payload as string
  if (sortindex != null) write.sortindex = sortindex as number
  if (ttl != null) write.ttl = ttl as number
  return write
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export const payloadBytes = (write: BsoWrite): number => writtenPayloadBytes(write) ?? 0

/** The body of PUT `/storage/{collection}/{id}`: one record, or 400 with weave code 8. */
export function validatePutBody(id: string, body: unknown, limits: CollectionLimits, collection: string): BsoWrite {
  if (!isRecord(body)) throw new SyncError('invalidBso', 'body is not an object')
  if (body.id !== undefined && !(typeof body.id === 'string' && BSO_ID.test(body.id))) {
    throw new SyncError('invalidBso', 'invalid id in body')
  }
  const record = { ...body, id }
  const problem = fieldProblem(id, record)
  if (problem !== undefined) throw new SyncError('invalidBso', problem)
  const write = toWrite(id, record)
  if (payloadBytes(write) > limits.maxRecordPayloadBytes) throw new SyncError('invalidBso', 'payload too large')
  rejectKnownBadCrypto(collection, [write])
  return write
}

export interface PostVerdict {
  valid: BsoWrite[]
  failed: Map<string, string>
}

/**
 * The records of a POST (storage-api.md §10.7): structural problems reject the whole request,
 * field problems fail single records, sizes are counted in request order, and records past
 * `max_post_records` are failed last-first with "retry bso".
 */
export function validatePostItems(items: unknown, limits: CollectionLimits, collection: string): PostVerdict {
  if (!Array.isArray(items)) throw new SyncError('invalidBso', 'body is not an array')
  const seen = new Set<string>()
  for (const item of items) {
    if (!isRecord(item) || typeof item.id !== 'string') throw new SyncError('invalidBso', 'record without a string id')
    if (seen.has(item.id)) throw new SyncError('invalidBso', `duplicate id ${item.id}`)
    seen.add(item.id)
  }
  const valid: BsoWrite[] = []
  const failed = new Map<string, string>()
  const counting = mayExceedSizeLimits(items as Record<string, unknown>[], limits)
  let total = 0
  for (const item of items as Record<string, unknown>[]) {
    const id = item.id as string
    const problem = fieldProblem(id, item)
    if (problem !== undefined) {
      failed.set(id, problem)
      continue
    }
    const write = toWrite(id, item)
    const size = counting ? payloadBytes(write) : 0
    total += size
    if (size > limits.maxRecordPayloadBytes || total > limits.maxPostBytes) failed.set(id, 'retry bytes')
    else valid.push(write)
  }
  rejectKnownBadCrypto(collection, valid)
  for (const surplus of valid.splice(limits.maxPostRecords)) failed.set(surplus.id, 'retry bso')
  return { valid, failed }
}

/**
 * Whether the payloads could exceed max_record_payload_bytes or max_post_bytes. A string's UTF-8
 * size is at most 3 bytes per UTF-16 unit, so when even that bound of all payloads together fits
 * both limits, no record can fail for size and the exact sizes (a native call per record, half
 * of validating a typical POST) are not counted.
 */
function mayExceedSizeLimits(items: readonly Record<string, unknown>[], limits: CollectionLimits): boolean {
  let units = 0
  for (const item of items) if (typeof item.payload === 'string') units += item.payload.length
  return 3 * units > Math.min(limits.maxRecordPayloadBytes, limits.maxPostBytes)
}

function rejectKnownBadCrypto(collection: string, writes: readonly BsoWrite[]): void {
  if (collection !== 'crypto') return
  if (writes.some((write) => write.payload !== undefined && KNOWN_BAD_CRYPTO.test(write.payload))) {
    throw new SyncError('invalidBso', 'known-bad crypto payload')
  }
}
