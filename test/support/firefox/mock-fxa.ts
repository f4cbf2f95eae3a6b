/**
 * A local stand-in for the Firefox Accounts (FxA) servers: just enough of the auth, OAuth and
 * profile APIs for a real Firefox to sign in and fetch `oldsync` access tokens, and for a
 * tokenserver to verify those tokens (JWKS or /v1/verify).
 * Shapes follow /work/shared/firefox-e2e.md §3.
 */
import { createHash, hkdfSync, randomBytes, randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose'

export const OLDSYNC_SCOPE = 'https://identity.mozilla.com/apps/oldsync'
/** Desktop Firefox's OAuth client id; it sends this in every token request. */
export const FIREFOX_CLIENT_ID = '5882386c6d801776'

export interface ScopedKey {
  kid: string
  k: string
  kty: 'oct'
  scope: string
}

export interface Account {
  /** FxA uid, 32 hex chars; the tokenserver sees it as the JWT `sub`. */
  uid: string
  email: string
  /** 32 bytes hex. Firefox never sends it, only the Hawk id derived from it. */
  sessionToken: string
  /** The account's root sync key, 32 bytes hex. */
  kB: string
  /** Milliseconds; becomes the tokenserver's keys_changed_at via the key id. */
  keysChangedAt: number
  /** Sent as `fxa-generation`; never below keysChangedAt, as the tokenserver requires. */
  generation: number
  scopedKeys: Record<string, ScopedKey>
}

export interface AccountOptions {
  uid?: string
  kB?: string
  keysChangedAt?: number
}

export interface RecordedRequest {
  method: string
  path: string
  status: number
}

export interface MockFxa {
  /** Origin of the mock, e.g. `http://127.0.0.1:9000` (no trailing slash). */
  url: string
  /** The public RSA JWK that signs every access token. */
  jwk: JWK
  createAccount(options?: AccountOptions): Account
  /** Every request answered so far, in order. */
  requests(): RecordedRequest[]
  /** Requests no route matched; a non-empty list means Firefox wants an endpoint we lack. */
  unhandled(): RecordedRequest[]
  stop(): Promise<void>
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')
const hkdf = (ikm: Buffer, info: string, length: number): Buffer =>
  Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), info, length))

/** The Hawk id Firefox signs FxA requests with (FxAccountsClient / hawkclient). */
export function sessionTokenHawkId(sessionToken: string): string {
  const derived = hkdf(Buffer.from(sessionToken, 'hex'), 'identity.mozilla.com/picl/v1/sessionToken', 96)
  return derived.subarray(0, 32).toString('hex')
}

/**
 * The "legacy" oldsync scoped key, derived as FxAccountsKeys._deriveLegacyScopedKey does:
 * k = kSync (AES + HMAC key), kid = `<keysChangedAt>-<kXCS>`; kXCS is the tokenserver's client state.
 */
export function deriveOldsyncKey(kB: string, keysChangedAt: number): ScopedKey {
  const kBBytes = Buffer.from(kB, 'hex')
  const kSync = hkdf(kBBytes, 'identity.mozilla.com/picl/v1/oldsync', 64)
  const kXCS = createHash('sha256').update(kBBytes).digest().subarray(0, 16)
  return { kid: `${keysChangedAt}-${b64url(kXCS)}`, k: b64url(kSync), kty: 'oct', scope: OLDSYNC_SCOPE }
}

export function createAccount(options: AccountOptions = {}): Account {
  const uid = options.uid ?? randomBytes(16).toString('hex')
  const kB = options.kB ?? randomBytes(32).toString('hex')
  const keysChangedAt = options.keysChangedAt ?? Date.now()
  return {
    uid,
    email: `e2e-${uid.slice(0, 8)}@example.com`,
    sessionToken: randomBytes(32).toString('hex'),
    kB,
    keysChangedAt,
    generation: keysChangedAt,
    scopedKeys: { [OLDSYNC_SCOPE]: deriveOldsyncKey(kB, keysChangedAt) },
  }
}

