import { SyncError } from '../errors.ts'
import { randomBytes } from '../random.ts'

/** The attributes of an `Authorization: Hawk …` header that take part in verification. */
export interface HawkHeader {
  id: string
  ts: number
  nonce: string
  /** Standard base64, canonical. */
  mac: string
  /** Standard base64, canonical; covered by the MAC, never compared with the body (§4.4). */
  hash?: string
  ext?: string
}

/** The parts of a request the MAC covers besides the header's own attributes. */
export interface HawkRequest {
  method: string
  /** Path and query exactly as on the request line, without a lone trailing `?`. */
  pathAndQuery: string
  host: string
  port: number
}

/** Everything the normalized string of §4.4 is made of. */
export interface HawkMacInput extends HawkRequest {
  ts: number
  nonce: string
  hash?: string
  ext?: string
}

/** Client clocks are often far off, so the reference accepts 52 weeks either way (§4.4). */
export const MAX_CLOCK_SKEW_SECONDS = 52 * 7 * 24 * 60 * 60

const PREFIX = 'Hawk '
// What an HTTP header value may hold and still be read as text: tab and printable ASCII.
const VISIBLE_ASCII = /^[\t\x20-\x7e]*$/
// ts and port are parsed like Rust unsigned integers, which also accept a leading `+`.
const UNSIGNED_DECIMAL = /^\+?[0-9]+$/

/**
 * Parses an `Authorization` header value per §4.3. A header that is not visible ASCII is
 * refused, as the reference refuses it, but not by scanning the whole value, most of which is
 * the token id (the scan was about a seventh of a request's Hawk cost): the scanner admits
 * nothing between the values but blanks, commas and the attribute names; `ts`, `mac` and `hash`
 * have grammars of visible characters; `nonce`, `ext`, `app` and `dlg` are checked here; and the
 * id is the token verifier's to refuse (TokenVerifier.verify admits canonical base64url only).
 * @throws SyncError('unauthorized') when it is missing, not visible ASCII, not `Hawk ` or malformed.
 */
export function parseHawkHeader(value: string | undefined | null): HawkHeader {
  if (value === undefined || value === null) unauthorized('missing Authorization header')
  if (!value.startsWith(PREFIX)) unauthorized('Authorization header is not Hawk')
  const attributes = parseHawkAttributes(value.slice(PREFIX.length))
  const { id, ts, nonce, mac, hash, ext } = attributes
  if (id === undefined || ts === undefined || nonce === undefined || mac === undefined) {
    unauthorized('Hawk header lacks id, ts, nonce or mac')
  }
  const header: HawkHeader = { id, ts: parseTimestamp(ts), nonce: requireVisible(nonce), mac: requireBase64(mac, 'mac') }
  if (hash !== undefined) header.hash = requireBase64(hash, 'hash')
  if (ext !== undefined) header.ext = requireVisible(ext)
  return header
}

/** The attributes of a Hawk header by name; `app` and `dlg` are admitted but not kept. */
export interface HawkAttributes {
  id?: string
  ts?: string
  nonce?: string
  mac?: string
  hash?: string
  ext?: string
}

/**
 * The attributes: each is any separators (space, tab, comma), a name running to the next `=`
 * (it may not start with a separator; blanks after it are dropped), optional blanks, then a
 * quoted value that cannot contain `"` (no escaping in Hawk), then optional blanks. Scanned by
 * hand: the sticky regex `/[\s,]*([^\s,=][^=]*)?=\s*"([^"]*)"\s*\/y` it replaces cost a tenth of a
 * request's CPU. Blanks are space and tab only (HTTP's), so a name is only ever one of the known
 * ones, which is what lets parseHawkHeader skip scanning the id. Values go to fixed fields: a
 * property named by a freshly sliced string costs an atom-table lookup.
 */
export function parseHawkAttributes(text: string): HawkAttributes {
  const attributes: HawkAttributes = { id: undefined, ts: undefined, nonce: undefined, mac: undefined, hash: undefined, ext: undefined }
  let at = 0
  while (at < text.length) {
    at = skipping(text, at, SEPARATOR)
    const equals = text.indexOf('=', at)
    if (equals < 0) unauthorized('malformed Hawk header')
    const open = skipping(text, equals + 1, BLANK)
    const close = text.charCodeAt(open) === QUOTE ? text.indexOf('"', open + 1) : -1
    if (close < 0) unauthorized('malformed Hawk header')
    const value = text.slice(open + 1, close)
    const name = text.slice(at, skippingBack(text, equals, at, BLANK))
    switch (name) {
      case 'id':
        attributes.id = value
        break
      case 'ts':
        attributes.ts = value
        break
      case 'nonce':
        attributes.nonce = value
        break
      case 'mac':
        attributes.mac = value
        break
      case 'hash':
        attributes.hash = value
        break
      case 'ext':
        attributes.ext = value
        break
      case 'app':
      case 'dlg':
        requireVisible(value)
        break
      default:
        unauthorized(`unknown Hawk attribute ${name}`)
    }
    at = skipping(text, close + 1, BLANK)
  }
  return attributes
}

