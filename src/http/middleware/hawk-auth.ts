import type { Context } from 'hono'
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
 * sets `user`. Called by each route's handler, after routing, so unknown paths answer 404
 * before auth; a plain function rather than a middleware, which would cost every request
 * another async frame of Hono's dispatch.
 * @throws SyncError when the request is not authenticated.
 */
export const hawkAuthenticator = (options: HawkAuthOptions) =>
  function authenticate(c: Context<AppEnv>): void {
    const nowSeconds = (options.now ?? Date.now)() / 1000
    const request = c.req.raw
    const header = parseHawkHeader(request.headers.get('authorization'))
    const { payload, hawkKey } = options.verifier.verify(header.id)
    const { host, port } = resolveHostPort(request.headers, options.fallback)
    verifyHawk(header, hawkKey, { method: request.method, pathAndQuery: requestLineTarget(request.url), host, port }, nowSeconds)
    if (!(Math.round(payload.expires) > nowSeconds) && !EXPIRY_EXEMPT.test(c.req.path)) {
      throw new SyncError('unauthorized', 'token expired')
    }
    if (Number(c.req.param('uid')) !== payload.uid) throw new SyncError('badRequest', 'token is for another uid')
    c.set('user', { uid: payload.uid, fxaUid: payload.fxa_uid, fxaKid: payload.fxa_kid })
    c.set('logUid', String(payload.uid))
    c.set('tokenserverOrigin', payload.tokenserver_origin ?? 'python')
  }

/** Path and query as on the request line: Bun keeps them verbatim in `Request.url`. */
export function requestLineTarget(url: string): string {
  const pathStart = url.indexOf('/', url.indexOf('//') + 2)
  return pathStart === -1 ? '/' : url.slice(pathStart)
}
