import { describe, expect, test } from 'bun:test'
import type { StoredUser, TokenserverCopyEndpoint } from '../db/copy-types.ts'
import { UserMap } from './users.ts'

const row = (uid: number, email: string, fields: Partial<StoredUser> = {}): StoredUser => ({
  uid,
  service: 1,
  email,
  generation: 1_700_000_000_000n,
  clientState: 'aabb',
  createdAt: 0n,
  replacedAt: null,
  nodeId: 1,
  keysChangedAt: 1_700_000_000_123n,
  ...fields,
})

/** A tokenserver with these rows, answering the two lookups the map uses. */
function tokens(rows: StoredUser[]): TokenserverCopyEndpoint {
  return {
    usersAfter: async (after, limit) => rows.filter((user) => user.uid > after).slice(0, limit),
    usersOfAccount: async (fxaUid) => rows.filter((user) => user.email.startsWith(`${fxaUid}@`)),
  } as TokenserverCopyEndpoint
}

const KID = '1700000000123-qrs'

describe('UserMap: storage users between uid keys and fxa_uid/fxa_kid keys', () => {
  const rows = [
    row(1, 'abc@accounts.example', { replacedAt: 5n }),
    // Moved to another node without a key change: same fxa_kid, the current row.
    row(2, 'abc@accounts.example'),
    row(3, 'def@accounts.example', { keysChangedAt: null, generation: 42n, clientState: '' }),
    row(4, 'bad@accounts.example', { clientState: 'not hex' }),
  ]
  const toFxa = new UserMap(tokens(rows), 'uid', 'fxa')
  const toUid = new UserMap(tokens(rows), 'fxa', 'uid')

  test('uid → the token’s fxa_uid and fxa_kid', async () => {
    expect(await toFxa.map({ uid: 2, fxaUid: '', fxaKid: '' })).toEqual({ uid: 2, fxaUid: 'abc', fxaKid: KID })
    expect(await toFxa.map({ uid: 3, fxaUid: '', fxaKid: '' })).toEqual({ uid: 3, fxaUid: 'def', fxaKid: '0000000000042-' })
  })

  test('fxa_uid and fxa_kid → the current row’s uid', async () => {
    expect(await toUid.map({ uid: 0, fxaUid: 'abc', fxaKid: KID })).toEqual({ uid: 2, fxaUid: 'abc', fxaKid: KID })
  })

  test('what cannot be mapped says why', async () => {
    expect(await toFxa.map({ uid: 9, fxaUid: '', fxaKid: '' })).toEqual({ user: 'uid 9', reason: 'no tokenserver user has this uid' })
    expect(await toFxa.map({ uid: 4, fxaUid: '', fxaKid: '' })).toMatchObject({ user: 'uid 4', reason: expect.stringContaining('not hex') })
    expect(await toFxa.map({ uid: 1, fxaUid: '', fxaKid: '' })).toMatchObject({ user: 'uid 1', reason: expect.stringContaining('uid 2 has the same fxa_uid and fxa_kid') })
    expect(await toUid.map({ uid: 0, fxaUid: 'abc', fxaKid: '0000000000001-qrs' })).toEqual({
      user: 'fxa_uid abc fxa_kid 0000000000001-qrs',
      reason: 'no tokenserver user has this fxa_uid and fxa_kid',
    })
  })

  test('between engines keyed alike, users pass through unchanged', async () => {
    const user = { uid: 77, fxaUid: '', fxaKid: '' }
    expect(await new UserMap(tokens([]), 'uid', 'uid').map(user)).toBe(user)
  })
})
