import { describe, expect, test } from 'bun:test'
import { checkAccountAllowed, type AccountIdentity } from './allow-list.ts'

const account: AccountIdentity = { fxaUid: 'ABCDEF01', email: 'ABCDEF01@api.accounts.firefox.com', claimedEmail: null }
const allowed = (config: { allowed_emails?: string[]; allowed_fxa_uids?: string[] }, who = account) => {
  try {
    checkAccountAllowed(who, { allowed_emails: config.allowed_emails ?? [], allowed_fxa_uids: config.allowed_fxa_uids ?? [] })
    return true
  } catch {
    return false
  }
}

describe('checkAccountAllowed', () => {
  test('empty lists allow everyone', () => {
    expect(allowed({})).toBe(true)
  })

  test('matches the FxA uid case-insensitively', () => {
    expect(allowed({ allowed_fxa_uids: ['abcdef01'] })).toBe(true)
    expect(allowed({ allowed_fxa_uids: ['abcdef02'] })).toBe(false)
  })

  test('matches the derived email', () => {
    expect(allowed({ allowed_emails: ['abcdef01@api.accounts.firefox.com'] })).toBe(true)
  })

  test('matches an email claim', () => {
    const withClaim = { ...account, claimedEmail: 'Me@Example.com' }
    expect(allowed({ allowed_emails: ['me@example.com'] }, withClaim)).toBe(true)
    expect(allowed({ allowed_emails: ['me@example.com'] })).toBe(false)
  })

  test('one non-empty list is enough to refuse the others', () => {
    expect(allowed({ allowed_emails: ['someone@example.com'] })).toBe(false)
  })
})
