import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { SyncError } from '../errors.ts'
import {
  hawkAuthorization,
  hawkMac,
  HawkKey,
  MAX_CLOCK_SKEW_SECONDS,
  parseHawkAttributes,
  parseHawkHeader,
  resolveHostPort,
  verifyHawk,
  type HawkHeader,
  type HawkRequest,
} from './hawk.ts'
import { TokenVerifier } from './token.ts'

// §4.8 conformance vector.
const VECTOR_SECRET = 'Ted Koppel is a robot'
const VECTOR_ID =
  'eyJ1aWQiOiAxLCAibm9kZSI6ICJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCAiZXhwaXJlcyI6IDE4ODQ5Njg0MzkuMCwgImZ4YV91aWQiOiAiMzE5Yjk4Zjk5NjFmZjFkYmRkMDczMTNjZDZiYTkyNWEiLCAiZnhhX2tpZCI6ICJkZTY5N2FkNjZkODQ1YjI4NzNjOWQ3ZTEzYjg5NzFhZiIsICJoYXNoZWRfZnhhX3VpZCI6ICIwZThkZjVkNDEzOThhMzg5OTEzYmQ4NDAyNDM1NjQ5NTE4YWY0NjQ5M2RhMWQ0YTQzN2E0NmRjMTc4NGM1MDFhIiwgImhhc2hlZF9kZXZpY2VfaWQiOiAiMmJjYjkyZjRkNDY5OGMzZDdiMDgzYTNjNjk4YTE2Y2NkNzhiYzJhOGQyMGE5NmU0YmIxMjhkZGNlYWY0ZTBiNiIsICJzYWx0IjogIjJiMzA3YiJ9lXaC5pIOenf7qL1AWlgKFvYH63nakyniTXP-7acS5cw='
const VECTOR_KEY = new TokenVerifier(VECTOR_SECRET).verify(VECTOR_ID).key
const VECTOR_TS = 1569608439
const GET_REQUEST: HawkRequest = { method: 'GET', pathAndQuery: '/storage/1.5/1/storage/col2', host: 'localhost', port: 5000 }
const GET_MAC = 'UwDpC+DSrHCSTQSfMOWlueB6kM6gHb0Hsv8eU9ZcTVs='
const POST_REQUEST: HawkRequest = {
  method: 'POST',
  pathAndQuery: '/storage/1.5/1/storage/col2?batch=MTUzNjE5ODk3NjkyMQ==&commit=true',
  host: 'localhost',
  port: 5000,
}
const POST_MAC = 'E7j1UjN7//mh7pYXsgGi3n0KGR+sUPpuyogDVzJWaHg='

const MAC = GET_MAC
const VALID = `Hawk id="abc", ts="1569608439", nonce="h1Ch4vo=", mac="${MAC}"`

function errorKind(run: () => unknown): string | undefined {
  try {
    run()
  } catch (error) {
    return error instanceof SyncError ? error.kind : `not a SyncError: ${String(error)}`
  }
  return undefined
}

function getHeader(overrides: Partial<HawkHeader> = {}): HawkHeader {
  return { id: VECTOR_ID, ts: VECTOR_TS, nonce: 'h1Ch4vo=', mac: GET_MAC, ...overrides }
}

const FALLBACK = { host: 'bind.example', port: 8000, scheme: 'http' as const }

describe('hawkMac', () => {
  test('matches the conformance MAC of the GET request', () => {
    expect(hawkMac(VECTOR_KEY, { ...GET_REQUEST, ts: VECTOR_TS, nonce: 'h1Ch4vo=' })).toBe(GET_MAC)
  })

  test('matches the conformance MAC of the POST request with a query string', () => {
    expect(hawkMac(VECTOR_KEY, { ...POST_REQUEST, ts: VECTOR_TS, nonce: '4Rj7c+0=' })).toBe(POST_MAC)
  })

  test('covers the payload hash', () => {
    const base = { ...GET_REQUEST, ts: VECTOR_TS, nonce: 'h1Ch4vo=' }
    expect(hawkMac(VECTOR_KEY, { ...base, hash: 'AQIDBA==' })).not.toBe(hawkMac(VECTOR_KEY, base))
  })

  test('a HawkKey signs as its key text does, for every MAC it is used for', () => {
    const hawkKey = new HawkKey(VECTOR_KEY)
    const base = { ...GET_REQUEST, ts: VECTOR_TS, nonce: 'h1Ch4vo=' }
    const other = { ...base, nonce: 'other' }
    expect(hawkMac(hawkKey, base)).toBe(GET_MAC)
    expect(hawkMac(hawkKey, other)).toBe(hawkMac(VECTOR_KEY, other))
    expect(hawkMac(hawkKey, base)).toBe(GET_MAC)
  })

  test('covers ext', () => {
    const base = { ...GET_REQUEST, ts: VECTOR_TS, nonce: 'h1Ch4vo=' }
    expect(hawkMac(VECTOR_KEY, { ...base, ext: 'x' })).not.toBe(hawkMac(VECTOR_KEY, base))
  })
})

