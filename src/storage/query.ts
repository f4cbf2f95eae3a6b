import * as v from 'valibot'
import { SyncError } from '../errors.ts'
import type { Millis, SortOrder } from '../db/types.ts'
import { parseTimestamp } from '../wire-timestamp.ts'

/** `[ -~]{1,64}`: printable ASCII, the id rule of BSOs (storage-api.md §9). */
export const BSO_ID = /^[ -~]{1,64}$/
export const MAX_IDS = 100

const timestamp = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const ms = parseTimestamp(dataset.value)
    if (ms === undefined) {
      addIssue({ message: 'not a timestamp' })
      return NEVER
    }
    return ms
  }),
)

const U32_MAX = 4_294_967_295
const unsigned = (max: number) =>
  v.pipe(v.string(), v.regex(/^\+?\d{1,20}$/), v.transform(Number), v.maxValue(max))

const offset = v.pipe(
  v.string(),
  v.regex(/^\d{1,20}(?::\d{1,20})?$/),
  v.transform((text): Offset => {
    const [first, second] = text.split(':')
    return second === undefined ? { skip: clamp(first) } : { timestamp: clamp(first), skip: clamp(second) }
  }),
)

const clamp = (digits: string | undefined) => Math.min(Number(digits), Number.MAX_SAFE_INTEGER)

const ids = v.pipe(
  v.string(),
  v.transform((text) =>
    text
      .split(',')
      .map((id) => id.trim())
      .filter((id) => id !== ''),
  ),
  v.maxLength(MAX_IDS),
  v.check((list) => list.every((id) => BSO_ID.test(id))),
)

const querySchema = v.object({
  ids: v.optional(ids),
  newer: v.optional(timestamp),
  older: v.optional(timestamp),
  full: v.optional(v.string()),
  limit: v.optional(unsigned(U32_MAX)),
  offset: v.optional(offset),
  sort: v.optional(v.picklist(['newest', 'oldest', 'index', 'none'])),
  batch: v.optional(v.string()),
  commit: v.optional(v.pipe(v.string(), v.regex(/^true$/i))),
})

export interface Offset {
  /** Boundary `modified` of a `T:N` token. */
  timestamp?: Millis
  skip: number
}

export interface CollectionQuery {
  /** Absent means no filter; `ids=` with nothing in it also means no filter. */
  ids?: string[]
  newer?: Millis
  older?: Millis
  full: boolean
  limit?: number
  offset?: Offset
  sort: SortOrder
  batch?: string
  commit: boolean
}

/**
 * The query parameters of every collection and BSO endpoint, validated on every method
 * (storage-api.md §8): form-urlencoded, empty pairs skipped, unknown names ignored.
 */
export function parseCollectionQuery(rawQuery: string): CollectionQuery {
  const fields: Record<string, string> = {}
  for (const [name, value] of new URLSearchParams(rawQuery)) {
    if (name !== '' && !(name in fields)) fields[name] = value
  }
  const result = v.safeParse(querySchema, fields)
  if (!result.success) throw new SyncError('badRequest', `invalid query parameter ${result.issues[0].path?.[0]?.key}`)
  const query = result.output
  const parsed: CollectionQuery = {
    ids: query.ids !== undefined && query.ids.length > 0 ? query.ids : undefined,
    newer: query.newer,
    older: query.older,
    full: query.full !== undefined,
    limit: query.limit,
    offset: query.offset,
    sort: query.sort ?? 'none',
    batch: query.batch,
    commit: query.commit !== undefined,
  }
  checkOffsetBounds(parsed)
  return parsed
}

/** A `T:N` offset outside the newer/older window cannot come from a previous page. */
function checkOffsetBounds({ offset, sort, newer, older }: CollectionQuery): void {
  const boundary = offset?.timestamp
  if (boundary === undefined || sort === 'index') return
  if (newer !== undefined ? boundary < newer : older !== undefined && boundary > older) {
    throw new SyncError('badRequest', 'offset outside the newer/older window')
  }
}
