import { describe, expect, test } from 'bun:test'
import type { UserRecord } from '../db/tokenserver-types.ts'
import { isSyncError } from '../errors.ts'
import { nextValues, validateClaims, type AccountClaims, type MatchedUser } from './users.ts'

const stored = (values: Partial<Omit<UserRecord, 'node'>> = {}): UserRecord & { node: string } => ({
  uid: 1,
  service: 1,
  email: 'u@example.com',
  generation: 1234n,
  clientState: 'aaaa',
  createdAt: 1234n,
  replacedAt: null,
  nodeId: 1,
  keysChangedAt: 1234n,
  node: 'https://node.example',
  ...values,
})

const claims = (values: Partial<AccountClaims> = {}): AccountClaims => ({
  email: 'u@example.com',
  generation: 1234n,
  keysChangedAt: 1234n,
  clientState: 'aaaa',
  ...values,
})

const matched = (user = stored(), oldClientStates: string[] = []): MatchedUser => ({
  user,
  oldClientStates: new Set(oldClientStates),
  firstSeenAt: user.createdAt,
})

/** The kind and description of the rule a request breaks; 'ok' when none. */
function verdict(request: AccountClaims, user: MatchedUser): string {
  try {
    validateClaims(request, user)
    return 'ok'
  } catch (error) {
    if (!isSyncError(error)) throw error
    return error.options.description === undefined ? error.kind : `${error.kind}: ${error.options.description}`
  }
}

describe('validateClaims (§9.1)', () => {
  test('unchanged claims pass', () => {
    expect(verdict(claims(), matched())).toBe('ok')
  })

  test.each([
    ['rule 1', claims({ generation: 1234n, keysChangedAt: 1235n }), matched(), 'invalidKeysChangedAt'],
    ['rule 2', claims({ clientState: '' }), matched(), 'invalidClientState: Unacceptable client-state value empty string'],
    ['rule 3', claims({ clientState: 'bbbb', generation: 9999n, keysChangedAt: 9999n }), matched(stored(), ['bbbb']), 'invalidClientState: Unacceptable client-state value stale value'],
    ['rule 4', claims({ clientState: 'bbbb' }), matched(), 'invalidClientState: Unacceptable client-state value new value with no generation change'],
    ['rule 5', claims({ clientState: 'bbbb', generation: 1235n }), matched(), 'invalidClientState: Unacceptable client-state value new value with no keys_changed_at change'],
    ['rule 6', claims({ generation: 1233n }), matched(), 'invalidGeneration'],
    ['rule 7', claims({ generation: 1235n, keysChangedAt: 1233n }), matched(), 'invalidKeysChangedAt'],
    ['rule 8', claims({ keysChangedAt: null }), matched(), 'invalidKeysChangedAt'],
  ])('%s', (_rule, request, user, expected) => {
    expect(verdict(request, user)).toBe(expected)
  })

  test('absent values make comparisons false', () => {
    expect(verdict(claims({ generation: null, keysChangedAt: null }), matched(stored({ keysChangedAt: null })))).toBe('ok')
    expect(verdict(claims({ keysChangedAt: null }), matched(stored({ keysChangedAt: 0n })))).toBe('ok')
  })

  test('a new client state with new generation and keys_changed_at passes', () => {
    expect(verdict(claims({ clientState: 'bbbb', generation: 1235n, keysChangedAt: 1235n }), matched())).toBe('ok')
  })

  test('rule order: the keys_changed_at check comes before the client-state checks', () => {
    expect(verdict(claims({ clientState: '', keysChangedAt: 1235n }), matched())).toBe('invalidKeysChangedAt')
  })

  test('a retired user is refused unless the request is also retired', () => {
    const retired = matched(stored({ generation: 9_223_372_036_854_775_807n }))
    expect(verdict(claims({ generation: 5000n }), retired)).toBe('invalidGeneration')
    expect(verdict(claims({ generation: 9_223_372_036_854_775_807n }), retired)).toBe('ok')
  })
})

describe('nextValues (§9.2)', () => {
  test('request values win when present', () => {
    expect(nextValues(claims({ generation: 1240n, keysChangedAt: 1239n }), stored())).toEqual({ generation: 1240n, keysChangedAt: 1239n })
  })

  test('a raised keys_changed_at becomes the generation when none is sent', () => {
    expect(nextValues(claims({ generation: null, keysChangedAt: 1235n }), stored({ generation: 0n }))).toEqual({
      generation: 1235n,
      keysChangedAt: 1235n,
    })
    expect(nextValues(claims({ generation: null, keysChangedAt: 1234n }), stored({ generation: 0n, keysChangedAt: null }))).toEqual({
      generation: 1234n,
      keysChangedAt: 1234n,
    })
  })

  test('a keys_changed_at below the stored generation leaves the generation', () => {
    expect(nextValues(claims({ generation: null, keysChangedAt: 1300n }), stored({ generation: 2000n, keysChangedAt: 1200n }))).toEqual({
      generation: 2000n,
      keysChangedAt: 1300n,
    })
  })

  test('no keys_changed_at keeps a stored 0 and a stored NULL', () => {
    expect(nextValues(claims({ keysChangedAt: null }), stored({ keysChangedAt: 0n })).keysChangedAt).toBe(0n)
    expect(nextValues(claims({ keysChangedAt: null }), stored({ keysChangedAt: null })).keysChangedAt).toBeNull()
  })
})