describe('parseHawkAttributes', () => {
  // The grammar as the sticky regex it was first written with; the scanner must agree with it.
  const ATTRIBUTE = /[\s,]*([^\s,=][^=]*)?=\s*"([^"]*)"\s*/y
  const NAMES = new Set(['id', 'ts', 'nonce', 'mac', 'ext', 'hash', 'app', 'dlg'])
  function byRegex(text: string): Record<string, string> | string {
    const attributes: Record<string, string> = {}
    ATTRIBUTE.lastIndex = 0
    while (ATTRIBUTE.lastIndex < text.length) {
      const match = ATTRIBUTE.exec(text)
      if (match === null) return 'malformed Hawk header'
      const name = (match[1] ?? '').trim()
      if (!NAMES.has(name)) return `unknown Hawk attribute ${name}`
      attributes[name] = match[2] ?? ''
    }
    return attributes
  }
  const byScanner = (text: string): Record<string, string> | string => {
    try {
      return { ...parseHawkAttributes(text) } as Record<string, string>
    } catch (error) {
      return (error as SyncError).message
    }
  }

  test('admits and rejects exactly what the attribute grammar does', () => {
    const pieces = ['id', 'ts', 'nonce', 'mac', 'ext', 'foo', '=', '"', '""', ' ', '\t', ',', 'a', '+/', 'id="x"', ' , ']
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 14 }), (parts) => {
        const text = parts.join('')
        expect(byScanner(text)).toEqual(byRegex(text))
      }),
      { numRuns: 5000 },
    )
  })
})

