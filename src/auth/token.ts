import { SyncError } from '../errors.ts'
import { HawkKey } from './hawk.ts'
import { LruCache } from '../lru-cache.ts'
import { randomBytes } from '../random.ts'

/** The signed JSON inside a token id (storage-api.md §4.2). */
export interface TokenPayload {
  uid: number
  node: string
  /** Seconds since the epoch; may be fractional in tokens minted elsewhere. */
  expires: number
  salt: string
  fxa_uid: string
  fxa_kid: string
  hashed_fxa_uid?: string
  hashed_device_id?: string
  tokenserver_origin?: string
}

/** What {@link mintToken} needs; `salt` is random when omitted. */
export type TokenFields = Omit<TokenPayload, 'salt'> & { salt?: string }

/** A token id together with the Hawk key a client signs requests with. */
export interface TokenCredentials {
  id: string
  key: string
}

/** A verified token: its payload and the Hawk key derived for it. */
export interface VerifiedToken {
  payload: Readonly<TokenPayload>
  key: string
  /** `key` ready to sign, kept with the token in the cache. */
  hawkKey: HawkKey
}

/** Derives the per-token Hawk key (§4.1); replaceable so tests can count derivations. */
export type DeriveTokenSecret = (masterSecret: string, salt: string, id: string) => string

export interface TokenVerifierOptions {
  /**
   * Secrets that signed tokens before the current one; their tokens keep verifying until they
   * expire, so a secret can be rotated without a wave of 401s. New tokens never use them.
   */
  previousSecrets?: readonly string[]
  /** How many verified token ids to remember (least recently used go first). Default 10 000. */
  cacheSize?: number
  /** Defaults to {@link deriveTokenSecret}. */
  deriveKey?: DeriveTokenSecret
}

const SIGNING_INFO = 'services.mozilla.com/tokenlib/v1/signing'
const DERIVE_INFO_PREFIX = 'services.mozilla.com/tokenlib/v1/derive/'
const SIGNATURE_BYTES = 32
const DEFAULT_CACHE_SIZE = 10_000
const TOKENSERVER_ORIGINS = new Set(['python', 'rust'])
const OPTIONAL_STRING_KEYS = ['hashed_fxa_uid', 'hashed_device_id', 'tokenserver_origin'] as const

/**
 * Derives the Hawk key of a token: HKDF-SHA256 keyed by the master secret, salted with the
 * payload's salt text, with the token id as it was transmitted in the info (§4.1).
 */
export function deriveTokenSecret(masterSecret: string, salt: string, id: string): string {
  return toPaddedBase64Url(hkdfSha256(masterSecret, salt, DERIVE_INFO_PREFIX + id))
}

/**
 * Builds a token id and its Hawk key the way the Rust tokenserver does (§4.2): compact JSON in
 * its key order, followed by the HMAC of those bytes, as padded base64url.
 *
 * @example
 * const { id, key } = mintToken(secret, { uid: 1, node: 'http://localhost:8000',
 *   expires: now + 3600, fxa_uid: '…', fxa_kid: '0000000001234-qqo' })
 */
export function mintToken(masterSecret: string, fields: TokenFields): TokenCredentials {
  const salt = fields.salt ?? randomBytes(3).toString('hex')
  const json = JSON.stringify({
    node: fields.node,
    fxa_kid: fields.fxa_kid,
    fxa_uid: fields.fxa_uid,
    hashed_device_id: fields.hashed_device_id,
    hashed_fxa_uid: fields.hashed_fxa_uid,
    expires: Math.trunc(fields.expires),
    uid: fields.uid,
    tokenserver_origin: fields.tokenserver_origin ?? 'rust',
    salt,
  })
  const payload = Buffer.from(json, 'utf8')
  const signature = hmacSha256(signingSecret(masterSecret), payload)
  const id = toPaddedBase64Url(Buffer.concat([payload, signature]))
  return { id, key: deriveTokenSecret(masterSecret, salt, id) }
}

/** A master secret with the signing secret derived from it once. */
interface KnownSecret {
  master: string
  signing: Buffer
}

/**
 * Checks token ids signed with the shared master secret (or a previous one) and derives their
 * Hawk keys from the secret that signed them. Clients reuse one token for many requests, so
 * verified ids are remembered in a bounded LRU cache and their HKDF is not repeated. Expiry is
 * left to the caller (§4.5 exempts info/collections).
 */
export class TokenVerifier {
  readonly #secrets: readonly KnownSecret[]
  readonly #deriveKey: DeriveTokenSecret
  readonly #cache: LruCache<string, VerifiedToken>

