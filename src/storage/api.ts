import { Hono, type Context, type Handler } from 'hono'
import { SyncError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import type { Logger } from '../http/logger.ts'
import { asSyncError, storageErrorResponse } from '../http/errors.ts'
import { hawkAuthenticator, type HawkAuthOptions } from '../http/middleware/hawk-auth.ts'
import type { StorageDeps } from './context.ts'
import { paths } from './paths.ts'
import { registerBso } from './routes/bso.ts'
import { registerCollection } from './routes/collection.ts'
import { registerInfo } from './routes/info.ts'
import { registerStorage } from './routes/storage.ts'

export type StorageHandler = (c: Context<AppEnv>) => Response | Promise<Response>

/** Makes a route's Hono handler of a storage handler. */
export type StorageRoute = (handler: StorageHandler) => Handler<AppEnv>

export interface StorageRoutes {
  /** Hawk-authenticated first (storage-api.md §4). */
  authenticated: StorageRoute
  /** Without authentication (info/configuration). */
  open: StorageRoute
}

/**
 * The Sync 1.5 storage API as a Hono sub-app whose routes render their own weave-code errors.
 * Each route is one handler that authenticates and catches: a sub-app `onError` or an auth
 * middleware would wrap every request in more of Hono's async dispatch frames.
 */
export function createStorageApi(deps: StorageDeps, auth: HawkAuthOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  const rendered = renderingErrors(deps.logger)
  const authenticate = hawkAuthenticator(auth)
  const routes: StorageRoutes = {
    authenticated: (handler) =>
      rendered((c) => {
        authenticate(c)
        return handler(c)
      }),
    open: rendered,
  }
  registerInfo(app, deps, routes)
  registerStorage(app, deps, routes)
  registerCollection(app, deps, routes)
  registerBso(app, deps, routes)
  // A known path with a method it does not serve is a 405 with an empty body (§2).
  for (const path of Object.values(paths)) {
    app.all(
      path,
      rendered(() => {
        throw new SyncError('methodNotAllowed')
      }),
    )
  }
  return app
}

/**
 * Errors as storage responses, the way an `onError` would: `c.error` set for the metrics layer.
 * A handler that answers at once is answered at once (Hono then takes no promise hop either).
 */
function renderingErrors(logger: Logger): StorageRoute {
  const rendered = (c: Context<AppEnv>, error: unknown): Response => {
    // What is not an Error goes on to Hono, as it would past an onError.
    if (!(error instanceof Error)) throw error
    c.error = error
    const syncError = asSyncError(error)
    if (syncError.kind === 'internal') logger.error('storage request failed', { path: c.req.path, error: describe(error) })
    return storageErrorResponse(syncError)
  }
  return (handler) => (c) => {
    try {
      const response = handler(c)
      return response instanceof Promise ? response.catch((error: unknown) => rendered(c, error)) : response
    } catch (error) {
      return rendered(c, error)
    }
  }
}

const describe = (error: unknown) => (error instanceof Error ? (error.stack ?? error.message) : String(error))
