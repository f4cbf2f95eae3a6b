import type { MiddlewareHandler } from 'hono'
import { parseHawkHeader, resolveHostPort, verifyHawk } from '../../auth/hawk.ts'
import type { TokenVerifier } from '../../auth/token.ts'
import { SyncError } from '../../errors.ts'
import type { AppEnv } from '../env.ts'

export interface HawkAuthOptions {
  verifier: TokenVerifier
  /** Host, port and scheme used when the request names none (the bound address). */
  fallback: { host: string; port: number; scheme: 'http' | 'https' }
  now?: () => number
}

// Clients poll info/collections with an expired token to learn whether they need a new one (§4.5).
const EXPIRY_EXEMPT = /^\/1\.5\/[^/]+\/info\/collections$/

/**
 * Hawk authentication of the storage API (storage-api.md §4): verifies the token id and the
 * MAC over the raw request line, checks expiry and that the token's uid is the URL's uid, and
 * sets `user`. Runs per route, after routing, so unknown paths answer 404 before auth.
 */
export const hawkAuth = (options: HawkAuthOptions): MiddlewareHandler<AppEnv> =>
  async function hawkAuth(c, next) {
    const nowSeconds = (options.now ?? Date.now)() / 1000
    const header = parseHawkHeader(c.req.header('authorization'))
    const { payload, key } = options.verifier.verify(header.id)
    const { host, port } = resolveHostPort(c.req.raw.headers, options.fallback)
    const path = c.req.path
    verifyHawk(header, key, { method: c.req.method, pathAndQuery: requestLineTarget(c.req.url), host, port }, nowSeconds)
    if (!EXPIRY_EXEMPT.test(path) && !(Math.round(payload.expires) > nowSeconds)) {
      throw new SyncError('unauthorized', 'token expired')
    }
    if (Number(c.req.param('uid')) !== payload.uid) throw new SyncError('badRequest', 'token is for another uid')
    c.set('user', { uid: payload.uid, fxaUid: payload.fxa_uid, fxaKid: payload.fxa_kid })
    c.set('logUid', String(payload.uid))
    c.set('tokenserverOrigin', payload.tokenserver_origin ?? 'python')
    await next()
  }

/** Path and query as on the request line: Bun keeps them verbatim in `Request.url`. */
export function requestLineTarget(url: string): string {
  const pathStart = url.indexOf('/', url.indexOf('//') + 2)
  return pathStart === -1 ? '/' : url.slice(pathStart)
}
