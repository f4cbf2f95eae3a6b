/**
 * The one error type of the server. Every failure that has a protocol meaning is a `SyncError`
 * with a `kind`; `src/http/errors.ts` is the only place that turns a kind into a status and body.
 * Backends translate driver errors into kinds (e.g. a lock timeout becomes `conflict`), so
 * nothing above the database layer ever inspects driver errors.
 */
export type SyncErrorKind =
  // Storage API (weave-code bodies)
  | 'unauthorized' // Hawk / token failure: 401, body 0
  | 'badRequest' // bad query, header, batch id, uid mismatch: 400, body 0
  | 'invalidBso' // body/record validation: 400, body 8
  | 'sizeLimitExceeded' // X-Weave-* over a limit: 400, body 17
  | 'requestTooLarge' // Content-Length over max_request_bytes: 413, body 17
  | 'notFound' // 404, body 0
  | 'methodNotAllowed' // 405, empty body
  | 'notAcceptable' // 406, body 0
  | 'unsupportedMediaType' // 415, body 0
  | 'overQuota' // 403, body 14
  | 'notModified' // X-If-Modified-Since satisfied: 304, empty body
  | 'preconditionFailed' // X-If-Unmodified-Since failed: 412, empty body
  | 'conflict' // write conflict: 503 + Retry-After, body 0
  | 'unavailable' // pool exhausted / database unreachable: 503 + Retry-After, body 0
  | 'internal' // 500, body 0
  // Tokenserver (JSON status/errors bodies)
  | 'tokenUnauthorized'
  | 'tokenUnsupported'
  | 'invalidCredentials'
  | 'invalidKeyId'
  | 'invalidClientState'
  | 'invalidGeneration'
  | 'invalidKeysChangedAt'
  | 'newUsersDisabled'
  | 'accountNotAllowed'
  | 'unsupportedApplication'
  | 'unsupportedVersion'
  | 'invalidClientStateHeader'
  | 'noNodeAvailable'
  | 'tokenInternal'
  | 'oauthTimeout'
  | 'elapsed'

export interface SyncErrorOptions {
  /** Overrides the default description of tokenserver error bodies. */
  description?: string
  /** Overrides the default location of tokenserver error bodies. */
  location?: 'header' | 'url' | 'body' | 'internal'
  /** Overrides the default name of tokenserver error bodies. */
  name?: string
  cause?: unknown
  /** The resource timestamp (ms) a 304 / 412 reports in X-Last-Modified. */
  lastModified?: number
}

export class SyncError extends Error {
  readonly kind: SyncErrorKind
  readonly options: SyncErrorOptions

  constructor(kind: SyncErrorKind, message?: string, options: SyncErrorOptions = {}) {
    super(message ?? kind, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SyncError'
    this.kind = kind
    this.options = options
  }
}

export const isSyncError = (error: unknown, kind?: SyncErrorKind): error is SyncError =>
  error instanceof SyncError && (kind === undefined || error.kind === kind)
