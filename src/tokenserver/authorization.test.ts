import { describe, expect, test } from 'bun:test'
import { isSyncError } from '../errors.ts'
import { bearerToken } from './authorization.ts'

const kindOf = (header: string | undefined) => {
  try {
    bearerToken(header)
  } catch (error) {
    if (isSyncError(error)) return error.kind
  }
  return 'none'
}

describe('bearerToken', () => {
  test('returns everything after the first space', () => {
    expect(bearerToken('Bearer a b  c')).toBe('a b  c')
  })

  test('compares the scheme case-insensitively', () => {
    expect(bearerToken('bEaReR tok')).toBe('tok')
  })

  test('an empty token is still a token', () => {
    expect(bearerToken('Bearer ')).toBe('')
  })

  test('missing, non-ASCII or space-less headers are unauthorized', () => {
    expect(kindOf(undefined)).toBe('tokenUnauthorized')
    expect(kindOf('Bearer tök')).toBe('tokenUnauthorized')
    expect(kindOf('Bearer')).toBe('tokenUnauthorized')
  })

  test('another scheme is unsupported', () => {
    expect(kindOf('Hawk id="x"')).toBe('tokenUnsupported')
    expect(kindOf('BrowserID assertion')).toBe('tokenUnsupported')
  })
})
