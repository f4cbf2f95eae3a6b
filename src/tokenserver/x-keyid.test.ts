import { describe, expect, test } from 'bun:test'
import { isSyncError, type SyncError } from '../errors.ts'
import { parseKeyId } from './x-keyid.ts'

function failure(keyId: string | undefined, clientState?: string): SyncError {
  try {
    parseKeyId(keyId, clientState)
  } catch (error) {
    if (isSyncError(error)) return error
  }
  throw new Error('expected a SyncError')
}

describe('parseKeyId', () => {
  test('splits keys_changed_at from the base64url client state', () => {
    expect(parseKeyId('1234-qqo', undefined)).toEqual({ keysChangedAt: 1234n, clientState: 'aaaa' })
  })

  test('splits at the first dash, so a dash in the client state stays there', () => {
    expect(parseKeyId('7-_-8', undefined)).toEqual({ keysChangedAt: 7n, clientState: 'ffef' })
  })

  test('keeps leading zeros out of the number and accepts an empty client state', () => {
    expect(parseKeyId('0000000001234-', undefined)).toEqual({ keysChangedAt: 1234n, clientState: '' })
  })

  test('treats keys_changed_at 0 as absent', () => {
    expect(parseKeyId('0-qqo', undefined).keysChangedAt).toBeNull()
  })

  test('reads the full signed 64-bit range', () => {
    expect(parseKeyId('9223372036854775807-qqo', undefined).keysChangedAt).toBe(9_223_372_036_854_775_807n)
    expect(parseKeyId('+5-qqo', undefined).keysChangedAt).toBe(5n)
  })

  test('a missing header is invalid-key-id "Missing"', () => {
    const error = failure(undefined)
    expect(error.kind).toBe('invalidKeyId')
    expect(error.options.description).toBeUndefined()
  })

  test('a non-ASCII header is invalid-key-id "Invalid"', () => {
    const error = failure('1234-qqo\u00e9')
    expect(error.kind).toBe('invalidKeyId')
    expect(error.options.description).toBe('Invalid X-KeyID header')
  })

  test.each([
    ['no dash', '1234qqo'],
    ['padding', '1234-qqo='],
    ['standard base64 alphabet', '1234-qq+o'],
    ['non-canonical trailing bits', '1234-qqp'],
    ['impossible length', '1234-q'],
    ['a non-integer', 'abc-qqo'],
    ['an empty number', '-qqo'],
    ['a number past 64 bits', '9223372036854775808-qqo'],
  ])('%s is invalid-credentials', (_name, keyId) => {
    expect(failure(keyId).kind).toBe('invalidCredentials')
  })

  test('X-Client-State equal to the KeyID state is accepted', () => {
    expect(parseKeyId('1234-qqo', 'aaaa').clientState).toBe('aaaa')
  })

  test('a malformed X-Client-State is a 400 before the mismatch check', () => {
    expect(failure('1234-qqo', 'not hex!').kind).toBe('invalidClientStateHeader')
    expect(failure('1234-qqo', 'a'.repeat(33)).kind).toBe('invalidClientStateHeader')
  })

  test('a different X-Client-State is invalid-client-state, compared case-sensitively', () => {
    expect(failure('1234-qqo', 'bbbb').kind).toBe('invalidClientState')
    expect(failure('1234-qqo', 'AAAA').kind).toBe('invalidClientState')
  })

  test('a bad base64 state is reported before X-Client-State, and X-Client-State before the number', () => {
    expect(failure('1234-qqo=', 'not hex!').kind).toBe('invalidCredentials')
    expect(failure('abc-qqo', 'bbbb').kind).toBe('invalidClientState')
  })
})
