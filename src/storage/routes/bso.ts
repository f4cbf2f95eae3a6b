import type { Context, Hono } from 'hono'
import { SyncError } from '../../errors.ts'
import type { AppEnv } from '../../http/env.ts'
import { bodyFormat, checkContentLength, parseJsonBody, readBodyText } from '../body.ts'
import { validatePutBody } from '../bso-validation.ts'
import type { StorageRoutes } from '../api.ts'
import type { StorageDeps } from '../context.ts'
import { checkPrecondition } from '../headers.ts'
import { largestRequestBytes, limitsFor } from '../limits.ts'
import { paths } from '../paths.ts'
import { checkQuota } from '../quota.ts'
import { bsoIdParam, collectionParam, preconditionOf, queryOf } from '../request.ts'
import { bsoJson, jsonResponse } from '../responses.ts'
import { formatTimestamp } from '../../wire-timestamp.ts'

/** GET, PUT and DELETE `/storage/{collection}/{id}` (storage-api.md §10.9–10.11). */
export function registerBso(app: Hono<AppEnv>, deps: StorageDeps, routes: StorageRoutes): void {
  app.get(paths.bso, routes.authenticated((c) => getBso(c, deps)))
  app.put(paths.bso, routes.authenticated((c) => putBso(c, deps)))
  app.delete(paths.bso, routes.authenticated((c) => deleteBso(c, deps)))
}

function getBso(c: Context<AppEnv>, deps: StorageDeps): Promise<Response> {
  queryOf(c)
  const collection = collectionParam(c)
  const id = bsoIdParam(c)
  const precondition = preconditionOf(c)
  return deps.backend.withTransaction({ user: c.get('user'), mode: 'read', collection }, async (tx) => {
    checkPrecondition(precondition, await tx.bsoTimestamp(id))
    const bso = await tx.getBso(id)
    if (bso === null) throw new SyncError('notFound', 'no such BSO')
    return jsonResponse(bsoJson(bso), { lastModified: bso.modified })
  })
}

async function putBso(c: Context<AppEnv>, deps: StorageDeps): Promise<Response> {
  const collection = collectionParam(c)
  queryOf(c)
  const id = bsoIdParam(c)
  const limits = limitsFor(deps.limits, collection)
  const format = bodyFormat(c.req.header('content-type'))
  checkContentLength(c.req.header('content-length'), limits.maxRequestBytes)
  const text = await readBodyText(c.req.raw, largestRequestBytes(deps.limits), 'invalidBso')
  // The JSON reader behind PUT rejects a newline-delimited body (§7, Content-Type).
  if (format === 'newlines') throw new SyncError('invalidBso', 'PUT takes one JSON object')
  const write = validatePutBody(id, parseJsonBody(text), limits, collection)
  const precondition = preconditionOf(c)
  return deps.backend.withTransaction({ user: c.get('user'), mode: 'write', collection }, async (tx) => {
    checkPrecondition(precondition, await tx.bsoTimestamp(id))
    await checkQuota(deps, tx, collection)
    await tx.putBsos([write])
    return jsonResponse(formatTimestamp(tx.timestamp), { lastModified: tx.timestamp })
  })
}

function deleteBso(c: Context<AppEnv>, deps: StorageDeps): Promise<Response> {
  queryOf(c)
  const collection = collectionParam(c)
  const id = bsoIdParam(c)
  const precondition = preconditionOf(c)
  return deps.backend.withTransaction({ user: c.get('user'), mode: 'write', collection }, async (tx) => {
    const lastModified = await tx.bsoTimestamp(id)
    checkPrecondition(precondition, lastModified)
    if (!(await tx.deleteBso(id))) throw new SyncError('notFound', 'no such BSO')
    return jsonResponse(`{"modified":${formatTimestamp(tx.timestamp)}}`, { lastModified })
  })
}
