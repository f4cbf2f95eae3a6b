import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../env.ts'
import type { Logger } from '../logger.ts'
import { rawQueryOf } from '../../storage/query.ts'

/** One line per request: method, path, status, duration and uid; never tokens or payloads. */
export const requestLog = (logger: Logger): MiddlewareHandler<AppEnv> =>
  async function requestLog(c, next) {
    const started = performance.now()
    await next()
    logger.info('request', {
      method: c.req.method,
      path: c.req.path,
      query: rawQueryOf(c.req.url) || undefined,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      uid: c.get('logUid'),
    })
  }
