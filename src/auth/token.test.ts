import { describe, expect, test } from 'bun:test'
import { createHmac, hkdfSync } from 'node:crypto'
import { SyncError } from '../errors.ts'
import { deriveTokenSecret, mintToken, TokenVerifier, type TokenFields } from './token.ts'

// §4.8 conformance vector.
const VECTOR_SECRET = 'Ted Koppel is a robot'
const VECTOR_ID =
  'eyJ1aWQiOiAxLCAibm9kZSI6ICJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCAiZXhwaXJlcyI6IDE4ODQ5Njg0MzkuMCwgImZ4YV91aWQiOiAiMzE5Yjk4Zjk5NjFmZjFkYmRkMDczMTNjZDZiYTkyNWEiLCAiZnhhX2tpZCI6ICJkZTY5N2FkNjZkODQ1YjI4NzNjOWQ3ZTEzYjg5NzFhZiIsICJoYXNoZWRfZnhhX3VpZCI6ICIwZThkZjVkNDEzOThhMzg5OTEzYmQ4NDAyNDM1NjQ5NTE4YWY0NjQ5M2RhMWQ0YTQzN2E0NmRjMTc4NGM1MDFhIiwgImhhc2hlZF9kZXZpY2VfaWQiOiAiMmJjYjkyZjRkNDY5OGMzZDdiMDgzYTNjNjk4YTE2Y2NkNzhiYzJhOGQyMGE5NmU0YmIxMjhkZGNlYWY0ZTBiNiIsICJzYWx0IjogIjJiMzA3YiJ9lXaC5pIOenf7qL1AWlgKFvYH63nakyniTXP-7acS5cw='

const SECRET = 'test master secret'
const FIELDS: TokenFields = {
  uid: 42,
  node: 'http://localhost:8000',
  expires: 2_000_000_000,
  fxa_uid: '319b98f9961ff1dbdd07313cd6ba925a',
  fxa_kid: '0000000001234-qqo',
  hashed_fxa_uid: '0e8df5d41398a389913bd8402435649a',
  hashed_device_id: '2bcb92f4d4698c3d7b083a3c698a16cc',
}

/** Signs arbitrary payload bytes the way a tokenserver would, to reach the payload checks. */
function signRaw(secret: string, json: string): string {
  const signing = Buffer.from(hkdfSync('sha256', secret, '', 'services.mozilla.com/tokenlib/v1/signing', 32))
  const payload = Buffer.from(json, 'utf8')
  const signature = createHmac('sha256', signing).update(payload).digest()
  return encodeId(Buffer.concat([payload, signature]))
}

/** Padded base64url, the only encoding the verifier accepts. */
function encodeId(bytes: Buffer): string {
  return bytes.toString('base64').replaceAll('+', '-').replaceAll('/', '_')
}

function payloadJson(id: string): string {
  return Buffer.from(id, 'base64url').subarray(0, -32).toString('utf8')
}

function expectUnauthorized(verify: () => unknown): void {
  expect(verify).toThrow(SyncError)
  try {
    verify()
  } catch (error) {
    expect((error as SyncError).kind).toBe('unauthorized')
  }
}

function countingDerive(): { derive: typeof deriveTokenSecret; calls: string[] } {
  const calls: string[] = []
  const derive = (secret: string, salt: string, id: string): string => {
    calls.push(id)
    return deriveTokenSecret(secret, salt, id)
  }
  return { derive, calls }
}

