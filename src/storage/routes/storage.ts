import type { Context, Hono } from 'hono'
import type { AppEnv } from '../../http/env.ts'
import type { StorageRoutes } from '../api.ts'
import type { StorageDeps } from '../context.ts'
import { checkPrecondition } from '../headers.ts'
import { paths } from '../paths.ts'
import { preconditionOf } from '../request.ts'
import { jsonResponse } from '../responses.ts'

/** DELETE `/1.5/{uid}` and `/1.5/{uid}/storage`: everything the user has (§10.12). */
export function registerStorage(app: Hono<AppEnv>, deps: StorageDeps, routes: StorageRoutes): void {
  const deleteAll = (c: Context<AppEnv>) => {
    const precondition = preconditionOf(c)
    return deps.backend.withTransaction({ user: c.get('user'), mode: 'wipe' }, async (tx) => {
      const lastModified = await tx.storageTimestamp()
      checkPrecondition(precondition, lastModified)
      await tx.deleteStorage()
      return jsonResponse('null', { lastModified })
    })
  }
  app.delete(paths.user, routes.authenticated(deleteAll))
  app.delete(paths.storage, routes.authenticated(deleteAll))
}