interface IssuedToken {
  account: Account
  scope: string
}

interface MockState {
  url: string
  jwk: JWK
  publicKey: CryptoKey
  privateKey: CryptoKey
  accountsByHawkId: Map<string, Account>
  tokens: Map<string, IssuedToken>
  devices: Map<string, Record<string, unknown>[]>
}

type Handler = (req: Request, state: MockState) => Promise<Response> | Response

function json(body: unknown, status = 200): Response {
  // Firefox takes Hawk clock skew from the Date header, so every answer must carry one.
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', Date: new Date().toUTCString() },
  })
}

/** FxA's error body for a request it cannot authenticate (errno 110 = invalid token). */
const unauthorized = (): Response =>
  json({ code: 401, errno: 110, error: 'Unauthorized', message: 'Invalid authentication token in request signature' }, 401)

function hawkAccount(req: Request, state: MockState): Account | undefined {
  const id = /^Hawk .*\bid="([^"]+)"/.exec(req.headers.get('authorization') ?? '')?.[1]
  return id === undefined ? undefined : state.accountsByHawkId.get(id)
}

function bearerToken(req: Request, state: MockState): IssuedToken | undefined {
  const token = /^Bearer (.+)$/i.exec(req.headers.get('authorization') ?? '')?.[1]
  return token === undefined ? undefined : state.tokens.get(token)
}

/** Wraps a handler that needs the signed-in session (Hawk with the sessionToken id). */
const withSession =
  (handler: (req: Request, account: Account, state: MockState) => Promise<Response> | Response): Handler =>
  (req, state) => {
    const account = hawkAccount(req, state)
    return account ? handler(req, account, state) : unauthorized()
  }

async function issueAccessToken(state: MockState, account: Account, scope: string, ttl: number): Promise<string> {
  const token = await new SignJWT({
    client_id: FIREFOX_CLIENT_ID,
    scope,
    'fxa-generation': account.generation,
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: state.jwk.kid })
    .setIssuer(state.url)
    .setSubject(account.uid)
    .setAudience(FIREFOX_CLIENT_ID)
    .setIssuedAt()
    .setExpirationTime(`${ttl}s`)
    .setJti(randomUUID())
    .sign(state.privateKey)
  state.tokens.set(token, { account, scope })
  return token
}

const oauthToken = withSession(async (req, account, state) => {
  const body = (await req.json()) as { scope?: string; ttl?: number }
  const scope = body.scope ?? OLDSYNC_SCOPE
  const ttl = body.ttl ?? 3600
  const accessToken = await issueAccessToken(state, account, scope, ttl)
  return json({
    access_token: accessToken,
    token_type: 'bearer',
    scope,
    expires_in: ttl,
    auth_at: Math.floor(Date.now() / 1000),
  })
})

/** The tokenserver's fallback when it cannot verify a JWT locally. */
async function verifyToken(req: Request, state: MockState): Promise<Response> {
  const { token } = (await req.json()) as { token?: string }
  try {
    const { payload } = await jwtVerify(token ?? '', state.publicKey, { typ: 'at+jwt' })
    return json({
      user: payload.sub,
      client_id: payload.client_id,
      scope: String(payload.scope).split(/[ ,]/),
      generation: payload['fxa-generation'] ?? null,
    })
  } catch {
    return json({ code: 400, errno: 108, error: 'Bad Request', message: 'Invalid token' }, 400)
  }
}

const registerDevice = withSession(async (req, account, state) => {
  const posted = (await req.json()) as Record<string, unknown>
  const devices = state.devices.get(account.uid) ?? []
  const existing = devices.find((d) => d.id === posted.id)
  const device = existing
    ? Object.assign(existing, posted)
    : { ...posted, id: randomBytes(16).toString('hex'), createdAt: Date.now() }
  if (!existing) devices.push(device)
  state.devices.set(account.uid, devices)
  return json(device)
})

