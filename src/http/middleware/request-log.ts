import type { Logger } from '../logger.ts'
import { rawQueryOf } from '../raw-query.ts'
import type { Layer } from './layers.ts'

/** One line per request: method, path, status, duration and uid; never tokens or payloads. */
export const requestLog = (logger: Logger): Layer => ({
  before(c) {
    c.set('requestStarted', performance.now())
    return undefined
  },
  after(c) {
    logger.info('request', {
      method: c.req.method,
      path: c.req.path,
      query: rawQueryOf(c.req.url) || undefined,
      status: c.res.status,
      ms: Math.round((performance.now() - c.get('requestStarted')) * 10) / 10,
      uid: c.get('logUid'),
    })
  },
})
