import { SyncError } from '../errors.ts'
import type { Millis } from '../db/types.ts'
import type { CollectionLimits } from './limits.ts'
import { parseTimestamp } from '../wire-timestamp.ts'

export type Precondition =
  | { kind: 'none' }
  | { kind: 'ifModifiedSince'; since: Millis }
  | { kind: 'ifUnmodifiedSince'; since: Millis }

type HeaderReader = (name: string) => string | undefined

/** X-If-Modified-Since / X-If-Unmodified-Since: at most one, a valid timestamp (§7). */
export function parsePrecondition(header: HeaderReader): Precondition {
  const modified = header('x-if-modified-since')
  const unmodified = header('x-if-unmodified-since')
  if (modified !== undefined && unmodified !== undefined) throw new SyncError('badRequest', 'both precondition headers')
  if (modified !== undefined) return { kind: 'ifModifiedSince', since: preconditionValue(modified) }
  if (unmodified !== undefined) return { kind: 'ifUnmodifiedSince', since: preconditionValue(unmodified) }
  return { kind: 'none' }
}

function preconditionValue(text: string): Millis {
  const value = parseTimestamp(text.trim())
  if (value === undefined) throw new SyncError('badRequest', 'invalid precondition header')
  return value
}

/** 304 when the resource has not moved past X-If-Modified-Since, 412 when it moved past X-If-Unmodified-Since. */
export function checkPrecondition(precondition: Precondition, resourceTimestamp: Millis): void {
  if (precondition.kind === 'ifModifiedSince' && resourceTimestamp <= precondition.since) {
    throw new SyncError('notModified', 'not modified', { lastModified: resourceTimestamp })
  }
  if (precondition.kind === 'ifUnmodifiedSince' && resourceTimestamp > precondition.since) {
    throw new SyncError('preconditionFailed', 'modified since', { lastModified: resourceTimestamp })
  }
}

/**
 * The client's announced sizes on a POST (§7): each must be a u32 within its limit
 * (400 code 17 when over, 400 code 0 when not a number).
 */
export function checkAnnouncedSizes(header: HeaderReader, limits: CollectionLimits): void {
  const announced: [string, number][] = [
    ['x-weave-records', limits.maxPostRecords],
    ['x-weave-bytes', limits.maxPostBytes],
    ['x-weave-total-records', limits.maxTotalRecords],
    ['x-weave-total-bytes', limits.maxTotalBytes],
  ]
  for (const [name, limit] of announced) {
    const text = header(name)
    if (text === undefined) continue
    if (!/^\+?\d{1,10}$/.test(text.trim()) || Number(text) > 4_294_967_295) {
      throw new SyncError('badRequest', `${name} is not an integer`)
    }
    if (Number(text) > limit) throw new SyncError('sizeLimitExceeded', `${name} over the limit`)
  }
}

export type OutputFormat = 'json' | 'newlines'

/**
 * GET/DELETE collection output from Accept (§10.6): media types by q, stable; the first that is
 * `*\/*` or `application/json` gives JSON, `application/newlines` gives newlines; `text/plain`
 * or no match is a 406. No or unparsable Accept means JSON.
 */
export function negotiateOutput(accept: string | undefined): OutputFormat {
  if (accept === undefined || accept.trim() === '') return 'json'
  const ranges = parseAccept(accept)
  if (ranges === undefined) return 'json'
  for (const range of ranges) {
    if (range === '*/*' || range === 'application/json') return 'json'
    if (range === 'application/newlines') return 'newlines'
    if (range === 'text/plain') break
  }
  throw new SyncError('notAcceptable', 'no acceptable output format')
}

function parseAccept(accept: string): string[] | undefined {
  const entries: { type: string; q: number; index: number }[] = []
  for (const [index, part] of accept.split(',').entries()) {
    const [type, ...params] = part.split(';').map((item) => item.trim())
    if (type === undefined || type === '') continue
    if (!/^[\w.+*-]+\/[\w.+*-]+$/.test(type)) return undefined
    let q = 1
    const kept: string[] = []
    for (const param of params) {
      const [key, value] = param.split('=').map((item) => item.trim())
      if (key?.toLowerCase() === 'q') {
        q = Number(value)
        if (!Number.isFinite(q)) return undefined
      } else if (param !== '') kept.push(param)
    }
    // Parameters other than q are part of the comparison, as in the reference.
    const full = [type.toLowerCase(), ...kept.map((param) => param.toLowerCase())].join(';')
    entries.push({ type: full, q, index })
  }
  return entries.sort((a, b) => b.q - a.q || a.index - b.index).map((entry) => entry.type)
}
