import type { Hono } from 'hono'
import type { AppEnv } from './env.ts'
import { buildCommit } from '../build-info.ts' with { type: 'macro' }
import type { StorageBackend } from '../db/types.ts'
import { VERSION } from '../version.ts'
import type { Logger } from './logger.ts'

export interface OpsOptions {
  storage?: StorageBackend
  /** Extra database checks (the tokenserver's), all of which must pass. */
  checks: (() => Promise<boolean>)[]
  quota: { enabled: boolean; size: number }
  /** Seconds after start when lbheartbeat starts failing, to recycle instances; with its jitter applied. */
  lbheartbeatTtlSeconds?: number
  docsUrl: string
  logger: Logger
}

const COMMIT = buildCommit()
const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

/** Dockerflow endpoints (config.md §6): no auth, no X-Weave-Timestamp. */
export function registerOps(app: Hono<AppEnv>, options: OpsOptions): void {
  const startedAt = Date.now()
  let exhaustedSince: number | undefined

  const storage = options.storage
  const checks = storage === undefined ? options.checks : [() => storage.check(), ...options.checks]

  app.get('/__heartbeat__', async () => {
    const base = { version: VERSION, ...(storage ? { quota: options.quota } : {}) }
    try {
      const ok = (await Promise.all(checks.map((check) => check()))).every(Boolean)
      return json(ok ? { ...base, database: 'Ok', status: 'Ok' } : { ...base, database: 'Err', database_msg: 'check failed without error', status: 'Err' })
    } catch (error) {
      options.logger.error('heartbeat database check failed', { error: String(error) })
      return json({ ...base, status: 'Err', database: 'Unknown' }, 503)
    }
  })

  app.get('/__lbheartbeat__', () => {
    if (options.lbheartbeatTtlSeconds !== undefined && Date.now() - startedAt > options.lbheartbeatTtlSeconds * 1000) {
      return json({}, 500)
    }
    if (storage === undefined) return json({})
    const pool = storage.poolStatus()
    const status = { active_connections: pool.active, idle_connections: pool.idle }
    if (pool.active >= pool.max && pool.idle === 0) {
      exhaustedSince ??= Date.now()
      return json({ ...status, duration_ms: Date.now() - exhaustedSince }, 500)
    }
    exhaustedSince = undefined
    return json(status)
  })

  app.get('/__version__', () =>
    json({ build: `syncserver ${VERSION}`, commit: COMMIT, source: 'syncserver', version: VERSION }),
  )

  app.get('/__error__', () => {
    options.logger.error('Test Error')
    return new Response('0', { status: 500, headers: { 'content-type': 'application/json' } })
  })

  app.get('/', (c) => c.redirect(options.docsUrl, 302))
}
