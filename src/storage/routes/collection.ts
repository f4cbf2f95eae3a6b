import type { Context, Hono } from 'hono'
import type { Bso, StorageTx } from '../../db/types.ts'
import type { AppEnv } from '../../http/env.ts'
import type { StorageRoutes } from '../api.ts'
import type { StorageDeps } from '../context.ts'
import { checkPrecondition, negotiateOutput, type OutputFormat } from '../headers.ts'
import { backendQuery, nextOffset } from '../pagination.ts'
import { paths } from '../paths.ts'
import type { CollectionQuery } from '../query.ts'
import { collectionParam, preconditionOf, queryOf } from '../request.ts'
import { bsoJson, jsonResponse } from '../responses.ts'
import { formatTimestamp } from '../../wire-timestamp.ts'
import { postCollection } from './post.ts'

/** GET, POST and DELETE `/storage/{collection}` (storage-api.md §10.6–10.8). */
export function registerCollection(app: Hono<AppEnv>, deps: StorageDeps, routes: StorageRoutes): void {
  app.get(paths.collection, routes.authenticated((c) => getCollection(c, deps)))
  app.post(paths.collection, routes.authenticated((c) => postCollection(c, deps)))
  app.delete(paths.collection, routes.authenticated((c) => deleteCollection(c, deps)))
}

function getCollection(c: Context<AppEnv>, deps: StorageDeps): Promise<Response> {
  const query = queryOf(c)
  const collection = collectionParam(c)
  const format = negotiateOutput(c.req.header('accept'))
  const precondition = preconditionOf(c)
  return deps.backend.withTransaction({ user: c.get('user'), mode: 'read', collection }, async (tx) => {
    const lastModified = await tx.collectionTimestamp()
    checkPrecondition(precondition, lastModified)
    const page = await readPage(tx, query)
    const headers: Record<string, string> = { 'x-weave-records': String(page.items.length) }
    if (page.nextOffset !== undefined) headers['x-weave-next-offset'] = page.nextOffset
    return listingResponse(page.items, format, lastModified, headers)
  })
}

interface Page {
  items: (Bso | string)[]
  nextOffset?: string
}

async function readPage(tx: StorageTx, query: CollectionQuery): Promise<Page> {
  // limit=0 answers no items, but still says whether there is anything to page through.
  if (query.limit === 0) {
    const probe = await tx.getBsoIds({ ...backendQuery({ ...query, limit: undefined }), limit: 1 })
    return { items: [], nextOffset: probe.length > 0 ? '0' : undefined }
  }
  const plan = backendQuery(query)
  const rows: (Bso | string)[] = query.full ? await tx.getBsos(plan) : await tx.getBsoIds(plan)
  if (query.limit === undefined || rows.length <= query.limit) return { items: rows }
  rows.length = query.limit
  return { items: rows, nextOffset: nextOffset(query, query.full ? (rows as Bso[]) : []) }
}

function listingResponse(
  items: (Bso | string)[],
  format: OutputFormat,
  lastModified: number,
  headers: Record<string, string>,
): Response {
  const serialised = items.map((item) => (typeof item === 'string' ? JSON.stringify(item) : bsoJson(item)))
  if (format === 'json') return jsonResponse(`[${serialised.join(',')}]`, { lastModified, headers })
  const body = serialised.map((line) => `${line}\n`).join('')
  return new Response(body, {
    headers: { ...headers, 'content-type': 'application/newlines', 'x-last-modified': formatTimestamp(lastModified) },
  })
}

function deleteCollection(c: Context<AppEnv>, deps: StorageDeps): Promise<Response> {
  const query = queryOf(c)
  const collection = collectionParam(c)
  negotiateOutput(c.req.header('accept'))
  const precondition = preconditionOf(c)
  return deps.backend.withTransaction({ user: c.get('user'), mode: 'write', collection }, async (tx) => {
    const lastModified = await tx.collectionTimestamp()
    checkPrecondition(precondition, lastModified)
    if (query.ids !== undefined) {
      await tx.deleteBsos(query.ids)
      return jsonResponse(formatTimestamp(tx.timestamp), { lastModified: tx.timestamp })
    }
    await tx.deleteCollection()
    return jsonResponse(formatTimestamp(await tx.storageTimestamp()), { lastModified })
  })
}