const QUOTE = 0x22
const BLANK = (code: number) => code === 0x20 || code === 0x09
const SEPARATOR = (code: number) => code === 0x2c || BLANK(code)

/** The index of the first character from `at` on that is not `skipped` (or the length). */
function skipping(text: string, at: number, skipped: (code: number) => boolean): number {
  let index = at
  while (index < text.length && skipped(text.charCodeAt(index))) index++
  return index
}

/** The index just past the last character before `end`, down to `start`, that is not `skipped`. */
function skippingBack(text: string, end: number, start: number, skipped: (code: number) => boolean): number {
  let index = end
  while (index > start && skipped(text.charCodeAt(index - 1))) index--
  return index
}

function requireVisible(text: string): string {
  if (!VISIBLE_ASCII.test(text)) unauthorized('Authorization header is not visible ASCII')
  return text
}

function parseTimestamp(text: string): number {
  const ts = Number(text)
  // Beyond 2^53 a ts is centuries outside the skew window anyway, so rejecting it here is equivalent.
  if (!UNSIGNED_DECIMAL.test(text) || !Number.isSafeInteger(ts)) unauthorized('Hawk ts is not an unsigned integer')
  return ts
}

// Canonical standard base64: padded, and the bits after the last character's data are zero
// (what Buffer's lenient decoder would silently accept otherwise).
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$/

function requireBase64(text: string, name: string): string {
  if (!CANONICAL_BASE64.test(text)) unauthorized(`Hawk ${name} is not base64`)
  return text
}

/**
 * A Hawk key with HMAC-SHA256 keyed once: keying hashes the padded key twice, a third of a
 * MAC, and a verified token's key signs every request of that token. Each MAC takes a copy,
 * so the keyed state itself never sees a message.
 */
export class HawkKey {
  readonly #keyed: Bun.CryptoHasher

  constructor(key: string) {
    this.#keyed = new Bun.CryptoHasher('sha256', key)
  }

  /** A hasher keyed with this key and fed nothing yet. */
  hmac(): Bun.CryptoHasher {
    return this.#keyed.copy()
  }
}

/**
 * Computes the Hawk request MAC (§4.4) as standard base64; clients sign with the same function.
 *
 * @example
 * hawkMac(key, { ts, nonce, method: 'GET', pathAndQuery: '/1.5/1/info/collections',
 *   host: 'localhost', port: 8000 })
 */
export function hawkMac(key: string | HawkKey, input: HawkMacInput): string {
  // parseHawkHeader only admits canonical base64, so the hash text is already its re-encoding.
  const normalized =
    `hawk.1.header\n${input.ts}\n${input.nonce}\n${input.method}\n${input.pathAndQuery}\n` +
    `${input.host}\n${input.port}\n${input.hash ?? ''}\n${input.ext ?? ''}\n`
  // Bun's native hasher: a fifth of a request's Hawk cost compared with node:crypto's wrapper.
  const hmac = typeof key === 'string' ? new Bun.CryptoHasher('sha256', key) : key.hmac()
  return hmac.update(normalized).digest('base64')
}

/**
 * Checks the header's timestamp against the clock and its MAC against the request (§4.4).
 * Nonces are deliberately not tracked, like the reference.
 * @throws SyncError('unauthorized') when the skew exceeds 52 weeks or the MAC differs.
 */
export function verifyHawk(header: HawkHeader, key: string | HawkKey, request: HawkRequest, nowSeconds: number): void {
  if (Math.abs(nowSeconds - header.ts) > MAX_CLOCK_SKEW_SECONDS) unauthorized('Hawk ts is outside the allowed skew')
  const expected = hawkMac(key, {
    method: request.method,
    pathAndQuery: request.pathAndQuery,
    host: request.host,
    port: request.port,
    ts: header.ts,
    nonce: header.nonce,
    hash: header.hash,
    ext: header.ext,
  })
  // Both are canonical base64 (parseHawkHeader), so equal texts are equal bytes.
  if (!equalInConstantTime(header.mac, expected)) unauthorized('Hawk mac does not match')
}