describe('TokenVerifier', () => {
  test('accepts the conformance token and reads its payload', () => {
    const { payload } = new TokenVerifier(VECTOR_SECRET).verify(VECTOR_ID)
    expect(payload).toMatchObject({
      uid: 1,
      node: 'http://localhost:5000',
      expires: 1884968439,
      salt: '2b307b',
      fxa_uid: '319b98f9961ff1dbdd07313cd6ba925a',
      fxa_kid: 'de697ad66d845b2873c9d7e13b8971af',
      hashed_device_id: '2bcb92f4d4698c3d7b083a3c698a16ccd78bc2a8d20a96e4bb128ddceaf4e0b6',
    })
  })

  test('derives the same key as node hkdfSync for the conformance token', () => {
    const info = `services.mozilla.com/tokenlib/v1/derive/${VECTOR_ID}`
    const raw = Buffer.from(hkdfSync('sha256', VECTOR_SECRET, '2b307b', info, 32))
    expect(new TokenVerifier(VECTOR_SECRET).verify(VECTOR_ID).key).toBe(encodeId(raw))
  })

  test('rejects a token signed with another master secret', () => {
    expectUnauthorized(() => new TokenVerifier('wibble').verify(VECTOR_ID))
  })

  test('rejects a token whose signature was tampered with', () => {
    const { id } = mintToken(SECRET, FIELDS)
    const bytes = Buffer.from(id, 'base64url')
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1
    expectUnauthorized(() => new TokenVerifier(SECRET).verify(encodeId(bytes)))
  })

  test('rejects a token whose payload was tampered with', () => {
    const { id } = mintToken(SECRET, FIELDS)
    const bytes = Buffer.from(id, 'base64url')
    bytes[2] = (bytes[2] ?? 0) ^ 1
    expectUnauthorized(() => new TokenVerifier(SECRET).verify(encodeId(bytes)))
  })

  test('rejects an id without its base64 padding', () => {
    expect(VECTOR_ID.endsWith('=')).toBe(true)
    expectUnauthorized(() => new TokenVerifier(VECTOR_SECRET).verify(VECTOR_ID.slice(0, -1)))
  })

  test('rejects an id in the standard base64 alphabet', () => {
    const id = mintIdContaining(/[-_]/)
    const standard = id.replaceAll('-', '+').replaceAll('_', '/')
    expectUnauthorized(() => new TokenVerifier(SECRET).verify(standard))
  })

  test('rejects an id with characters outside base64url', () => {
    expectUnauthorized(() => new TokenVerifier(VECTOR_SECRET).verify(`${VECTOR_ID.slice(0, 8)}!${VECTOR_ID.slice(8)}`))
  })

  // parseHawkHeader leaves the id's characters to this check.
  test('rejects an id with a character that is not visible ASCII', () => {
    for (const character of ['\u00e9', '\u0001', '\t', ' ']) {
      expectUnauthorized(() => new TokenVerifier(VECTOR_SECRET).verify(`${VECTOR_ID.slice(0, 8)}${character}${VECTOR_ID.slice(8)}`))
      expectUnauthorized(() => new TokenVerifier(VECTOR_SECRET).verify(`${VECTOR_ID}${character}`))
    }
  })

  test('rejects an id that decodes to 32 bytes or fewer', () => {
    const thirtyTwoBytes = Buffer.alloc(32, 7).toString('base64url') + '='
    expectUnauthorized(() => new TokenVerifier(SECRET).verify(thirtyTwoBytes))
  })

  test('rejects a signed payload that is not JSON', () => {
    expectUnauthorized(() => new TokenVerifier(SECRET).verify(signRaw(SECRET, 'not json')))
  })

  test('rejects a signed payload that is a JSON array', () => {
    expectUnauthorized(() => new TokenVerifier(SECRET).verify(signRaw(SECRET, '[1,2,3]')))
  })

  test.each(['uid', 'node', 'expires', 'salt'])('rejects a signed payload without %s', (key) => {
    const complete: Record<string, unknown> = { uid: 1, node: 'http://n', expires: 2e9, salt: 'abcdef' }
    delete complete[key]
    expectUnauthorized(() => new TokenVerifier(SECRET).verify(signRaw(SECRET, JSON.stringify(complete))))
  })

  test.each([
    ['a negative uid', { uid: -1 }],
    ['a fractional uid', { uid: 1.5 }],
    ['a string uid', { uid: '1' }],
    ['a numeric node', { node: 5 }],
    ['a string expires', { expires: '2000000000' }],
    ['a null fxa_uid', { fxa_uid: null }],
    ['an unknown tokenserver_origin', { tokenserver_origin: 'go' }],
  ])('rejects a signed payload with %s', (_, override) => {
    const json = JSON.stringify({ uid: 1, node: 'http://n', expires: 2e9, salt: 'abcdef', ...override })
    expectUnauthorized(() => new TokenVerifier(SECRET).verify(signRaw(SECRET, json)))
  })

  test('defaults missing fxa_uid and fxa_kid to empty strings', () => {
    const json = JSON.stringify({ uid: 1, node: 'http://n', expires: 2e9, salt: 'abcdef' })
    const { payload } = new TokenVerifier(SECRET).verify(signRaw(SECRET, json))
    expect(payload).toEqual({ uid: 1, node: 'http://n', expires: 2e9, salt: 'abcdef', fxa_uid: '', fxa_kid: '' })
  })

  test('ignores unknown payload keys', () => {
    const json = JSON.stringify({ uid: 1, node: 'http://n', expires: 2e9, salt: 'abcdef', extra: [1] })
    expect(new TokenVerifier(SECRET).verify(signRaw(SECRET, json)).payload).not.toHaveProperty('extra')
  })

  test('accepts an expired token because expiry is the caller’s decision', () => {
    const { id } = mintToken(SECRET, { ...FIELDS, expires: 1 })
    expect(new TokenVerifier(SECRET).verify(id).payload.expires).toBe(1)
  })

  test('does not derive the key again for an id it has already verified', () => {
    const { derive, calls } = countingDerive()
    const verifier = new TokenVerifier(SECRET, { deriveKey: derive })
    const { id } = mintToken(SECRET, FIELDS)
    const first = verifier.verify(id)
    const second = verifier.verify(id)
    expect(calls).toEqual([id])
    expect(second).toBe(first)
  })

  test('keeps at most cacheSize verified ids', () => {
    const { derive, calls } = countingDerive()
    const verifier = new TokenVerifier(SECRET, { cacheSize: 2, deriveKey: derive })
    const [a, b, c] = [1, 2, 3].map((uid) => mintToken(SECRET, { ...FIELDS, uid }).id) as [string, string, string]
    for (const id of [a, b, c, b, c]) verifier.verify(id)
    expect(calls).toEqual([a, b, c])
    verifier.verify(a)
    expect(calls).toEqual([a, b, c, a])
  })

  test('evicts the least recently used id first', () => {
    const { derive, calls } = countingDerive()
    const verifier = new TokenVerifier(SECRET, { cacheSize: 2, deriveKey: derive })
    const [a, b, c] = [1, 2, 3].map((uid) => mintToken(SECRET, { ...FIELDS, uid }).id) as [string, string, string]
    for (const id of [a, b, a, c, a]) verifier.verify(id)
    expect(calls).toEqual([a, b, c])
    verifier.verify(b)
    expect(calls).toEqual([a, b, c, b])
  })

  test('verifies a token of a previous secret with the key derived from that secret', () => {
    const old = mintToken('the old secret', FIELDS)
    const verifier = new TokenVerifier(SECRET, { previousSecrets: ['an older secret', 'the old secret'] })
    expect(verifier.verify(old.id).key).toBe(old.key)
    const current = mintToken(SECRET, FIELDS)
    expect(verifier.verify(current.id).key).toBe(current.key)
  })

  test('refuses a token of a secret that is neither current nor previous', () => {
    const { id } = mintToken('a retired secret', FIELDS)
    expectUnauthorized(() => new TokenVerifier(SECRET, { previousSecrets: ['the old secret'] }).verify(id))
  })

  test('refuses a cache size that is not a non-negative integer', () => {
    expect(() => new TokenVerifier(SECRET, { cacheSize: Number.NaN })).toThrow(RangeError)
  })
})

