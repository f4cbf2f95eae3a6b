import type { Bso, Millis } from '../db/types.ts'
import { formatTimestamp } from '../wire-timestamp.ts'

/**
 * Sync JSON needs timestamps as numbers with exactly two decimals (`1388635807.40`), which
 * JSON.stringify cannot write, so bodies that carry them are assembled here.
 */
export function bsoJson(bso: Bso): string {
  const sortindex = bso.sortindex === null ? '' : `,"sortindex":${bso.sortindex}`
  return `{"id":${JSON.stringify(bso.id)},"modified":${formatTimestamp(bso.modified)},"payload":${JSON.stringify(bso.payload)}${sortindex}}`
}

export function timestampMapJson(entries: ReadonlyMap<string, Millis>): string {
  const parts: string[] = []
  for (const [name, ts] of entries) parts.push(`${JSON.stringify(name)}:${formatTimestamp(ts)}`)
  return `{${parts.join(',')}}`
}

export function postResultJson(result: { modified?: Millis; batch?: string; success: string[]; failed: Map<string, string> }): string {
  const head = result.modified === undefined ? `"batch":${JSON.stringify(result.batch)}` : `"modified":${formatTimestamp(result.modified)}`
  const batch = result.modified !== undefined && result.batch !== undefined ? `,"batch":${JSON.stringify(result.batch)}` : ''
  return `{${head}${batch},"success":${JSON.stringify(result.success)},"failed":${JSON.stringify(Object.fromEntries(result.failed))}}`
}

export interface SyncResponseInit {
  status?: number
  lastModified?: Millis
  headers?: Record<string, string>
}

export function jsonResponse(body: string, init: SyncResponseInit = {}): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...init.headers }
  if (init.lastModified !== undefined) headers['x-last-modified'] = formatTimestamp(init.lastModified)
  return new Response(body, { status: init.status ?? 200, headers })
}