const listDevices = withSession((_req, account, state) =>
  json((state.devices.get(account.uid) ?? []).map((d) => ({ ...d, isCurrentDevice: true }))),
)

function profile(req: Request, state: MockState): Response {
  const issued = bearerToken(req, state)
  if (!issued) return unauthorized()
  const { uid, email } = issued.account
  return json({ uid, email, displayName: null, avatar: null, avatarDefault: true })
}

const scopedKeyData = withSession((_req, account) =>
  json({
    [OLDSYNC_SCOPE]: {
      identifier: OLDSYNC_SCOPE,
      keyRotationSecret: '0'.repeat(64),
      keyRotationTimestamp: account.keysChangedAt,
    },
  }),
)

function clientConfiguration(state: MockState): Response {
  return json({
    auth_server_base_url: state.url,
    oauth_server_base_url: state.url,
    profile_server_base_url: `${state.url}/profile`,
    pairing_server_base_uri: `${state.url.replace(/^http/, 'ws')}/pairing`,
  })
}

const ROUTES: Record<string, Handler> = {
  'POST /v1/oauth/token': oauthToken,
  'POST /v1/verify': verifyToken,
  'GET /v1/jwks': (_req, state) => json({ keys: [state.jwk] }),
  'GET /v1/account/attached_clients': withSession(() => json([])),
  'GET /v1/account/devices': listDevices,
  'POST /v1/account/device': registerDevice,
  'GET /v1/account/device/commands': withSession(() => json({ index: 0, messages: [], last: true })),
  'POST /v1/account/devices/notify': withSession(() => json({})),
  'GET /profile/v1/profile': profile,
  'GET /v1/session/status': withSession((_req, account) => json({ state: 'verified', uid: account.uid })),
  'GET /v1/recovery_email/status': withSession((_req, account) =>
    json({ email: account.email, verified: true, sessionVerified: true, emailVerified: true }),
  ),
  'GET /v1/account/status': () => json({ exists: true }),
  'POST /v1/account/status': () => json({ exists: true }),
  'POST /v1/account/scoped-key-data': scopedKeyData,
  'POST /v1/oauth/destroy': () => json({}),
  'POST /v1/session/destroy': () => json({}),
  'GET /.well-known/fxa-client-configuration': (_req, state) => clientConfiguration(state),
}

/**
 * Starts the mock on 127.0.0.1 (port 0 = any free port).
 *
 * @example
 * const fxa = await startMockFxa()
 * const account = fxa.createAccount()
 * // prefs: identity.fxaccounts.auth.uri = `${fxa.url}/v1`
 */
export async function startMockFxa(options: { port?: number } = {}): Promise<MockFxa> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: `mockfxa-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' }
  const log: RecordedRequest[] = []
  const unhandled: RecordedRequest[] = []
  const state: MockState = {
    url: '',
    jwk,
    publicKey,
    privateKey,
    accountsByHawkId: new Map(),
    tokens: new Map(),
    devices: new Map(),
  }

  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: options.port ?? 0,
    async fetch(req) {
      const { pathname } = new URL(req.url)
      const handler = ROUTES[`${req.method} ${pathname}`]
      const response = handler ? await handler(req, state) : json({})
      const entry = { method: req.method, path: pathname, status: response.status }
      log.push(entry)
      if (!handler) unhandled.push(entry)
      return response
    },
  })
  state.url = `http://127.0.0.1:${server.port}`

  return {
    url: state.url,
    jwk,
    createAccount(accountOptions) {
      const account = createAccount(accountOptions)
      state.accountsByHawkId.set(sessionTokenHawkId(account.sessionToken), account)
      return account
    },
    requests: () => [...log],
    unhandled: () => [...unhandled],
    stop: () => server.stop(true),
  }
}