describe('mintToken', () => {
  test('round-trips through TokenVerifier with the same key', () => {
    const { id, key } = mintToken(SECRET, FIELDS)
    const verified = new TokenVerifier(SECRET).verify(id)
    expect(verified.key).toBe(key)
    expect(verified.payload).toEqual({ ...FIELDS, tokenserver_origin: 'rust', salt: verified.payload.salt })
  })

  test('serialises compact JSON in the Rust tokenserver key order', () => {
    const { id } = mintToken(SECRET, { ...FIELDS, salt: 'a1b2c3' })
    expect(payloadJson(id)).toBe(
      '{"node":"http://localhost:8000","fxa_kid":"0000000001234-qqo","fxa_uid":"319b98f9961ff1dbdd07313cd6ba925a",' +
        '"hashed_device_id":"2bcb92f4d4698c3d7b083a3c698a16cc","hashed_fxa_uid":"0e8df5d41398a389913bd8402435649a",' +
        '"expires":2000000000,"uid":42,"tokenserver_origin":"rust","salt":"a1b2c3"}',
    )
  })

  test('handles ids longer than the 1024-byte info limit of node hkdfSync', () => {
    const { id, key } = mintToken(SECRET, { ...FIELDS, node: `https://${'n'.repeat(1200)}.example.com` })
    expect(id.length).toBeGreaterThan(1024)
    expect(new TokenVerifier(SECRET).verify(id).key).toBe(key)
  })

  test('writes expires as an integer', () => {
    const { id } = mintToken(SECRET, { ...FIELDS, expires: 2_000_000_000.75 })
    expect(payloadJson(id)).toContain('"expires":2000000000,')
  })

  test('picks a random salt of six lowercase hex characters', () => {
    const salts = [1, 2, 3].map(() => JSON.parse(payloadJson(mintToken(SECRET, FIELDS).id)).salt as string)
    for (const salt of salts) expect(salt).toMatch(/^[0-9a-f]{6}$/)
    expect(new Set(salts).size).toBeGreaterThan(1)
  })

  test('produces a padded base64url id and a 44-character padded base64url key', () => {
    const { id, key } = mintToken(SECRET, FIELDS)
    expect(id.length % 4).toBe(0)
    expect(id).toMatch(/^[A-Za-z0-9_-]+=*$/)
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}=$/)
  })
})

/** Mints until the id uses a URL-safe character, so switching alphabets changes it. */
function mintIdContaining(pattern: RegExp): string {
  for (;;) {
    const { id } = mintToken(SECRET, FIELDS)
    if (pattern.test(id)) return id
  }
}
