import { compactVerify, errors, importJWK, type CompactJWSHeaderParameters } from 'jose'
import { isSyncError, SyncError } from '../errors.ts'
import { asInt64, isJsonObject, parseJsonExact } from './exact-json.ts'

/** The scope a token must carry to use Sync (tokenserver.md §4). */
export const OLDSYNC_SCOPE = 'https://identity.mozilla.com/apps/oldsync'

/** What a verified FxA access token says about its account. */
export interface VerifiedAccessToken {
  /** `sub`: the FxA uid. */
  fxaUid: string
  /** `fxa-generation`; null when absent or 0 (§4.3). */
  generation: bigint | null
  /** An `fxa-email` / `email` claim, when FxA put one in (only the allow-list reads it). */
  email: string | null
}

export interface AccessTokenVerifier {
  /**
   * @throws SyncError('invalidCredentials') for any token FxA would not vouch for;
   *   SyncError('oauthTimeout') when verification outlasts the timeout.
   */
  verify(token: string): Promise<VerifiedAccessToken>
}

/** The public members of an RSA JWK; anything else in the setting (e.g. fxa_created_at) is ignored. */
export interface RsaJwk {
  kty: string
  n: string
  e: string
}

export interface OAuthVerifierOptions {
  /** `fxa_oauth_server_url`; `v1/jwks` and `v1/verify` are resolved against it (§4.2). */
  serverUrl: string
  /** Bounds the whole verification, key fetch and remote call included. */
  timeoutMs: number
  /** Configured keys, primary first. None: the accounts server's key set is used. */
  jwks: readonly RsaJwk[]
  /** Milliseconds since the epoch; for tests. */
  now?: () => number
}

/** Claims as read from a JWT or a `/v1/verify` answer, before the scope check. */
interface TokenClaims {
  fxaUid: string
  scope: string
  generation: bigint | null
  email: string | null
}

type LocalOutcome =
  | { kind: 'verified'; claims: TokenClaims }
  /** Not a JWT this server can read, or no usable key: ask the accounts server (§4.2). */
  | { kind: 'undecided' }
  /** No key verifies the signature. */
  | { kind: 'untrusted' }
  /** Signed by a known key but unacceptable (expired, wrong `typ`). */
  | { kind: 'rejected'; reason: string }

/** jsonwebtoken's default, which the reference uses. */
const EXP_LEEWAY_SECONDS = 60
const JWKS_MAX_AGE_MS = 3_600_000
/** A token signed by an unknown key refetches the key set at most this often. */
const JWKS_MIN_REFETCH_MS = 60_000

/**
 * Verifies FxA OAuth access tokens as the reference's native verifier does (§4.1–4.2): RS256 JWTs
 * against the configured keys (primary, then secondary) or, when none are configured, against
 * the accounts server's key set; tokens that are not readable JWTs go to `POST /v1/verify`.
 *
 * @example
 * const verifier = new OAuthVerifier({ serverUrl: 'https://oauth.accounts.firefox.com', timeoutMs: 10_000, jwks: [] })
 * const { fxaUid, generation } = await verifier.verify(bearer)
 */
export class OAuthVerifier implements AccessTokenVerifier {
  readonly #options: OAuthVerifierOptions
  readonly #now: () => number
  readonly #verifyUrl: URL
  readonly #configuredKeys: Promise<CryptoKey[]>
  readonly #remoteKeys: RemoteKeySet

  constructor(options: OAuthVerifierOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#verifyUrl = new URL('v1/verify', options.serverUrl)
    this.#configuredKeys = importRsaKeys(options.jwks)
    this.#remoteKeys = new RemoteKeySet(new URL('v1/jwks', options.serverUrl), this.#now)
  }

