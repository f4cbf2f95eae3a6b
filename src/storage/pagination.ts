import type { BsoQuery, Millis } from '../db/types.ts'
import type { CollectionQuery } from './query.ts'

/**
 * Turns the client's query into the backend query: one row more than `limit` to learn whether
 * another page exists, and a `T:N` offset as an inclusive bound on `modified` plus a skip
 * (storage-api.md §12).
 */
export function backendQuery(query: CollectionQuery): BsoQuery {
  const plan: BsoQuery = {
    ids: query.ids,
    newer: query.newer,
    older: query.older,
    sort: query.sort,
    skip: query.offset?.skip ?? 0,
    limit: query.limit === undefined ? undefined : query.limit + 1,
  }
  const boundary = query.offset?.timestamp
  if (boundary !== undefined && query.sort !== 'index') {
    if (query.sort === 'oldest') plan.atLeast = boundary
    else plan.atMost = boundary
  }
  return plan
}

/**
 * The X-Weave-Next-Offset for a page that had more rows after it. Listings sorted by time
 * resume from the last timestamp returned (`T:N`), so writes landing between two page requests
 * shift nothing; index order and bare id listings resume by position.
 */
export function nextOffset(query: CollectionQuery, returned: readonly { modified: Millis }[]): string {
  const previousSkip = query.offset?.skip ?? 0
  if (!query.full) return String(previousSkip + (query.limit ?? 0))
  if (query.sort === 'index') return String(previousSkip + returned.length)
  const last = returned.at(-1)
  if (last === undefined) return String(previousSkip)
  let run = 0
  for (let i = returned.length - 1; i >= 0 && returned[i]?.modified === last.modified; i--) run++
  const sameBoundary = run === returned.length && query.offset?.timestamp === last.modified
  return `${last.modified}:${sameBoundary ? run + previousSkip : run}`
}