describe('parseHawkHeader', () => {
  test('parses the four required attributes', () => {
    expect(parseHawkHeader(VALID)).toEqual({ id: 'abc', ts: 1569608439, nonce: 'h1Ch4vo=', mac: MAC })
  })

  test('keeps hash and ext and drops app and dlg', () => {
    const header = parseHawkHeader(`${VALID}, hash="AQIDBA==", ext="some ext", app="a", dlg="d"`)
    expect(header).toEqual({ id: 'abc', ts: 1569608439, nonce: 'h1Ch4vo=', mac: MAC, hash: 'AQIDBA==', ext: 'some ext' })
  })

  test('accepts attributes separated by any mix of commas and whitespace', () => {
    const header = parseHawkHeader(`Hawk , id  =  "abc"\tts="1"  , , nonce="n"mac="${MAC}"`)
    expect(header).toEqual({ id: 'abc', ts: 1, nonce: 'n', mac: MAC })
  })

  test('rejects a missing header', () => {
    expect(errorKind(() => parseHawkHeader(undefined))).toBe('unauthorized')
    expect(errorKind(() => parseHawkHeader(null))).toBe('unauthorized')
  })

  test('rejects a header with non-ASCII characters', () => {
    expect(errorKind(() => parseHawkHeader(`${VALID}, ext="é"`))).toBe('unauthorized')
  })

  test('rejects a header with control characters', () => {
    expect(errorKind(() => parseHawkHeader(`${VALID}, ext="a\u0001b"`))).toBe('unauthorized')
  })

  test('rejects a non-blank whitespace character around a name, which trimming would have dropped', () => {
    expect(errorKind(() => parseHawkHeader(VALID.replace(', ts=', ',\u00a0ts=')))).toBe('unauthorized')
    expect(errorKind(() => parseHawkHeader(VALID.replace(', ts=', ', ts\u000b=')))).toBe('unauthorized')
  })

  test('rejects a character that is not visible ASCII in a value it does not keep', () => {
    expect(errorKind(() => parseHawkHeader(`${VALID}, app="\u00e9"`))).toBe('unauthorized')
    expect(errorKind(() => parseHawkHeader(`${VALID}, dlg="a\u0001"`))).toBe('unauthorized')
  })

  test('leaves the id to the token verifier, which admits canonical base64url only', () => {
    expect(parseHawkHeader(VALID.replace('id="abc"', 'id="ab\u00e9"')).id).toBe('ab\u00e9')
  })

  test.each([
    ['a lowercase scheme', VALID.replace('Hawk', 'hawk')],
    ['another scheme', VALID.replace('Hawk', 'Bearer')],
    ['no space after the scheme', VALID.replace('Hawk ', 'Hawk')],
  ])('rejects %s', (_, value) => {
    expect(errorKind(() => parseHawkHeader(value))).toBe('unauthorized')
  })

  test('rejects an unknown attribute', () => {
    expect(errorKind(() => parseHawkHeader(`${VALID}, foo="bar"`))).toBe('unauthorized')
  })

  test('rejects an unquoted value', () => {
    expect(errorKind(() => parseHawkHeader(`Hawk id=abc, ts="1", nonce="n", mac="${MAC}"`))).toBe('unauthorized')
  })

  test('rejects an unterminated value', () => {
    expect(errorKind(() => parseHawkHeader(`${VALID}, ext="open`))).toBe('unauthorized')
  })

  test('rejects text that is not an attribute', () => {
    expect(errorKind(() => parseHawkHeader(`${VALID}, trailing`))).toBe('unauthorized')
  })

  test('rejects a long run of separators without quadratic backtracking', () => {
    const started = performance.now()
    expect(errorKind(() => parseHawkHeader(`Hawk ${', '.repeat(8000)}`))).toBe('unauthorized')
    // The quadratic version took about 500 ms here; the linear one about 1 ms.
    expect(performance.now() - started).toBeLessThan(100)
  })

  test('rejects a trailing comma', () => {
    expect(errorKind(() => parseHawkHeader(`${VALID},`))).toBe('unauthorized')
  })

  test.each(['12.5', '-1', 'abc', '', '1e3', '99999999999999999999'])('rejects ts=%p', (ts) => {
    expect(errorKind(() => parseHawkHeader(VALID.replace('ts="1569608439"', `ts="${ts}"`)))).toBe('unauthorized')
  })

  test('re-renders a ts with leading zeros as a plain integer', () => {
    expect(parseHawkHeader(VALID.replace('ts="1569608439"', 'ts="001569608439"')).ts).toBe(1569608439)
  })

  test.each([
    ['in the URL-safe alphabet', MAC.replaceAll('+', '-')],
    ['without padding', MAC.replace('=', '')],
    ['with junk characters', `!${MAC}`],
  ])('rejects a mac %s', (_, mac) => {
    expect(errorKind(() => parseHawkHeader(VALID.replace(MAC, mac)))).toBe('unauthorized')
  })

  test('rejects a hash that is not standard base64', () => {
    expect(errorKind(() => parseHawkHeader(`${VALID}, hash="AQIDBA"`))).toBe('unauthorized')
  })

  test.each(['id', 'ts', 'nonce', 'mac'])('rejects a header without %s', (name) => {
    const value = VALID.replace(new RegExp(`,? ?\\b${name}="[^"]*"`), '')
    expect(value).not.toContain(`${name}=`)
    expect(errorKind(() => parseHawkHeader(value))).toBe('unauthorized')
  })
})

