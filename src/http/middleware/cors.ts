import type { Layer } from './layers.ts'

export interface CorsOptions {
  /** `*` allows any origin (echoed back); otherwise the one origin allowed. */
  allowedOrigin: string
  allowedMethods: readonly string[]
  allowedHeaders: readonly string[]
  maxAge: number
}

/**
 * CORS as the reference's outermost layer does it (config.md §6.1): every OPTIONS request is a
 * preflight answered here, on any path, before routing and authentication.
 */
export const cors = (options: CorsOptions): Layer => ({
  before(c) {
    const origin = c.req.raw.headers.get('origin')
    const originAllowed = origin === null || options.allowedOrigin === '*' || origin === options.allowedOrigin
    if (c.req.method === 'OPTIONS') return preflight(c.req.raw.headers, options, originAllowed)
    if (!originAllowed) return new Response('Origin is not allowed to make this request', { status: 400 })
    return undefined
  },
  after(c) {
    const origin = c.req.raw.headers.get('origin')
    if (origin !== null) {
      c.res.headers.set('access-control-allow-origin', origin)
      c.res.headers.append('vary', 'Origin')
    }
  },
})

function preflight(headers: Headers, options: CorsOptions, originAllowed: boolean): Response {
  const refuse = (reason: string) => new Response(reason, { status: 400, headers: { 'content-type': 'text/plain' } })
  if (!originAllowed) return refuse('Origin is not allowed to make this request')
  const method = headers.get('access-control-request-method')
  if (method === null || !options.allowedMethods.includes(method)) return refuse('Method is not allowed')
  const allowed = new Set(options.allowedHeaders.map((name) => name.toLowerCase()))
  const requested = (headers.get('access-control-request-headers') ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '')
  if (requested.some((name) => !allowed.has(name))) return refuse('Headers are not allowed')
  const response = new Response(null, {
    status: 200,
    headers: {
      'access-control-allow-methods': options.allowedMethods.join(', '),
      'access-control-allow-headers': options.allowedHeaders.join(', '),
      'access-control-max-age': String(options.maxAge),
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    },
  })
  const origin = headers.get('origin')
  if (origin !== null) response.headers.set('access-control-allow-origin', origin)
  return response
}