  async verify(token: string): Promise<VerifiedAccessToken> {
    const signal = AbortSignal.timeout(this.#options.timeoutMs)
    try {
      const claims = (await this.#verifyLocally(token, signal)) ?? (await this.#verifyRemotely(token, signal))
      return acceptedClaims(claims)
    } catch (error) {
      if (!isSyncError(error) && signal.aborted) throw new SyncError('oauthTimeout', 'FxA verification timed out', { cause: error })
      throw error
    }
  }

  /** The claims, or undefined when the accounts server must decide. */
  async #verifyLocally(token: string, signal: AbortSignal): Promise<TokenClaims | undefined> {
    if (this.#options.jwks.length > 0) return settle(await tryKeys(token, await this.#configuredKeys, this.#nowSeconds()))
    let outcome = await tryKeys(token, await this.#remoteKeys.keys(signal), this.#nowSeconds())
    // FxA may have rotated its key since the set was fetched.
    if (outcome.kind === 'untrusted' && (await this.#remoteKeys.refetch(signal))) {
      outcome = await tryKeys(token, await this.#remoteKeys.keys(signal), this.#nowSeconds())
    }
    return settle(outcome)
  }

  async #verifyRemotely(token: string, signal: AbortSignal): Promise<TokenClaims> {
    let answer: unknown
    try {
      const response = await fetch(this.#verifyUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
        signal,
      })
      if (!response.ok) throw new Error(`FxA /v1/verify answered ${response.status}`)
      answer = parseJsonExact(await response.text())
    } catch (error) {
      if (signal.aborted) throw error
      throw new SyncError('invalidCredentials', 'FxA did not verify the token', { cause: error })
    }
    return verifyAnswerClaims(answer) ?? invalidCredentials('FxA /v1/verify answer is malformed')
  }

  #nowSeconds(): number {
    return this.#now() / 1000
  }
}

function settle(outcome: LocalOutcome): TokenClaims | undefined {
  switch (outcome.kind) {
    case 'verified':
      return outcome.claims
    case 'undecided':
      return undefined
    case 'untrusted':
      return invalidCredentials('no known key signed the token')
    case 'rejected':
      return invalidCredentials(outcome.reason)
  }
}

/** Scope check (§4.1): FxA separates scopes with spaces, the reference splits on commas; accept both. */
function acceptedClaims(claims: TokenClaims): VerifiedAccessToken {
  if (!claims.scope.split(/[ ,]/).includes(OLDSYNC_SCOPE)) invalidCredentials('token lacks the oldsync scope')
  return { fxaUid: claims.fxaUid, generation: claims.generation === 0n ? null : claims.generation, email: claims.email }
}

/** Tries each key in order; only a bad signature moves on to the next one, as in the reference. */
async function tryKeys(token: string, keys: readonly CryptoKey[], nowSeconds: number): Promise<LocalOutcome> {
  if (keys.length === 0) return { kind: 'undecided' }
  for (const key of keys) {
    try {
      const { payload, protectedHeader } = await compactVerify(token, key, { algorithms: ['RS256'] })
      return verifiedOutcome(payload, protectedHeader, nowSeconds)
    } catch (error) {
      if (error instanceof errors.JWSSignatureVerificationFailed) continue
      return { kind: 'undecided' }
    }
  }
  return { kind: 'untrusted' }
}

/** Claims of a correctly signed JWT, checked in jsonwebtoken's order: exp, then claims, then `typ`. */
function verifiedOutcome(payload: Uint8Array, header: CompactJWSHeaderParameters, nowSeconds: number): LocalOutcome {
  const raw = readJsonObject(new TextDecoder().decode(payload))
  const exp = raw?.exp
  if (raw === undefined || (typeof exp !== 'bigint' && typeof exp !== 'number')) return { kind: 'undecided' }
  if (Number(exp) < nowSeconds - EXP_LEEWAY_SECONDS) return { kind: 'rejected', reason: 'token expired' }
  const claims = jwtClaims(raw)
  if (claims === undefined) return { kind: 'undecided' }
  if (!isAccessTokenType(header.typ)) return { kind: 'rejected', reason: `token typ is ${header.typ ?? 'missing'}` }
  return { kind: 'verified', claims }
}

/** RFC 7515 §4.1.9: a `typ` without a slash has an implicit `application/`. */
function isAccessTokenType(typ: string | undefined): boolean {
  if (typ === undefined) return false
  const full = typ.includes('/') ? typ : `application/${typ}`
  return full.toLowerCase() === 'application/at+jwt'
}

function jwtClaims(raw: Record<string, unknown>): TokenClaims | undefined {
  const generation = optionalInt64(raw['fxa-generation'])
  if (typeof raw.sub !== 'string' || typeof raw.scope !== 'string' || generation === undefined) return undefined
  return { fxaUid: raw.sub, scope: raw.scope, generation, email: optionalEmail(raw['fxa-email'] ?? raw.email) }
}

/** `{"user": "...", "scope": ["..."], "generation": n | null}`; other keys are ignored (§4.2). */
function verifyAnswerClaims(answer: unknown): TokenClaims | undefined {
  if (!isJsonObject(answer)) return undefined
  const { user, scope } = answer
  const generation = optionalInt64(answer.generation)
  if (typeof user !== 'string' || !isStringArray(scope) || generation === undefined) return undefined
  return { fxaUid: user, scope: scope.join(','), generation, email: optionalEmail(answer.email) }
}

/** null when absent or null, the value when a 64-bit integer, undefined when anything else. */
function optionalInt64(value: unknown): bigint | null | undefined {
  return value === undefined || value === null ? null : asInt64(value)
}

const optionalEmail = (value: unknown): string | null => (typeof value === 'string' ? value : null)

function readJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = parseJsonExact(text)
    return isJsonObject(value) ? value : undefined
  } catch {
    return undefined
  }
}

