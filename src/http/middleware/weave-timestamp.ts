import { nowMillis } from '../../db/timestamps.ts'
import { formatTimestamp, parseTimestamp } from '../../wire-timestamp.ts'
import { isDockerflowPath } from './dockerflow.ts'
import type { Layer } from './layers.ts'

/**
 * Records when the request arrived and stamps X-Weave-Timestamp on the way out:
 * max(arrival, X-Last-Modified), so a write's timestamp equals its X-Last-Modified (§6.1).
 */
export const weaveTimestamp = (): Layer => ({
  before(c) {
    c.set('requestTime', nowMillis())
    return undefined
  },
  after(c) {
    if (isDockerflowPath(c.req.path)) return
    const lastModified = parseTimestamp(c.res.headers.get('x-last-modified') ?? '') ?? 0
    c.res.headers.set('x-weave-timestamp', formatTimestamp(Math.max(c.get('requestTime'), lastModified)))
  },
})
