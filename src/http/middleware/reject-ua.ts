import type { Layer } from './layers.ts'

// Firefox for iOS before 20 crashes on some response headers (compatibility-notes §9).
const OLD_IOS = /^Firefox-iOS-Sync\/(\d+)\.[.0-9]+b.*\s\(.+;\siPhone\sOS\s.+\)\s\(.*\)$/

/** Answers 503 with a bare `0` to old Firefox for iOS builds, before anything else runs. */
export const rejectOldIosClients = (): Layer => ({
  before(c) {
    const major = OLD_IOS.exec(c.req.raw.headers.get('user-agent') ?? '')?.[1]
    if (major !== undefined && Number(major) >= 1 && Number(major) <= 19) {
      return new Response('0', { status: 503 })
    }
    return undefined
  },
})