/**
 * String equality whose time depends only on the lengths, like crypto.timingSafeEqual, without
 * decoding both MACs into Buffers on every request.
 */
function equalInConstantTime(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

/** A request as a client is about to send it, for {@link hawkAuthorization}. */
export interface HawkClientRequest {
  method: string
  /** The absolute URL the request goes to. */
  url: string
  /** Overrides the URL's host, e.g. when a proxy changes the Host header. */
  host?: string
  /** Overrides the URL's (default) port. */
  port?: number
  /** Seconds since the epoch; defaults to now. */
  ts?: number
  /** Defaults to random. */
  nonce?: string
}

/**
 * Builds a client `Authorization` header for tests, benchmarks and admin tools. The signed
 * path is what `fetch` puts on the request line: the URL's pathname and search, so a lone
 * trailing `?` disappears while `?&limit=2` is kept verbatim.
 *
 * @example
 * fetch(url, { headers: { Authorization: hawkAuthorization({ id, key }, { method: 'GET', url }) } })
 */
export function hawkAuthorization(credentials: { id: string; key: string }, request: HawkClientRequest): string {
  const url = new URL(request.url)
  const ts = request.ts ?? Math.floor(Date.now() / 1000)
  const nonce = request.nonce ?? randomBytes(6).toString('base64')
  const mac = hawkMac(credentials.key, {
    ts,
    nonce,
    method: request.method,
    pathAndQuery: url.pathname + url.search,
    host: request.host ?? url.hostname,
    port: request.port ?? urlPort(url),
  })
  return `Hawk id="${credentials.id}", ts="${ts}", nonce="${nonce}", mac="${mac}"`
}

function urlPort(url: URL): number {
  if (url.port !== '') return Number(url.port)
  return defaultPort(url.protocol === 'https:' ? 'https' : 'http')
}

/**
 * Resolves the host and port a client signed for (§4.4), in the reference's order:
 * `Forwarded` host/proto, then the first `X-Forwarded-Host`/`X-Forwarded-Proto` value, then `Host`,
 * then `fallback`. Every other forwarding header is ignored on purpose: proxies in front of test
 * clients add them while the client signed for the `Host` it sent.
 * @throws SyncError('badRequest') when the port is not a u16.
 */
export function resolveHostPort(
  headers: Headers,
  fallback: { host: string; port: number; scheme: 'http' | 'https' },
): { host: string; port: number } {
  const forwarded = parseForwarded(headers.get('forwarded'))
  const authority = forwarded.host ?? firstValue(headers.get('x-forwarded-host')) ?? headers.get('host')
  if (authority === null) return { host: fallback.host, port: fallback.port }
  const scheme = forwarded.proto ?? firstValue(headers.get('x-forwarded-proto')) ?? fallback.scheme
  const colon = authority.indexOf(':')
  if (colon < 0) return { host: authority, port: defaultPort(scheme) }
  return { host: authority.slice(0, colon), port: parsePort(authority.slice(colon + 1)) }
}

const NOT_FORWARDED: Readonly<{ host?: string; proto?: string }> = Object.freeze({})

/** First value of each of `host` and `proto`, unquoted; pairs may be split by `;` or `,`. */
function parseForwarded(value: string | null): Readonly<{ host?: string; proto?: string }> {
  // Most requests come without the header: nothing to allocate for them.
  if (value === null) return NOT_FORWARDED
  const found: { host?: string; proto?: string } = {}
  for (const pair of value.split(/[;,]/)) {
    const eq = pair.indexOf('=')
    if (eq < 0) continue
    const name = pair.slice(0, eq).trim().toLowerCase()
    if ((name === 'host' || name === 'proto') && found[name] === undefined) {
      found[name] = pair.slice(eq + 1).trim().replace(/^"+|"+$/g, '')
    }
  }
  return found
}

function firstValue(value: string | null): string | null {
  return value === null ? null : (value.split(',')[0] ?? '').trim()
}

function parsePort(text: string): number {
  const port = Number(text)
  if (!UNSIGNED_DECIMAL.test(text) || port > 0xffff) throw new SyncError('badRequest', `invalid port ${text}`)
  return port
}

function defaultPort(scheme: string): number {
  return scheme === 'https' ? 443 : 80
}

function unauthorized(reason: string): never {
  throw new SyncError('unauthorized', reason)
}
