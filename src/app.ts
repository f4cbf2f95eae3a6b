import { Hono } from 'hono'
import { TokenVerifier } from './auth/token.ts'
import type { Settings } from './config/settings.ts'
import type { StorageBackend } from './db/types.ts'
import { createStorageApi } from './storage/api.ts'
import { withinBackend } from './storage/limits.ts'
import type { AppEnv } from './http/env.ts'
import type { Logger } from './http/logger.ts'
import { cors } from './http/middleware/cors.ts'
import { REQUESTS_PER_CONNECTION, spreadConnections } from './http/middleware/connection-spread.ts'
import { layers, type Layer } from './http/middleware/layers.ts'
import { rejectOldIosClients } from './http/middleware/reject-ua.ts'
import { requestLog } from './http/middleware/request-log.ts'
import { weaveTimestamp } from './http/middleware/weave-timestamp.ts'
import { registerOps } from './http/ops.ts'
import { registerHomePage } from './http/home-page.ts'
import { parseDatabaseUrl } from './db/url.ts'

export interface AppParts {
  settings: Settings
  logger: Logger
  /** Absent when `syncstorage.enabled` is false (a tokenserver-only server). */
  storage?: StorageBackend
  /** The tokenserver sub-app, mounted when `tokenserver.enabled`. */
  tokenserver?: { api: Hono<AppEnv>; check: () => Promise<boolean> }
  /** The request metrics layer, when StatsD or Prometheus is on (src/metrics). */
  metrics?: Layer
  /** This process is one of several workers sharing the port. */
  sharedPort?: boolean
}

const ENGINE_NAMES = { sqlite: 'SQLite', postgres: 'PostgreSQL', mysql: 'MySQL', spanner: 'Spanner' } as const

const STORAGE_DOCS = 'https://mozilla-services.readthedocs.io/en/latest/storage/apis-1.5.html'
const TOKEN_DOCS = 'https://mozilla-services.readthedocs.io/en/latest/token/apis.html'

/**
 * The whole server as one Hono app. Middleware runs outermost first, in the reference's order
 * (storage-api.md §3): CORS, old-iOS rejection, request log, X-Weave-Timestamp, then routes;
 * a worker sharing the port closes a connection now and then outside all of them.
 */
export function createApp({ settings, logger, storage, tokenserver, metrics, sharedPort }: AppParts): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  app.use(
    layers(
      ...(sharedPort ? [spreadConnections(REQUESTS_PER_CONNECTION)] : []),
      cors({
        allowedOrigin: settings.cors_allowed_origin,
        allowedMethods: settings.cors_allowed_methods,
        allowedHeaders: settings.cors_allowed_headers,
        maxAge: settings.cors_max_age,
      }),
      rejectOldIosClients(),
      settings.log_requests ? requestLog(logger) : {},
      ...(metrics === undefined ? [] : [metrics]),
      weaveTimestamp(),
    ),
  )
  registerHomePage(app, {
    publicUrl: settings.public_url,
    engine: ENGINE_NAMES[parseDatabaseUrl(settings.syncstorage.enabled ? settings.syncstorage.database_url : settings.tokenserver.database_url).engine],
    tokenserver: tokenserver !== undefined,
  })
  registerOps(app, {
    storage,
    checks: tokenserver ? [tokenserver.check] : [],
    quota: { enabled: settings.syncstorage.enable_quota, size: settings.syncstorage.limits.max_quota_limit },
    lbheartbeatTtlSeconds: lbheartbeatTtl(settings),
    docsUrl: storage ? STORAGE_DOCS : TOKEN_DOCS,
    logger,
  })
  if (tokenserver) app.route('/', tokenserver.api)
  if (storage) {
    app.route(
      '/',
      createStorageApi(
        {
          backend: storage,
          limits: withinBackend(settings.syncstorage.limits, storage.limits),
          quota: {
            enabled: settings.syncstorage.enable_quota,
            enforced: settings.syncstorage.enforce_quota,
            limit: settings.syncstorage.limits.max_quota_limit,
          },
          logger,
        },
        {
          verifier: new TokenVerifier(settings.master_secret, { previousSecrets: settings.previous_master_secrets }),
          fallback: fallbackHost(settings),
        },
      ),
    )
  }
  // Every unknown storage path answers the weave 404 `0`; tokenserver paths an empty 404 (§2).
  app.notFound((c) =>
    c.req.path.startsWith('/1.0/')
      ? new Response(null, { status: 404 })
      : new Response('0', { status: 404, headers: { 'content-type': 'application/json' } }),
  )
  return app
}

function fallbackHost(settings: Settings): { host: string; port: number; scheme: 'http' | 'https' } {
  const url = new URL(settings.public_url)
  const scheme = url.protocol === 'https:' ? 'https' : 'http'
  return { host: url.hostname, port: Number(url.port || (scheme === 'https' ? 443 : 80)), scheme }
}

/** The configured TTL stretched by a random jitter, so a fleet does not recycle at once. */
function lbheartbeatTtl(settings: Settings): number | undefined {
  const ttl = settings.syncstorage.lbheartbeat_ttl
  if (ttl === undefined) return undefined
  return ttl * (1 + (Math.random() * settings.syncstorage.lbheartbeat_ttl_jitter) / 100)
}
