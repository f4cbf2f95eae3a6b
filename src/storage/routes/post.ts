import type { Context } from 'hono'
import { SyncError } from '../../errors.ts'
import type { BsoWrite, StorageTx } from '../../db/types.ts'
import { isWriteFailure } from '../../db/retry.ts'
import type { AppEnv } from '../../http/env.ts'
import { bodyFormat, checkContentLength, parseJsonBody, parseNewlinesBody, readBodyText } from '../body.ts'
import { payloadBytes, validatePostItems, type PostVerdict } from '../bso-validation.ts'
import type { StorageDeps } from '../context.ts'
import { checkAnnouncedSizes, checkPrecondition, type Precondition } from '../headers.ts'
import { largestRequestBytes, limitsFor } from '../limits.ts'
import type { CollectionQuery } from '../query.ts'
import { checkQuota } from '../quota.ts'
import { collectionParam, preconditionOf, queryOf } from '../request.ts'
import { jsonResponse, postResultJson } from '../responses.ts'

/** What the `batch` and `commit` parameters ask for (storage-api.md §13.1). */
type BatchMode =
  | { kind: 'none' } // a plain POST, also `batch=true&commit=true`
  | { kind: 'create' }
  | { kind: 'append'; id: string }
  | { kind: 'commit'; id: string }

function batchMode(query: CollectionQuery, deps: StorageDeps): BatchMode {
  const { batch, commit } = query
  if (batch === undefined) {
    if (commit) throw new SyncError('badRequest', 'commit without batch')
    return { kind: 'none' }
  }
  if (batch === '' || batch.toLowerCase() === 'true') return commit ? { kind: 'none' } : { kind: 'create' }
  if (!deps.backend.isWellFormedBatchId(batch)) throw new SyncError('badRequest', 'malformed batch id')
  return commit ? { kind: 'commit', id: batch } : { kind: 'append', id: batch }
}

/** POST `/storage/{collection}`: validates in the reference's order, then writes in one transaction. */
export async function postCollection(c: Context<AppEnv>, deps: StorageDeps): Promise<Response> {
  const collection = collectionParam(c)
  const query = queryOf(c)
  const limits = limitsFor(deps.limits, collection)
  const format = bodyFormat(c.req.header('content-type'))
  checkContentLength(c.req.header('content-length'), limits.maxRequestBytes)
  const text = await readBodyText(c.req.raw, largestRequestBytes(deps.limits), 'badRequest')
  const items = format === 'json' ? parseJsonBody(text) : parseNewlinesBody(text)
  const verdict = validatePostItems(items, limits, collection)
  const mode = batchMode(query, deps)
  checkAnnouncedSizes((name) => c.req.header(name), limits)
  const precondition = preconditionOf(c)
  const written = deps.backend.withTransaction({ user: c.get('user'), mode: 'write', collection }, (tx) =>
    writePost(tx, { deps, collection, mode, verdict, precondition }),
  )
  return mode.kind === 'append' ? written.catch((error: unknown) => stagingFailed(error, mode.id, verdict)) : written
}

/** A batch append the database could not store still answers 202, every id failed as `db error` (§13.4). */
function stagingFailed(error: unknown, batch: string, verdict: PostVerdict): Response {
  if (!isWriteFailure(error)) throw error
  const failed = new Map(verdict.failed)
  for (const write of verdict.valid) failed.set(write.id, 'db error')
  return jsonResponse(postResultJson({ batch, success: [], failed }), { status: 202 })
}

interface PostWork {
  deps: StorageDeps
  collection: string
  mode: BatchMode
  verdict: PostVerdict
  precondition: Precondition
}

async function writePost(tx: StorageTx, work: PostWork): Promise<Response> {
  const { deps, collection, mode, verdict } = work
  const lastModified = await tx.collectionTimestamp()
  checkPrecondition(work.precondition, lastModified)
  const success = verdict.valid.map((write) => write.id)
  switch (mode.kind) {
    case 'none':
      await checkQuota(deps, tx, collection)
      await tx.putBsos(verdict.valid)
      break
    case 'create':
    case 'append': {
      const batch = mode.kind === 'create' ? await tx.createBatch() : await openBatch(tx, mode.id)
      await checkQuota(deps, tx, collection, () => stagingBytes(tx, batch, mode, verdict.valid))
      await tx.appendToBatch(batch, verdict.valid)
      // Staged records change nothing visible: the collection keeps its timestamp (§13.4).
      return jsonResponse(postResultJson({ batch, success, failed: verdict.failed }), { status: 202, lastModified })
    }
    case 'commit':
      await tx.commitBatch(await openBatch(tx, mode.id))
      await checkQuota(deps, tx, collection)
      await tx.putBsos(verdict.valid)
      break
  }
  return jsonResponse(postResultJson({ modified: tx.timestamp, success, failed: verdict.failed }), { lastModified: tx.timestamp })
}

async function openBatch(tx: StorageTx, id: string): Promise<string> {
  if (!(await tx.batchIsOpen(id))) throw new SyncError('badRequest', 'no such batch')
  return id
}

/** Bytes a batch will hold after this request: staged ones not being re-sent, plus this request's. */
async function stagingBytes(tx: StorageTx, batch: string, mode: BatchMode, writes: readonly BsoWrite[]): Promise<number> {
  const incoming = writes.reduce((sum, write) => sum + payloadBytes(write), 0)
  if (mode.kind === 'create') return incoming
  return incoming + (await tx.stagedBytes(batch, writes.map((write) => write.id)))
}
