import { errors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose'
import type { Hono } from 'hono'
import type { TokenserverDb } from '../db/tokenserver-types.ts'
import { SyncError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import type { Logger } from '../http/logger.ts'
import { bearerToken } from './authorization.ts'
import type { TokenserverConfig } from './settings.ts'
import { isJsonObject } from './exact-json.ts'
import { importRsaKeys } from './verify.ts'

export const WEBHOOK_PATH = '/1.0/webhooks/fxa/events'

const DELETE_USER = 'https://schemas.accounts.firefox.com/event/delete-user'
const PASSWORD_CHANGE = 'https://schemas.accounts.firefox.com/event/password-change'

export interface FxaWebhookDeps {
  db: TokenserverDb
  config: TokenserverConfig
  logger: Logger
  serviceId: () => Promise<number>
  now: () => number
}

/**
 * `POST /1.0/webhooks/fxa/events` (tokenserver.md §13): FxA's Security Event Tokens retire
 * deleted accounts and raise the generation on password changes. Always answers 200 with an
 * empty body once the token verifies.
 */
export function registerFxaWebhook(app: Hono<AppEnv>, deps: FxaWebhookDeps): void {
  const verify = securityEventVerifier(deps.config)
  app.post(WEBHOOK_PATH, async function handleFxaEvents(c) {
    const claims = await verify(bearerToken(c.req.header('authorization')))
    const { events } = claims
    if (!isJsonObject(events)) return c.body(null, 200)
    deps.logger.info('fxa webhook events received', { count: Object.keys(events).length })
    if (deps.config.fxa_webhook_metrics_only) return c.body(null, 200)
    const key = { service: await deps.serviceId(), email: `${claims.sub}@${deps.config.fxa_email_domain}` }
    for (const [type, event] of Object.entries(events)) await applyEvent(deps, key, type, event)
    return c.body(null, 200)
  })
}

async function applyEvent(deps: FxaWebhookDeps, key: { service: number; email: string }, type: string, event: unknown) {
  if (type === DELETE_USER) {
    await deps.db.retireUser({ ...key, replacedAt: BigInt(deps.now()) })
    deps.logger.info('fxa webhook processed', { event_type: 'delete_user' })
    return
  }
  const changeTime = isJsonObject(event) ? event.changeTime : undefined
  if (type === PASSWORD_CHANGE && typeof changeTime === 'number' && Number.isSafeInteger(changeTime)) {
    await deps.db.raiseGeneration({ ...key, generation: BigInt(changeTime) - 1n })
    deps.logger.info('fxa webhook processed', { event_type: 'password_change' })
    return
  }
  deps.logger.info('fxa webhook event ignored', { event_type: type })
}

/**
 * RS256 with the configured JWKs, `aud` = fxa_webhook_set_client_id and `iss` =
 * fxa_webhook_set_issuer; without both settings nothing verifies.
 */
function securityEventVerifier(config: TokenserverConfig): (token: string) => Promise<JWTPayload & { sub: string }> {
  const jwks = [config.fxa_oauth_primary_jwk, config.fxa_oauth_secondary_jwk].filter((jwk) => jwk !== undefined)
  const keys = importRsaKeys(jwks)
  const audience = config.fxa_webhook_set_client_id
  const issuer = config.fxa_webhook_set_issuer
  return async function verifySecurityEvent(token) {
    if (audience === undefined || issuer === undefined) throw invalid('webhook verification is not configured')
    for (const key of await keys) {
      const payload = await payloadSignedBy(key, token, { algorithms: ['RS256'], audience, issuer })
      if (payload === undefined) continue
      if (typeof payload.sub !== 'string') throw invalid('security event has no sub')
      return { ...payload, sub: payload.sub }
    }
    throw invalid('no key verifies the security event token')
  }
}

/** The verified payload; undefined when the signature is another key's (try the next one). */
async function payloadSignedBy(key: CryptoKey, token: string, options: JWTVerifyOptions): Promise<JWTPayload | undefined> {
  try {
    return (await jwtVerify(token, key, options)).payload
  } catch (error) {
    if (error instanceof errors.JWSSignatureVerificationFailed) return undefined
    throw invalid('security event token rejected', error)
  }
}

const invalid = (reason: string, cause?: unknown) => new SyncError('invalidCredentials', reason, { cause })
