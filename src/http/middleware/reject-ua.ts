import type { Layer } from './layers.ts'

// Firefox for iOS before 20 crashes on some response headers (compatibility-notes §9).
const OLD_IOS = /^Firefox-iOS-Sync\/(\d+)\.[.0-9]+b.*\s\(.+;\siPhone\sOS\s.+\)\s\(.*\)$/
const OLD_IOS_PREFIX = 'Firefox-iOS-Sync/'

/** Answers 503 with a bare `0` to old Firefox for iOS builds, before anything else runs. */
export const rejectOldIosClients = (): Layer => ({
  before(c) {
    const userAgent = c.req.raw.headers.get('user-agent')
    // Every request passes here; the regex runs only for the user agents it can match.
    if (userAgent === null || !userAgent.startsWith(OLD_IOS_PREFIX)) return undefined
    const major = OLD_IOS.exec(userAgent)?.[1]
    if (major !== undefined && Number(major) >= 1 && Number(major) <= 19) {
      return new Response('0', { status: 503 })
    }
    return undefined
  },
})
