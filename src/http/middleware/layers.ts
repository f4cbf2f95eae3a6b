import type { Context, MiddlewareHandler } from 'hono'
import type { AppEnv } from '../env.ts'

/**
 * A middleware split into its two synchronous halves, so that the layers every request passes
 * can share one async frame (see {@link layers}).
 */
export interface Layer {
  /** On the way in; a Response answers the request there, and the inner layers never run. */
  before?(c: Context<AppEnv>): Response | undefined
  /** On the way out, on the response the inner layers, the routes or the error handler made. */
  after?(c: Context<AppEnv>): void
}

/**
 * Runs `stack` outermost first, like the same layers registered one by one with `app.use`,
 * but as one Hono middleware: each async middleware frame costs every request about 0.7 µs,
 * a measurable share of a 30 µs info/collections.
 *
 * @example
 * app.use(layers(cors(options), requestLog(logger)))
 */
export const layers = (...stack: Layer[]): MiddlewareHandler<AppEnv> =>
  async function layers(c, next) {
    let entered = 0
    while (entered < stack.length) {
      const early = stack[entered]?.before?.(c)
      if (early !== undefined) {
        c.res = early
        break
      }
      entered++
    }
    if (entered === stack.length) await next()
    // A layer that answered early skips its own way out, as a returning middleware would.
    for (let i = entered - 1; i >= 0; i--) stack[i]?.after?.(c)
  }
