import type { Context } from 'hono'
import { SyncError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import { rawQueryOf } from '../http/raw-query.ts'
import { parseCollectionQuery, BSO_ID, type CollectionQuery } from './query.ts'
import { parsePrecondition, type Precondition } from './headers.ts'

/** The collection named by the path (already matched against its pattern by the router). */
export const collectionParam = (c: Context<AppEnv>): string => c.req.param('collection') as string

/** The BSO id named by the path, percent-decoded, then held to the id rule (400 otherwise). */
export function bsoIdParam(c: Context<AppEnv>): string {
  const id = c.req.param('bso') as string
  if (!BSO_ID.test(id)) throw new SyncError('badRequest', 'invalid BSO id')
  return id
}

export const queryOf = (c: Context<AppEnv>): CollectionQuery => parseCollectionQuery(rawQueryOf(c.req.url))

export const preconditionOf = (c: Context<AppEnv>): Precondition => parsePrecondition((name) => c.req.header(name))
