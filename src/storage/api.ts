import { Hono } from 'hono'
import { SyncError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import { asSyncError, storageErrorResponse } from '../http/errors.ts'
import { hawkAuth, type HawkAuthOptions } from '../http/middleware/hawk-auth.ts'
import type { StorageDeps } from './context.ts'
import { paths } from './paths.ts'
import { registerBso } from './routes/bso.ts'
import { registerCollection } from './routes/collection.ts'
import { registerInfo } from './routes/info.ts'
import { registerStorage } from './routes/storage.ts'

/** The Sync 1.5 storage API as a Hono sub-app that renders its own weave-code errors. */
export function createStorageApi(deps: StorageDeps, auth: HawkAuthOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  const authenticate = hawkAuth(auth)
  registerInfo(app, deps, authenticate)
  registerStorage(app, deps, authenticate)
  registerCollection(app, deps, authenticate)
  registerBso(app, deps, authenticate)
  // A known path with a method it does not serve is a 405 with an empty body (§2).
  for (const path of Object.values(paths)) {
    app.all(path, () => {
      throw new SyncError('methodNotAllowed')
    })
  }
  app.onError((error, c) => {
    const syncError = asSyncError(error)
    if (syncError.kind === 'internal') {
      deps.logger.error('storage request failed', { path: c.req.path, error: describe(error) })
    }
    return storageErrorResponse(syncError)
  })
  return app
}

const describe = (error: unknown) => (error instanceof Error ? (error.stack ?? error.message) : String(error))