describe('verifyHawk', () => {
  test('accepts the conformance GET request', () => {
    expect(() => verifyHawk(getHeader(), VECTOR_KEY, GET_REQUEST, VECTOR_TS)).not.toThrow()
  })

  test('accepts the conformance POST request with its raw query', () => {
    const header = getHeader({ nonce: '4Rj7c+0=', mac: POST_MAC })
    expect(() => verifyHawk(header, VECTOR_KEY, POST_REQUEST, VECTOR_TS)).not.toThrow()
  })

  test.each([
    ['method', { method: 'POST' }],
    ['path', { pathAndQuery: '/storage/1.5/1/storage/col3' }],
    ['host', { host: 'localhost.com' }],
    ['port', { port: 5001 }],
  ])('rejects a request whose %s differs from the signed one', (_, change) => {
    expect(errorKind(() => verifyHawk(getHeader(), VECTOR_KEY, { ...GET_REQUEST, ...change }, VECTOR_TS))).toBe(
      'unauthorized',
    )
  })

  test('rejects a wrong nonce', () => {
    expect(errorKind(() => verifyHawk(getHeader({ nonce: '1d4mRs0=' }), VECTOR_KEY, GET_REQUEST, VECTOR_TS))).toBe(
      'unauthorized',
    )
  })

  test('rejects a mac of the wrong length', () => {
    expect(errorKind(() => verifyHawk(getHeader({ mac: 'AQIDBA==' }), VECTOR_KEY, GET_REQUEST, VECTOR_TS))).toBe(
      'unauthorized',
    )
  })

  test('accepts a ts exactly 52 weeks behind or ahead of now', () => {
    expect(() => verifyHawk(getHeader(), VECTOR_KEY, GET_REQUEST, VECTOR_TS + MAX_CLOCK_SKEW_SECONDS)).not.toThrow()
    expect(() => verifyHawk(getHeader(), VECTOR_KEY, GET_REQUEST, VECTOR_TS - MAX_CLOCK_SKEW_SECONDS)).not.toThrow()
  })

  test('rejects a ts more than 52 weeks behind now', () => {
    const now = VECTOR_TS + MAX_CLOCK_SKEW_SECONDS + 1
    expect(errorKind(() => verifyHawk(getHeader(), VECTOR_KEY, GET_REQUEST, now))).toBe('unauthorized')
  })

  test('rejects a ts more than 52 weeks ahead of now', () => {
    const now = VECTOR_TS - MAX_CLOCK_SKEW_SECONDS - 1
    expect(errorKind(() => verifyHawk(getHeader(), VECTOR_KEY, GET_REQUEST, now))).toBe('unauthorized')
  })

  test('checks the skew window as 31,449,600 seconds', () => {
    expect(MAX_CLOCK_SKEW_SECONDS).toBe(31_449_600)
  })
})

describe('hawkAuthorization', () => {
  const credentials = { id: VECTOR_ID, key: VECTOR_KEY }

  test('builds the conformance header for the URL the client requests', () => {
    const value = hawkAuthorization(credentials, {
      method: 'GET',
      url: 'http://localhost:5000/storage/1.5/1/storage/col2',
      ts: VECTOR_TS,
      nonce: 'h1Ch4vo=',
    })
    expect(value).toBe(`Hawk id="${VECTOR_ID}", ts="${VECTOR_TS}", nonce="h1Ch4vo=", mac="${GET_MAC}"`)
  })

  test('signs the raw query string verbatim', () => {
    const value = hawkAuthorization(credentials, {
      method: 'POST',
      url: 'http://localhost:5000/storage/1.5/1/storage/col2?batch=MTUzNjE5ODk3NjkyMQ==&commit=true',
      ts: VECTOR_TS,
      nonce: '4Rj7c+0=',
    })
    expect(parseHawkHeader(value).mac).toBe(POST_MAC)
  })

  test('signs a query that begins with & as sent', () => {
    const value = hawkAuthorization(credentials, { method: 'GET', url: 'http://h:1/p?&limit=2', ts: VECTOR_TS })
    const request = { method: 'GET', pathAndQuery: '/p?&limit=2', host: 'h', port: 1 }
    expect(() => verifyHawk(parseHawkHeader(value), VECTOR_KEY, request, VECTOR_TS)).not.toThrow()
  })

  test('drops a lone trailing question mark like clients do', () => {
    const value = hawkAuthorization(credentials, { method: 'GET', url: 'http://h:1/p?', ts: VECTOR_TS })
    const request = { method: 'GET', pathAndQuery: '/p', host: 'h', port: 1 }
    expect(() => verifyHawk(parseHawkHeader(value), VECTOR_KEY, request, VECTOR_TS)).not.toThrow()
  })

  test('signs the default port of the URL scheme', () => {
    const value = hawkAuthorization(credentials, { method: 'GET', url: 'https://h/p', ts: VECTOR_TS })
    const request = { method: 'GET', pathAndQuery: '/p', host: 'h', port: 443 }
    expect(() => verifyHawk(parseHawkHeader(value), VECTOR_KEY, request, VECTOR_TS)).not.toThrow()
  })

  test('signs an explicit host and port instead of the URL’s', () => {
    const value = hawkAuthorization(credentials, {
      method: 'GET',
      url: 'http://127.0.0.1:9/p',
      host: 'sync.example',
      port: 443,
      ts: VECTOR_TS,
    })
    const request = { method: 'GET', pathAndQuery: '/p', host: 'sync.example', port: 443 }
    expect(() => verifyHawk(parseHawkHeader(value), VECTOR_KEY, request, VECTOR_TS)).not.toThrow()
  })

  test('uses the current time and a fresh nonce by default', () => {
    const first = parseHawkHeader(hawkAuthorization(credentials, { method: 'GET', url: 'http://h/p' }))
    const second = parseHawkHeader(hawkAuthorization(credentials, { method: 'GET', url: 'http://h/p' }))
    expect(Math.abs(first.ts - Date.now() / 1000)).toBeLessThan(5)
    expect(first.nonce).not.toBe(second.nonce)
  })
})

