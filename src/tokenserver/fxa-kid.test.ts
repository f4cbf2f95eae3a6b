import { describe, expect, test } from 'bun:test'
import { formatFxaKid } from './fxa-kid.ts'

describe('formatFxaKid', () => {
  test('pads keys_changed_at to 13 digits before the base64url client state', () => {
    expect(formatFxaKid(2345n, 9999n, 'bbbb')).toBe('0000000002345-u7s')
  })

  test('falls back to the generation when keys_changed_at is absent', () => {
    expect(formatFxaKid(null, 1234n, 'aaaa')).toBe('0000000001234-qqo')
  })

  test('an empty client state leaves nothing after the dash', () => {
    expect(formatFxaKid(1234n, 0n, '')).toBe('0000000001234-')
  })

  test('wider numbers are not cut', () => {
    expect(formatFxaKid(null, 9_223_372_036_854_775_807n, '')).toBe('9223372036854775807-')
  })

  test('a client state that is not hex is an internal error', () => {
    expect(() => formatFxaKid(1n, 1n, 'abc')).toThrow('client state is not hex')
  })
})
