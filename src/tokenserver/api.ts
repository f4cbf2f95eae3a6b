import { Hono } from 'hono'
import { mintToken } from '../auth/token.ts'
import { SYNC_SERVICE, type TokenserverDb } from '../db/tokenserver-types.ts'
import { isSyncError, SyncError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import { asSyncError, tokenErrorResponse } from '../http/errors.ts'
import type { Logger } from '../http/logger.ts'
import { checkAccountAllowed, refusalNotice } from './allow-list.ts'
import { bearerToken } from './authorization.ts'
import { withRequestTimeout } from './db-timeout.ts'
import { formatFxaKid } from './fxa-kid.ts'
import { metricsHashes, type MetricsHashes } from './hashes.ts'
import type { TokenserverSettings } from './settings.ts'
import { assignUser, type Assignment, type AssignmentPolicy } from './users.ts'
import { OAuthVerifier, type AccessTokenVerifier } from './verify.ts'
import { registerFxaWebhook, WEBHOOK_PATH } from './webhook.ts'
import { parseKeyId } from './x-keyid.ts'

export const TOKEN_PATH = '/1.0/:application/:version'

export interface TokenserverApiDeps {
  db: TokenserverDb
  settings: TokenserverSettings
  logger: Logger
  /** Defaults to an {@link OAuthVerifier} configured from the settings. */
  verifier?: AccessTokenVerifier
  /** Milliseconds since the epoch; for tests. */
  now?: () => number
}

/**
 * Tokenserver 1.0 (tokenserver.md): `GET /1.0/{application}/{version}` exchanges an FxA OAuth
 * token for a storage token, and `POST /1.0/webhooks/fxa/events` is added when
 * `fxa_webhook_enabled`. Every error is rendered as a tokenserver JSON body.
 *
 * @example
 * app.route('/', createTokenserverApi({ db, settings, logger }))
 */
export function createTokenserverApi(deps: TokenserverApiDeps): Hono<AppEnv> {
  const { settings, logger } = deps
  const config = settings.tokenserver
  const now = deps.now ?? Date.now
  const db = withRequestTimeout(deps.db, config.database_request_timeout)
  const verifier = deps.verifier ?? oauthVerifierFor(config)
  const serviceId = cachedServiceId(db)
  const policy: AssignmentPolicy = {
    allowNewUsers: config.allow_new_users,
    nodes: { releaseRate: config.node_capacity_release_rate, spannerNodeId: config.spanner_node_id },
  }

  const app = new Hono<AppEnv>()
  app.onError((error, c) => {
    if (!isSyncError(error)) logger.error('tokenserver request failed', { path: c.req.path, error: String(error) })
    return tokenErrorResponse(asSyncError(error))
  })

  app.get(TOKEN_PATH, async function issueToken(c) {
    // §2 step 1: credentials are checked before anything about the path.
    const account = await verifier.verify(bearerToken(c.req.header('authorization')))
    const keyId = parseKeyId(c.req.header('x-keyid'), c.req.header('x-client-state'))
    const hashes = metricsHashes(account.fxaUid, config.fxa_metrics_hash_secret)
    c.set('logUid', hashes.fullHashedFxaUid)
    checkApplication(c.req.param('application'), c.req.param('version'))
    const service = await serviceId()
    const email = `${account.fxaUid}@${config.fxa_email_domain}`
    const logRefusal = (error: unknown): never => {
      const refusal = refusalNotice(error, account.fxaUid, config)
      if (refusal) logger.warn(refusal.message, refusal.fields)
      throw error
    }
    try {
      checkAccountAllowed({ fxaUid: account.fxaUid, email, claimedEmail: account.email }, config)
    } catch (error) {
      logRefusal(error)
    }
    const duration = tokenDuration(c.req.query('duration'), config.token_duration)
    const claims = { email, generation: account.generation, keysChangedAt: keyId.keysChangedAt, clientState: keyId.clientState }
    const assignment = await assignUser(db, { service, claims, policy, now: () => BigInt(now()) }).catch(logRefusal)
    const nowSeconds = Math.floor(now() / 1000)
    const body = tokenBody({ settings, assignment, fxaUid: account.fxaUid, hashes, duration, expires: nowSeconds + duration })
    return c.json(body, 200, { 'X-Timestamp': String(nowSeconds), 'X-Content-Type-Options': 'nosniff' })
  })
  app.all(TOKEN_PATH, methodNotAllowed)

  if (config.fxa_webhook_enabled) {
    registerFxaWebhook(app, { db, config, logger, serviceId, now })
    app.all(WEBHOOK_PATH, methodNotAllowed)
  }
  return app
}

const methodNotAllowed = () => new Response(null, { status: 405 })

function oauthVerifierFor(config: TokenserverSettings['tokenserver']): OAuthVerifier {
  return new OAuthVerifier({
    serverUrl: config.fxa_oauth_server_url,
    timeoutMs: config.fxa_oauth_request_timeout * 1000,
    jwks: [config.fxa_oauth_primary_jwk, config.fxa_oauth_secondary_jwk].filter((jwk) => jwk !== undefined),
  })
}

/** §7: only sync 1.5 is served. */
function checkApplication(application: string, version: string): void {
  if (application !== 'sync') throw new SyncError('unsupportedApplication', `unsupported application ${application}`)
  if (version !== '1.5') throw new SyncError('unsupportedVersion', `unsupported version ${version}`, { name: version })
}

/**
 * The id of `sync-1.5`, looked up once it exists (§12.4). Test fixtures and ops tooling keep
 * that row while they rewrite `users` and `nodes`, so only the id is cached, never a row.
 */
function cachedServiceId(db: TokenserverDb): () => Promise<number> {
  let cached: number | undefined
  return async () => {
    if (cached !== undefined) return cached
    const id = await db.serviceId(SYNC_SERVICE)
    if (id === null) throw new SyncError('unavailable', `service ${SYNC_SERVICE} is missing`)
    cached = id
    return id
  }
}

const DURATION = /^\+?\d+$/

/** §10: `?duration=` may shorten the token, never lengthen it; anything unusable is ignored. */
function tokenDuration(requested: string | undefined, maximum: number): number {
  if (requested === undefined || !DURATION.test(requested)) return maximum
  const seconds = Number(requested)
  return seconds <= maximum ? seconds : maximum
}

interface TokenFacts {
  settings: TokenserverSettings
  assignment: Assignment
  fxaUid: string
  hashes: MetricsHashes
  duration: number
  /** Seconds since the epoch. */
  expires: number
}

/** The 200 body of §10; the token's fxa_kid carries the values the request left in the database. */
function tokenBody({ settings, assignment, fxaUid, hashes, duration, expires }: TokenFacts) {
  const token = mintToken(settings.master_secret, {
    uid: assignment.uid,
    node: assignment.node,
    expires,
    fxa_uid: fxaUid,
    fxa_kid: formatFxaKid(assignment.keysChangedAt, assignment.generation, assignment.clientState),
    hashed_device_id: hashes.hashedDeviceId,
    hashed_fxa_uid: hashes.hashedFxaUid,
    tokenserver_origin: 'rust',
  })
  return {
    id: token.id,
    key: token.key,
    uid: assignment.uid,
    api_endpoint: `${assignment.node}/1.5/${assignment.uid}`,
    duration,
    hashed_fxa_uid: hashes.hashedFxaUid,
    hashalg: 'sha256',
    node_type: settings.tokenserver.node_type,
  }
}
