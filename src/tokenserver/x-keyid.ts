import { SyncError } from '../errors.ts'
import { VISIBLE_ASCII } from './authorization.ts'
import { asInt64 } from './exact-json.ts'

/** What `X-KeyID` says about the client's keys (tokenserver.md §5). */
export interface KeyId {
  /** Lowercase hex of the key fingerprint; may be ''. */
  clientState: string
  /** null when absent or 0 (the reference treats 0 as absent). */
  keysChangedAt: bigint | null
}

const CLIENT_STATE_HEADER = /^[a-zA-Z0-9._-]{1,32}$/
const BASE64URL = /^[A-Za-z0-9_-]*$/
const I64 = /^[+-]?\d+$/

/**
 * Reads `X-KeyID: <keys_changed_at>-<base64url(client state)>` and checks the optional
 * `X-Client-State` against it, in the reference's order: KeyID presence and form, base64,
 * X-Client-State, then the integer (§5).
 */
export function parseKeyId(keyIdHeader: string | undefined, clientStateHeader: string | undefined): KeyId {
  if (keyIdHeader === undefined) throw new SyncError('invalidKeyId', 'missing X-KeyID')
  if (!VISIBLE_ASCII.test(keyIdHeader)) {
    throw new SyncError('invalidKeyId', 'X-KeyID is not ASCII', { description: 'Invalid X-KeyID header' })
  }
  const dash = keyIdHeader.indexOf('-')
  if (dash === -1) throw invalidCredentials('X-KeyID has no "-"')
  const clientState = decodeClientState(keyIdHeader.slice(dash + 1))
  checkClientStateHeader(clientStateHeader, clientState)
  const keysChangedAt = parseI64(keyIdHeader.slice(0, dash))
  return { clientState, keysChangedAt: keysChangedAt === 0n ? null : keysChangedAt }
}

/** URL-safe base64 without padding, canonical (no stray trailing bits), as hex. */
function decodeClientState(encoded: string): string {
  const bytes = Buffer.from(encoded, 'base64url')
  if (!BASE64URL.test(encoded) || bytes.toString('base64url') !== encoded) {
    throw invalidCredentials('X-KeyID client state is not unpadded base64url')
  }
  return bytes.toString('hex')
}

/** A header that is not visible ASCII counts as absent, as in the reference. */
function checkClientStateHeader(header: string | undefined, clientState: string): void {
  if (header === undefined || !VISIBLE_ASCII.test(header)) return
  if (!CLIENT_STATE_HEADER.test(header)) throw new SyncError('invalidClientStateHeader', 'malformed X-Client-State')
  if (header !== clientState) throw new SyncError('invalidClientState', 'X-Client-State differs from X-KeyID')
}

function parseI64(text: string): bigint {
  const value = I64.test(text) ? asInt64(BigInt(text)) : undefined
  if (value === undefined) throw invalidCredentials('X-KeyID keys_changed_at is not a 64-bit integer')
  return value
}

const invalidCredentials = (reason: string) => new SyncError('invalidCredentials', reason)