const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string')

function invalidCredentials(reason: string): never {
  throw new SyncError('invalidCredentials', reason)
}

/** RS256 verification keys of the JWKs that are usable RSA keys; the others are skipped. */
export async function importRsaKeys(jwks: readonly unknown[]): Promise<CryptoKey[]> {
  const keys: CryptoKey[] = []
  for (const jwk of jwks) {
    if (!isJsonObject(jwk) || jwk.kty !== 'RSA' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') continue
    try {
      const key = await importJWK({ kty: 'RSA', n: jwk.n, e: jwk.e }, 'RS256')
      if (!(key instanceof Uint8Array)) keys.push(key)
    } catch {
      // A malformed key is as good as none (§4.2: "no usable key").
    }
  }
  return keys
}

/**
 * The accounts server's key set (`GET v1/jwks`), fetched on first use and kept for an hour.
 * A failed fetch counts as an empty set, retried after a minute; a fetch cut short by the
 * timeout is not remembered.
 */
class RemoteKeySet {
  #keys: CryptoKey[] = []
  #fetchedAt: number | undefined
  #fetching: Promise<void> | undefined

  constructor(
    private readonly url: URL,
    private readonly now: () => number,
  ) {}

  async keys(signal: AbortSignal): Promise<CryptoKey[]> {
    const age = this.#age()
    if (age === undefined || age >= JWKS_MAX_AGE_MS || (this.#keys.length === 0 && age >= JWKS_MIN_REFETCH_MS)) {
      await this.#fetch(signal)
    }
    return this.#keys
  }

  /** Fetches again unless the last fetch is under a minute old; true when it fetched. */
  async refetch(signal: AbortSignal): Promise<boolean> {
    const age = this.#age()
    if (age !== undefined && age < JWKS_MIN_REFETCH_MS) return false
    await this.#fetch(signal)
    return true
  }

  #age(): number | undefined {
    return this.#fetchedAt === undefined ? undefined : this.now() - this.#fetchedAt
  }

  /** Concurrent requests share one fetch. */
  #fetch(signal: AbortSignal): Promise<void> {
    this.#fetching ??= this.#load(signal).finally(() => {
      this.#fetching = undefined
    })
    return this.#fetching
  }

  async #load(signal: AbortSignal): Promise<void> {
    const keys = await fetchKeySet(this.url, signal)
    if (keys === undefined) return
    this.#keys = keys
    this.#fetchedAt = this.now()
  }
}

/** The usable keys of the set; [] when the server fails; undefined when the fetch was cut short. */
async function fetchKeySet(url: URL, signal: AbortSignal): Promise<CryptoKey[] | undefined> {
  try {
    const response = await fetch(url, { signal })
    if (!response.ok) return []
    const body: unknown = await response.json()
    return isJsonObject(body) && Array.isArray(body.keys) ? await importRsaKeys(body.keys) : []
  } catch {
    return signal.aborted ? undefined : []
  }
}