  constructor(masterSecret: string, options: TokenVerifierOptions = {}) {
    this.#secrets = [masterSecret, ...(options.previousSecrets ?? [])].map((master) => ({ master, signing: signingSecret(master) }))
    this.#deriveKey = options.deriveKey ?? deriveTokenSecret
    this.#cache = new LruCache(options.cacheSize ?? DEFAULT_CACHE_SIZE)
  }

  /**
   * Returns the payload and Hawk key of a token id.
   * @throws SyncError('unauthorized') when the id is malformed, forged or its payload invalid.
   */
  verify(id: string): VerifiedToken {
    const cached = this.#cache.get(id)
    if (cached !== undefined) return cached
    const { bytes, secret } = this.#signedPayload(id)
    const payload = Object.freeze(parsePayload(bytes))
    const key = this.#deriveKey(secret.master, payload.salt, id)
    const verified = Object.freeze({ payload, key, hawkKey: new HawkKey(key) })
    this.#cache.set(id, verified)
    return verified
  }

  #signedPayload(id: string): { bytes: Buffer; secret: KnownSecret } {
    const decoded = Buffer.from(id, 'base64url')
    // Buffer decoding skips junk and missing padding; the reference decoder does not (§4.2).
    if (toPaddedBase64Url(decoded) !== id) unauthorized('token id is not padded base64url')
    if (decoded.length <= SIGNATURE_BYTES) unauthorized('token id is too short')
    const payload = decoded.subarray(0, decoded.length - SIGNATURE_BYTES)
    const signature = decoded.subarray(decoded.length - SIGNATURE_BYTES)
    const secret = this.#secrets.find((known) => crypto.timingSafeEqual(hmacSha256(known.signing, payload), signature))
    if (secret === undefined) unauthorized('token signature does not match')
    return { bytes: payload, secret }
  }
}

function parsePayload(bytes: Buffer): TokenPayload {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    unauthorized('token payload is not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    unauthorized('token payload is not a JSON object')
  }
  return validatePayload(value as Record<string, unknown>)
}

function validatePayload(raw: Record<string, unknown>): TokenPayload {
  const { uid, node, expires, salt } = raw
  if (typeof uid !== 'number' || !Number.isSafeInteger(uid) || uid < 0) unauthorized('token uid is invalid')
  if (typeof node !== 'string') unauthorized('token node is invalid')
  if (typeof expires !== 'number') unauthorized('token expires is invalid')
  if (typeof salt !== 'string') unauthorized('token salt is invalid')
  const payload: TokenPayload = {
    uid,
    node,
    expires,
    salt,
    fxa_uid: optionalString(raw, 'fxa_uid') ?? '',
    fxa_kid: optionalString(raw, 'fxa_kid') ?? '',
  }
  for (const key of OPTIONAL_STRING_KEYS) {
    const value = optionalString(raw, key)
    if (value !== undefined) payload[key] = value
  }
  if (payload.tokenserver_origin !== undefined && !TOKENSERVER_ORIGINS.has(payload.tokenserver_origin)) {
    unauthorized('token tokenserver_origin is invalid')
  }
  return payload
}

/** A missing key is fine; a present one of the wrong type (even null) fails, as in the reference. */
function optionalString(raw: Record<string, unknown>, key: string): string | undefined {
  const value = raw[key]
  if (value === undefined || typeof value === 'string') return value
  return unauthorized(`token ${key} is invalid`)
}

function signingSecret(masterSecret: string): Buffer {
  // No salt: RFC 5869 then uses 32 zero bytes, which HMAC treats exactly like an empty key.
  return hkdfSha256(masterSecret, '', SIGNING_INFO)
}

/**
 * HKDF-SHA256 with a 32-byte output, i.e. one expand block. Written out with HMAC because
 * node's hkdfSync rejects info longer than 1024 bytes, and the info here embeds a token id,
 * which has no such limit.
 */
function hkdfSha256(ikm: string, salt: string, info: string): Buffer {
  const prk = hmacSha256(salt, Buffer.from(ikm, 'utf8'))
  return new Bun.CryptoHasher('sha256', prk).update(info).update(Uint8Array.of(1)).digest()
}

// Bun's native HMAC: loading node:crypto would cost the server memory at start.
function hmacSha256(key: string | Buffer, data: Buffer): Buffer {
  return new Bun.CryptoHasher('sha256', key).update(data).digest()
}

function toPaddedBase64Url(bytes: Buffer): string {
  const unpadded = bytes.toString('base64url')
  return unpadded + '='.repeat((4 - (unpadded.length % 4)) % 4)
}

function unauthorized(reason: string): never {
  throw new SyncError('unauthorized', reason)
}
