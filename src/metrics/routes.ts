import type { Context } from 'hono'
import type { AppEnv } from '../http/env.ts'

/** Requests that matched no route (404s of unknown paths) share one label. */
export const UNMATCHED_ROUTE = 'unmatched'

const labels = new Map<string, string>()

/** A parameter's pattern, `{…}`, which may hold one level of braces itself (`{[0-9]{1,10}}`). */
const CONSTRAINT = /\{(?:[^{}]|\{[^{}]*\})*\}/g

/**
 * The route a request matched, as a metric label: its pattern with the parameters' constraints
 * dropped (`/1.5/:uid/storage/:collection`). Never the path itself, which names a user.
 */
export function routeOf(c: Context<AppEnv>): string {
  for (const route of c.req.matchedRoutes) {
    if (route.path === '/*') continue
    let label = labels.get(route.path)
    if (label === undefined) {
      label = route.path.replace(CONSTRAINT, '')
      labels.set(route.path, label)
    }
    return label
  }
  return UNMATCHED_ROUTE
}

/** syncstorage-rs's name of each storage API operation (its `request.<name>` counters). */
const OPERATIONS: Record<string, string> = {
  'GET /1.5/:uid/info/collections': 'get_collections',
  'GET /1.5/:uid/info/collection_counts': 'get_collection_counts',
  'GET /1.5/:uid/info/collection_usage': 'get_collection_usage',
  'GET /1.5/:uid/info/quota': 'get_quota',
  'DELETE /1.5/:uid': 'delete_all',
  'DELETE /1.5/:uid/storage': 'delete_all',
  'GET /1.5/:uid/storage/:collection': 'get_collection',
  'POST /1.5/:uid/storage/:collection': 'post_collection',
  'DELETE /1.5/:uid/storage/:collection': 'delete_collection',
  'GET /1.5/:uid/storage/:collection/:bso': 'get_bso',
  'PUT /1.5/:uid/storage/:collection/:bso': 'put_bso',
  'DELETE /1.5/:uid/storage/:collection/:bso': 'delete_bso',
}

/**
 * The storage operations a request counts as, as the reference names them: a collection DELETE
 * with `ids` is `delete_bsos`, and a POST to a batch counts as `post_collection_batch` too.
 */
export function storageOperations(c: Context<AppEnv>, route: string): readonly string[] {
  const operation = OPERATIONS[`${c.req.method} ${route}`]
  if (operation === 'delete_collection' && c.req.query('ids') !== undefined) return ['delete_bsos']
  if (operation === 'post_collection' && c.req.query('batch') !== undefined) return ['post_collection', 'post_collection_batch']
  return operation === undefined ? [] : [operation]
}
