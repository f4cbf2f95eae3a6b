/**
 * One tokenserver per test: a fresh database of the backend under test, the API built on it
 * with RS256 keys of our own as FxA's, and helpers to sign access tokens and make requests
 * through `app.request()` (no port).
 */
import { afterEach } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { CompactSign, exportJWK, generateKeyPair } from 'jose'
import type { Hono } from 'hono'
import { parseSettings } from '../../src/config/load.ts'
import { resolveSettings, type Settings } from '../../src/config/settings.ts'
import { openTokenserverDb } from '../../src/db/open.ts'
import { SYNC_SERVICE, type NewNode, type NodeRecord, type TokenserverDb, type UserRecord } from '../../src/db/tokenserver-types.ts'
import type { AppEnv } from '../../src/http/env.ts'
import { silentLogger, type Logger } from '../../src/http/logger.ts'
import { createTokenserverApi, type TokenserverApiDeps } from '../../src/tokenserver/api.ts'
import { OLDSYNC_SCOPE } from '../../src/tokenserver/verify.ts'
import type { TestBackend } from '../support/backends.ts'

export const MASTER_SECRET = 'secret0 of the tokenserver tests, long enough'
export const EMAIL_DOMAIN = 'api-accounts.stage.mozaws.net'
export const NODE_URL = 'https://node.example.com'
/** Nothing listens here: a test that reaches FxA without meaning to fails fast, offline. */
export const UNREACHABLE_FXA = 'http://127.0.0.1:9'
/** base64url of 0xaaaa, the client state used unless a test says otherwise. */
export const KEY_ID = '1234-qqo'

export type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

export interface KeyPair {
  privateKey: SigningKey
  /** The public key as the settings take it. */
  jwk: { kty: 'RSA'; n: string; e: string }
}

export async function newKeyPair(): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const { n, e } = await exportJWK(publicKey)
  return { privateKey, jwk: { kty: 'RSA', n: n as string, e: e as string } }
}

/** Generated once per file: RSA key generation is slow. */
export const primaryKey = await newKeyPair()
export const secondaryKey = await newKeyPair()
/** A key pair no configuration trusts. */
export const strangerKey = await newKeyPair()

export interface AccessTokenOptions {
  sub?: string
  /** `fxa-generation`; omitted when null. */
  generation?: number | bigint | null
  scope?: string
  key?: KeyPair
  /** JOSE `typ`; omitted when null. */
  typ?: string | null
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number
  extraClaims?: Record<string, unknown>
}

/**
 * A signed FxA-style access token (RS256, typ at+jwt, oldsync scope). The payload is written by
 * hand so a bigint generation keeps all its digits.
 */
export async function accessToken(options: AccessTokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const claims = {
    sub: options.sub ?? newFxaUid(),
    scope: options.scope ?? OLDSYNC_SCOPE,
    iat: now,
    exp: now + (options.expiresIn ?? 300),
    ...options.extraClaims,
  }
  const generation = options.generation === undefined ? 1234 : options.generation
  const json = JSON.stringify(claims)
  const payload = generation === null ? json : `${json.slice(0, -1)},"fxa-generation":${generation}}`
  const header = options.typ === null ? { alg: 'RS256' } : { alg: 'RS256', typ: options.typ ?? 'at+jwt' }
  return new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader(header).sign((options.key ?? primaryKey).privateKey)
}

export const newFxaUid = (): string => randomBytes(16).toString('hex')

export const emailOf = (fxaUid: string): string => `${fxaUid}@${EMAIL_DOMAIN}`

export interface TokenRequest {
  /** The bearer token; a fresh access token when omitted. */
  token?: string
  /** Omitted when null. */
  keyId?: string | null
  clientState?: string
  path?: string
  method?: string
  headers?: Record<string, string>
}

export interface HarnessOptions {
  /** Top-level settings (e.g. `master_secret`) over the harness defaults. */
  settings?: Record<string, unknown>
  /** `[tokenserver]` settings over the harness defaults. */
  tokenserver?: Record<string, unknown>
  /** Nodes to insert; one 100-slot node at NODE_URL when omitted. */
  nodes?: Omit<NewNode, 'service'>[]
  verifier?: TokenserverApiDeps['verifier']
  now?: () => number
  /** Where the API logs; nowhere when omitted. */
  logger?: Logger
}

