import type { Context, Hono } from 'hono'
import type { StorageTx, UserTimestamps } from '../../db/types.ts'
import type { AppEnv } from '../../http/env.ts'
import type { StorageRoutes } from '../api.ts'
import type { StorageDeps } from '../context.ts'
import { checkPrecondition } from '../headers.ts'
import { paths } from '../paths.ts'
import { preconditionOf } from '../request.ts'
import { jsonResponse, timestampMapJson } from '../responses.ts'
import { then } from '../../step.ts'

type InfoView = (tx: StorageTx) => Promise<{ body: string; records?: number }>

const kib = (bytes: number) => bytes / 1024

const mapJson = (entries: Map<string, number>, value: (n: number) => number) =>
  JSON.stringify(Object.fromEntries([...entries].map(([name, n]) => [name, value(n)])))

// A backend that caches a user's timestamps returns the same map until they change (StorageTx).
const timestampJson = new WeakMap<ReadonlyMap<string, number>, string>()

function memoisedTimestampMapJson(timestamps: ReadonlyMap<string, number>): string {
  let json = timestampJson.get(timestamps)
  if (json === undefined) {
    json = timestampMapJson(timestamps)
    timestampJson.set(timestamps, json)
  }
  return json
}

const views: Record<'counts' | 'usage' | 'quota', InfoView> = {
  async counts(tx) {
    const counts = await tx.collectionCounts()
    return { body: mapJson(counts, (n) => n), records: counts.size }
  },
  async usage(tx) {
    const usage = await tx.collectionUsage()
    return { body: mapJson(usage, kib), records: usage.size }
  },
  // The second element, the quota itself, is always null in the reference (§10.4).
  async quota(tx) {
    return { body: JSON.stringify([kib(await tx.storageUsage()), null]) }
  },
}

/** GET info/collections, collection_counts, collection_usage, quota (storage-api.md §10.1–10.4). */
export function registerInfo(app: Hono<AppEnv>, deps: StorageDeps, routes: StorageRoutes): void {
  const serve = (view: InfoView) => (c: Context<AppEnv>) => {
    const precondition = preconditionOf(c)
    return deps.backend.withTransaction({ user: c.get('user'), mode: 'read' }, async (tx) => {
      const lastModified = await tx.storageTimestamp()
      checkPrecondition(precondition, lastModified)
      const { body, records } = await view(tx)
      const headers = records === undefined ? undefined : { 'x-weave-records': String(records) }
      return jsonResponse(body, { lastModified, headers })
    })
  }
  app.get(
    paths.infoCollections,
    routes.authenticated((c) => {
      const precondition = preconditionOf(c)
      const respond = ({ storage, collections }: UserTimestamps) => {
        checkPrecondition(precondition, storage)
        return jsonResponse(memoisedTimestampMapJson(collections), { lastModified: storage, headers: { 'x-weave-records': String(collections.size) } })
      }
      return then(deps.backend.userTimestamps(c.get('user')), respond)
    }),
  )
  app.get(paths.infoCollectionCounts, routes.authenticated(serve(views.counts)))
  app.get(paths.infoCollectionUsage, routes.authenticated(serve(views.usage)))
  app.get(paths.infoQuota, routes.authenticated(serve(views.quota)))
  app.get(paths.infoConfiguration, routes.open(() => jsonResponse(configurationJson(deps), { lastModified: 0 })))
}

/** The effective limits, published so clients size their uploads (§10.5). */
export function configurationJson({ limits }: StorageDeps): string {
  const configuration: Record<string, unknown> = {
    max_post_bytes: limits.max_post_bytes,
    max_post_records: limits.max_post_records,
    max_record_payload_bytes: limits.max_record_payload_bytes,
    max_request_bytes: limits.max_request_bytes,
    max_total_bytes: limits.max_total_bytes,
    max_total_records: limits.max_total_records,
    max_quota_limit: limits.max_quota_limit,
  }
  if (limits.collections !== undefined) configuration.collections = limits.collections
  return JSON.stringify(configuration)
}