describe('resolveHostPort', () => {
  test('takes host and port from the Host header', () => {
    expect(resolveHostPort(new Headers({ host: 'localhost:5000' }), FALLBACK)).toEqual({ host: 'localhost', port: 5000 })
  })

  test('defaults the port to 80 for http', () => {
    expect(resolveHostPort(new Headers({ host: 'sync.example' }), FALLBACK)).toEqual({ host: 'sync.example', port: 80 })
  })

  test('defaults the port to 443 when the connection is https', () => {
    const resolved = resolveHostPort(new Headers({ host: 'sync.example' }), { ...FALLBACK, scheme: 'https' })
    expect(resolved).toEqual({ host: 'sync.example', port: 443 })
  })

  test('prefers Forwarded host and proto over every other header', () => {
    const headers = new Headers({
      forwarded: 'for=192.0.2.60; proto=https; by=203.0.113.43; host="sync.example"',
      'x-forwarded-host': 'other.example:81',
      'x-forwarded-proto': 'http',
      host: 'localhost:5000',
    })
    expect(resolveHostPort(headers, FALLBACK)).toEqual({ host: 'sync.example', port: 443 })
  })

  test('takes the first value of each Forwarded parameter', () => {
    const headers = new Headers({ forwarded: 'host=a.example:1, host=b.example:2' })
    expect(resolveHostPort(headers, FALLBACK)).toEqual({ host: 'a.example', port: 1 })
  })

  test('uses the first X-Forwarded-Host value with its port', () => {
    const headers = new Headers({ 'x-forwarded-host': 'sync.example:8443, proxy.internal', host: 'localhost:5000' })
    expect(resolveHostPort(headers, FALLBACK)).toEqual({ host: 'sync.example', port: 8443 })
  })

  test('uses X-Forwarded-Proto for the default port', () => {
    const headers = new Headers({ 'x-forwarded-host': 'sync.example', 'x-forwarded-proto': 'https' })
    expect(resolveHostPort(headers, FALLBACK)).toEqual({ host: 'sync.example', port: 443 })
  })

  test('ignores X-Forwarded-Server, X-Forwarded-Scheme and X-Forwarded-Port', () => {
    const headers = new Headers({
      host: 'localhost:5000',
      'x-forwarded-server': 'proxy.example',
      'x-forwarded-scheme': 'https',
      'x-forwarded-port': '443',
    })
    expect(resolveHostPort(headers, FALLBACK)).toEqual({ host: 'localhost', port: 5000 })
  })

  test('falls back to the configured host and port without a Host header', () => {
    expect(resolveHostPort(new Headers({}), FALLBACK)).toEqual({ host: 'bind.example', port: 8000 })
  })

  test.each(['localhost:http', 'localhost:65536', 'localhost:', 'localhost:-1', '[::1]:8000'])(
    'answers badRequest for the host %p',
    (host) => {
      expect(errorKind(() => resolveHostPort(new Headers({ host }), FALLBACK))).toBe('badRequest')
    },
  )
})