/** The 200 body of §10. */
export interface TokenBody {
  id: string
  key: string
  uid: number
  api_endpoint: string
  duration: number
  hashed_fxa_uid: string
  hashalg: string
  node_type: string
}

export interface Harness {
  db: TokenserverDb
  service: number
  settings: Settings
  app: Hono<AppEnv>
  request(request?: TokenRequest): Promise<Response>
  /** A request that must answer 200; its body. */
  token(request?: TokenRequest): Promise<TokenBody>
  /** Every row of the user, newest first, read back through the database interface. */
  rows(fxaUid: string): Promise<UserRecord[]>
  nodes(): Promise<NodeRecord[]>
  node(url: string): Promise<NodeRecord>
  close(): Promise<void>
}

export const node = (url: string, fields: Partial<Omit<NewNode, 'service' | 'node'>> = {}): Omit<NewNode, 'service'> => ({
  node: url,
  available: 100,
  currentLoad: 0,
  capacity: 100,
  downed: false,
  backoff: false,
  ...fields,
})

export async function createHarness(backend: TestBackend, options: HarnessOptions = {}): Promise<Harness> {
  const db = await openTokenserverDb(await (backend.tokenserverDatabaseUrl ?? backend.freshDatabaseUrl)(), { runMigrations: true })
  const service = (await db.serviceId(SYNC_SERVICE)) as number
  for (const spec of options.nodes ?? [node(NODE_URL)]) await db.insertNode({ ...spec, service })
  const raw = parseSettings({
    master_secret: MASTER_SECRET,
    tokenserver: {
      fxa_email_domain: EMAIL_DOMAIN,
      fxa_oauth_server_url: UNREACHABLE_FXA,
      fxa_metrics_hash_secret: MASTER_SECRET,
      fxa_oauth_primary_jwk: primaryKey.jwk,
      node_type: 'mysql',
      ...options.tokenserver,
    },
    ...options.settings,
  })
  const settings = await resolveSettings(raw)
  const app = createTokenserverApi({ db, settings, logger: options.logger ?? silentLogger, verifier: options.verifier, now: options.now })
  const nodes = () => db.listNodes(service)
  const request = async (request: TokenRequest = {}) => {
    const headers: Record<string, string> = { ...request.headers }
    headers.authorization ??= `Bearer ${request.token ?? (await accessToken())}`
    if (request.keyId !== null) headers['x-keyid'] = request.keyId ?? KEY_ID
    if (request.clientState !== undefined) headers['x-client-state'] = request.clientState
    return app.request(request.path ?? '/1.0/sync/1.5', { method: request.method ?? 'GET', headers })
  }
  return {
    db,
    service,
    settings,
    app,
    request,
    async token(tokenRequest) {
      const response = await request(tokenRequest)
      if (response.status !== 200) throw new Error(`expected 200, got ${response.status} ${await response.text()}`)
      return (await response.json()) as TokenBody
    },
    rows: (fxaUid) => db.listUsers({ service, email: emailOf(fxaUid) }),
    nodes,
    async node(url) {
      const found = (await nodes()).find((candidate) => candidate.node === url)
      if (found === undefined) throw new Error(`no node ${url}`)
      return found
    },
    close: () => db.close(),
  }
}

/**
 * For a describe block: returns `createHarness` for its backend and closes, after each test,
 * every harness the test opened.
 */
export function harnessPerTest(backend: TestBackend): (options?: HarnessOptions) => Promise<Harness> {
  const opened: Harness[] = []
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((harness) => harness.close()))
  })
  return async (options) => {
    const harness = await createHarness(backend, options)
    opened.push(harness)
    return harness
  }
}

/** The whole JSON body of a tokenserver error (§11). */
export const errorBody = (status: string, location: string, name: string, description: string) => ({
  status,
  errors: [{ location, name, description }],
})

export const UNAUTHORIZED = (status: string) => errorBody(status, 'body', '', 'Unauthorized')
