import { SyncError, type SyncErrorKind } from '../errors.ts'
import { formatTimestamp } from '../wire-timestamp.ts'

/**
 * The only table from error kind to HTTP. Storage errors answer a bare weave error code
 * (storage-api.md §15); tokenserver errors answer `{"status", "errors": [...]}` (tokenserver.md §11).
 */
interface StorageRendering {
  http: number
  /** The weave code body; null for an empty body. */
  weave: number | null
}

interface TokenRendering {
  http: number
  status: string
  location: 'header' | 'url' | 'body' | 'internal'
  name?: string
  description: string
}

type Rendering = { storage: StorageRendering; token?: TokenRendering }

const internalToken: TokenRendering = { http: 500, status: 'internal-error', location: 'internal', description: 'Server error' }
const unauthorizedToken = (status: string): TokenRendering => ({ http: 401, status, location: 'body', description: 'Unauthorized' })

const ERRORS: Record<SyncErrorKind, Rendering> = {
  unauthorized: { storage: { http: 401, weave: 0 } },
  badRequest: { storage: { http: 400, weave: 0 } },
  invalidBso: { storage: { http: 400, weave: 8 } },
  sizeLimitExceeded: { storage: { http: 400, weave: 17 } },
  requestTooLarge: { storage: { http: 413, weave: 17 } },
  notFound: { storage: { http: 404, weave: 0 } },
  methodNotAllowed: { storage: { http: 405, weave: null } },
  notAcceptable: { storage: { http: 406, weave: 0 } },
  unsupportedMediaType: { storage: { http: 415, weave: 0 } },
  overQuota: { storage: { http: 403, weave: 14 } },
  notModified: { storage: { http: 304, weave: null } },
  preconditionFailed: { storage: { http: 412, weave: null } },
  // Clients mishandle 409 (bugs 959034, 959032); the reference answers 503 + Retry-After.
  conflict: { storage: { http: 503, weave: 0 }, token: { ...internalToken, http: 503 } },
  unavailable: { storage: { http: 503, weave: 0 }, token: { ...internalToken, http: 503 } },
  internal: { storage: { http: 500, weave: 0 }, token: internalToken },
  tokenUnauthorized: { storage: { http: 401, weave: 0 }, token: { ...unauthorizedToken('error') } },
  tokenUnsupported: { storage: { http: 401, weave: 0 }, token: { ...unauthorizedToken('error'), description: 'Unsupported' } },
  invalidCredentials: { storage: { http: 401, weave: 0 }, token: unauthorizedToken('invalid-credentials') },
  invalidKeyId: {
    storage: { http: 401, weave: 0 },
    token: { http: 401, status: 'invalid-key-id', location: 'header', description: 'Missing X-KeyID header' },
  },
  invalidClientState: { storage: { http: 401, weave: 0 }, token: unauthorizedToken('invalid-client-state') },
  invalidGeneration: { storage: { http: 401, weave: 0 }, token: unauthorizedToken('invalid-generation') },
  invalidKeysChangedAt: { storage: { http: 401, weave: 0 }, token: unauthorizedToken('invalid-keysChangedAt') },
  newUsersDisabled: {
    storage: { http: 403, weave: 0 },
    token: { http: 403, status: 'new-users-disabled', location: 'body', description: 'New users are not allowed' },
  },
  accountNotAllowed: {
    storage: { http: 403, weave: 0 },
    token: { http: 403, status: 'account-not-allowed', location: 'body', description: 'This account may not use this server' },
  },
  unsupportedApplication: {
    storage: { http: 404, weave: 0 },
    token: { http: 404, status: 'error', location: 'url', name: 'application', description: 'Unsupported application' },
  },
  unsupportedVersion: {
    storage: { http: 404, weave: 0 },
    token: { http: 404, status: 'error', location: 'url', description: 'Unsupported application version' },
  },
  invalidClientStateHeader: {
    storage: { http: 400, weave: 0 },
    token: { http: 400, status: 'error', location: 'header', name: 'X-Client-State', description: 'Invalid client state value' },
  },
  noNodeAvailable: { storage: { http: 503, weave: 0 }, token: { ...internalToken, http: 503 } },
  tokenInternal: { storage: { http: 500, weave: 0 }, token: internalToken },
  oauthTimeout: {
    storage: { http: 503, weave: 0 },
    token: { http: 503, status: 'error', location: 'body', description: 'Resource is not available' },
  },
  elapsed: { storage: { http: 504, weave: 0 }, token: { http: 504, status: 'elapsed', location: 'body', description: 'Elapsed' } },
}

const RETRY_AFTER_SECONDS = '10'

/** A storage error response: the weave code as the whole JSON body. */
export function storageErrorResponse(error: SyncError): Response {
  const { http, weave } = ERRORS[error.kind].storage
  const headers: Record<string, string> = {}
  if (error.options.lastModified !== undefined) headers['x-last-modified'] = formatTimestamp(error.options.lastModified)
  if (http === 503) headers['retry-after'] = RETRY_AFTER_SECONDS
  if (weave === null) return new Response(null, { status: http, headers })
  headers['content-type'] = 'application/json'
  return new Response(String(weave), { status: http, headers })
}

/** A tokenserver error response with exactly one entry in `errors`. */
export function tokenErrorResponse(error: SyncError): Response {
  const rendering = ERRORS[error.kind].token ?? internalToken
  const body = {
    status: rendering.status,
    errors: [
      {
        location: error.options.location ?? rendering.location,
        name: error.options.name ?? rendering.name ?? '',
        description: error.options.description ?? rendering.description,
      },
    ],
  }
  return new Response(JSON.stringify(body), {
    status: rendering.http,
    headers: { 'content-type': 'application/json' },
  })
}

export const asSyncError = (error: unknown): SyncError =>
  error instanceof SyncError ? error : new SyncError('internal', 'unexpected error', { cause: error })

