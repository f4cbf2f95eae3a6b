import type { Context } from 'hono'
import type { AppEnv } from '../http/env.ts'
import type { Layer } from '../http/middleware/layers.ts'
import { routeOf } from './routes.ts'

/** Told about every request once it has its response. */
export type RequestRecorder = (c: Context<AppEnv>, route: string, seconds: number) => void

/**
 * The metrics layer. It reads the start time the request log sets, so it sits right inside
 * the request log and counts the requests the log shows. With metrics off it is not installed
 * at all, so they cost nothing.
 */
export const requestMetrics = (recorders: readonly RequestRecorder[]): Layer => ({
  after(c) {
    const route = routeOf(c)
    const seconds = (performance.now() - c.get('requestStarted')) / 1000
    for (const record of recorders) record(c, route, seconds)
  },
})

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH'])

/** Any method a client invents becomes one label, so labels stay few. */
export const methodLabel = (method: string): string => (KNOWN_METHODS.has(method) ? method : 'OTHER')
