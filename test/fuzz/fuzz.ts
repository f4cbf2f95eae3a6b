import fc from 'fast-check'
import { hawkMac } from '../../src/auth/hawk.ts'
import { mintToken, type TokenCredentials } from '../../src/auth/token.ts'
import type { RestartableServer } from '../model/server.ts'
import { rawRequest, type RawAnswer } from './raw-http.ts'

/**
 * HTTP fuzzing of the storage API: requests built byte by byte (malformed JSON, wrong types,
 * huge/negative/duplicate parameters, invalid UTF-8, lone surrogates, SQL metacharacters and
 * `..` in names, oversized headers and bodies, wrong content types, unknown methods, other
 * users' paths, expired and foreign tokens). Invariants: no 5xx but the designed 503s, the
 * server keeps answering, and a bystander's data never changes.
 */

type Auth = 'own' | 'expired' | 'foreign' | 'none' | 'garbage' | 'wrong-mac' | 'bearer'
type UidChoice = 'own' | 'victim' | string

/** One fuzz request as data: what fast-check generates, shrinks and prints. */
export interface FuzzCase {
  method: string
  uid: UidChoice
  /** Path after `/1.5/{uid}`, or an absolute path when it starts with `!`. */
  path: string
  query: string
  headers: [string, string][]
  body: { text: string } | { bytes: number[] } | { repeat: string; times: number } | null
  auth: Auth
}

const NASTY = [
  '',
  '..',
  '.',
  '%2e%2e',
  '%2E%2E%2F',
  '../../etc/passwd',
  "'; DROP TABLE bso; --",
  "' OR '1'='1",
  '" OR ""="',
  '\\',
  '%00',
  '%FF',
  '%ED%A0%80',
  '%C0%AF',
  '%zz',
  '%',
  '%25',
  '%2F',
  'a%20',
  'x'.repeat(65),
  'y'.repeat(300),
  'tabs',
  'meta',
  'crypto',
  'foo.bar-baz_1',
  'é',
  '%C3%A9',
  '😀',
  '%F0%9F%98%80',
  'null',
  'true',
  '-1',
  '1e999',
  'NaN',
  'Infinity',
  '18446744073709551616',
  '99999999999999999999999999',
  '0x10',
  '1.5',
  '+5',
  ' 5',
  '5,6',
  'a,b,,c, d ',
  '$(reboot)',
  '{{7*7}}',
  '<script>',
]

/** Percent-encodes UTF-16 the way a careless client would: lone surrogates as WTF-8 bytes. */
function looseEncode(text: string): string {
  let out = ''
  for (const char of text) {
    const code = char.codePointAt(0) as number
    if (/[A-Za-z0-9._~-]/.test(char)) out += char
    else if (code >= 0xd800 && code <= 0xdfff) out += `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase()
    else out += [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0').toUpperCase()}`).join('')
  }
  return out
}

const fuzzText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map(looseEncode) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 20 }).map((text) => text.replace(/[\s#?/]/g, '')) },
)
const collectionName = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('tabs', 'bookmarks', 'meta', 'crypto', 'fuzzcoll', 'x.y-z') }, { weight: 2, arbitrary: fuzzText })
const bsoId = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('a', 'b', 'global', 'keys', 'x%20', '%20x') }, { weight: 2, arbitrary: fuzzText })

const path = fc.oneof(
  { weight: 5, arbitrary: collectionName.map((name) => `/storage/${name}`) },
  { weight: 5, arbitrary: fc.tuple(collectionName, bsoId).map(([name, id]) => `/storage/${name}/${id}`) },
  { weight: 3, arbitrary: fc.constantFrom('collections', 'collection_counts', 'collection_usage', 'quota', 'configuration').map((view) => `/info/${view}`) },
  { weight: 1, arbitrary: fuzzText.map((view) => `/info/${view}`) },
  { weight: 1, arbitrary: fc.constantFrom('', '/storage', '/storage/', '/', '/storage/tabs/a/extra', '/storage//a', '/storage/../info/collections', '/storage/tabs/../../info/quota', '/info/../storage') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('!/', '!/__heartbeat__', '!/__lbheartbeat__', '!/__version__', '!/1.5', '!/1.5/', '!/1.0/sync/1.5', '!/1.5/1/../2/info/collections', '!*', '!//1.5'),
  },
)

const timestampValue = fc.oneof(fc.constantFrom('0', '0.00', '1e3', '-1', '-0.01', 'NaN', 'abc', '', '1e309', '18446744073709552', '1700000000.999', '9'.repeat(40)), fc.double().map(String))
const queryPair = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom('newer', 'older'), timestampValue) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('limit', 'offset'), fc.oneof(fc.constantFrom('0', '-1', '1.5', '4294967296', '99999999999999999999999', '5:3', '1:', ':1', '1700000000000:2', 'x'), fc.integer().map(String))) },
  { weight: 2, arbitrary: fc.tuple(fc.constant('sort'), fc.constantFrom('newest', 'oldest', 'index', 'none', 'NEWEST', '', 'random', 'index;')) },
  { weight: 2, arbitrary: fc.tuple(fc.constant('ids'), fc.oneof(fuzzText, fc.constant(Array.from({ length: 101 }, (_, i) => `i${i}`).join(',')), fc.constant(',,,'))) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('full'), fc.constantFrom('', '1', 'false')) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('batch', 'commit'), fc.oneof(fc.constantFrom('true', 'TRUE', '', 'false', 'sammich', 'MTIz', '123', '9223372036854775808', 'MTcwMDAwMDAwMDEyMw==', '00000000-0000-4000-8000-000000000000'), fuzzText)) },
  { weight: 1, arbitrary: fc.tuple(fuzzText, fuzzText) },
)
const query = fc.array(queryPair, { maxLength: 6 }).map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([name, value]) => `${name}=${value}`).join('&')}`))

const header = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constant('content-type'), fc.constantFrom('application/json', 'text/plain', 'application/newlines', 'application/json; charset=latin1', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'garbage', '', 'application/json, text/plain')) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('x-if-modified-since', 'x-if-unmodified-since'), timestampValue) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('x-weave-records', 'x-weave-bytes', 'x-weave-total-records', 'x-weave-total-bytes'), fc.oneof(fc.constantFrom('-1', 'abc', '4294967296', '99999999999', '1'), fc.nat().map(String))) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('accept'), fc.constantFrom('application/newlines', 'text/plain', '*/*', 'application/*', 'application/json;q=abc', ';;;', 'application/newlines;q=0.5, text/plain;q=0.9')) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('user-agent'), fc.constantFrom('Firefox-iOS-Sync/18.0b1 (iPhone; iPhone OS 10.3) (Fennec)', 'Firefox-iOS-Sync/dev (iPhone; iPhone OS 10.3) (x)', 'x'.repeat(5000))) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('x-oversized', 'x-if-modified-since', 'cookie'), fc.constantFrom(20_000, 70_000, 200_000).map((n) => 'h'.repeat(n))) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('content-encoding', 'x-forwarded-host', 'forwarded', 'x-forwarded-proto', 'host-override'), fc.constantFrom('gzip', 'evil.example:99999', 'host=x:1;proto=https', 'https', '')) },
)

const record = fc.record(
  {
    id: fc.oneof(fc.constantFrom('a', 'b', 'x ', '..', "'; DROP TABLE bso; --", 'q'.repeat(64), 'q'.repeat(65), ''), fc.string({ unit: 'binary', maxLength: 12 }), fc.integer(), fc.constant(null)),
    payload: fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.constantFrom('\u0000', '\ud800', '\udfff x', '\u0000\u0001'.repeat(50)), fc.integer(), fc.jsonValue({ maxDepth: 2 })),
    sortindex: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(2 ** 31, -(2 ** 31), 1e9, '1', null)),
    ttl: fc.oneof(fc.integer(), fc.constantFrom(-1, 0, 2 ** 32, 1e300, 0.5, '60', null)),
    modified: fc.oneof(fc.double(), fc.string()),
    junk: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
)
const jsonBody = fc.oneof(
  { weight: 4, arbitrary: fc.array(record, { maxLength: 5 }).map((items) => JSON.stringify(items)) },
  { weight: 2, arbitrary: record.map((item) => JSON.stringify(item)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.array(record, { maxLength: 3 }).map((items) => items.map((item) => JSON.stringify(item)).join('\n')) },
)
const body: fc.Arbitrary<FuzzCase['body']> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(null) },
  { weight: 6, arbitrary: jsonBody.map((text) => ({ text })) },
  {
    weight: 3,
    arbitrary: fc.constantFrom('[', '{"id":', 'nul', '[{"id":"a","payload":"\\ud800"}]', '[{"id":"a","payload":"\\u0000"}]', '[{"id":"a"}]]', '[] []', '\ufeff[]', '\n', '\r\n\r\n', '[{"id":"a","id":"b"}]', '[{"id":"a","payload":"x"},{"id":"a"}]', '{"payload":"x","ttl":-5}', '[{"__proto__":{"x":1},"id":"p"}]').map((text) => ({ text })),
  },
  { weight: 2, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }).map((bytes) => ({ bytes: [...Buffer.from('[{"id":"u","payload":"'), ...bytes, ...Buffer.from('"}]')] })) },
  { weight: 1, arbitrary: fc.constantFrom<FuzzCase['body']>({ bytes: [0xff, 0xfe, 0x5b, 0x5d] }, { bytes: [0x5b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d] }, { bytes: [0xc0, 0xaf] }) },
  { weight: 1, arbitrary: fc.constantFrom<FuzzCase['body']>({ repeat: '[', times: 100_000 }, { repeat: 'x', times: 3_000_000 }, { repeat: '{"id":"r","payload":"p"},', times: 20_000 }) },
)

/** Printable ASCII ids (valid, so they reach the database) with SQL, path and percent characters. */
const hostileId = fc.oneof(
  fc.constantFrom("'; DROP TABLE bso; --", '..', '../..', '%00', '%', '\\', '"', '`', 'a b', ' x ', 'x'.repeat(64), '*', '_', '%_%'),
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), minLength: 1, maxLength: 64 }),
)
const hostilePayload = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.constantFrom('\u0000', '\ud800', 'x\udc00y', '\u0000\u0001'.repeat(40), '\\u0000', "'; DELETE FROM bso; --", '\uffff', '\u{10ffff}'),
)
const plausibleRecord = fc.record(
  { id: hostileId, payload: hostilePayload, sortindex: fc.integer({ min: -999_999_999, max: 999_999_999 }), ttl: fc.integer({ min: 0, max: 999_999_999 }) },
  { requiredKeys: ['id'] },
)
const withoutId = (item: Record<string, unknown> = {}) => Object.fromEntries(Object.entries(item).filter(([key]) => key !== 'id'))

/**
 * Requests a client could send (own token, a valid route, JSON) carrying hostile but well-typed
 * values, so the fuzz reaches the handlers and the database, not only the validators.
 */
const plausibleCase: fc.Arbitrary<FuzzCase> = fc
  .record({
    method: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE'),
    collection: fc.constantFrom('tabs', 'bookmarks', 'fuzzcoll', 'crypto', 'x.y-z'),
    id: hostileId,
    onRecord: fc.boolean(),
    query: fc.array(
      fc.oneof(
        fc.tuple(fc.constant('ids'), hostileId),
        fc.tuple(fc.constantFrom('newer', 'limit', 'offset'), fc.constantFrom('0', '1', '2')),
        fc.tuple(fc.constant('sort'), fc.constantFrom('index', 'oldest', 'newest')),
        fc.tuple(fc.constant('full'), fc.constant('1')),
      ),
      { maxLength: 2 },
    ),
    records: fc.uniqueArray(plausibleRecord, { maxLength: 5, selector: (item) => item.id }),
  })
  .map(({ method, collection, id, onRecord, query: pairs, records }) => ({
    method,
    uid: 'own',
    path: onRecord ? `/storage/${collection}/${encodeURIComponent(id)}` : `/storage/${collection}`,
    query: pairs.length === 0 ? '' : `?${pairs.map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('&')}`,
    headers: [['content-type', 'application/json']],
    body: method === 'PUT' ? { text: JSON.stringify(withoutId(records[0])) } : method === 'POST' ? { text: JSON.stringify(records) } : null,
    auth: 'own',
  }))

const wildCase: fc.Arbitrary<FuzzCase> = fc.record({
  method: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE') }, { weight: 1, arbitrary: fc.constantFrom('PATCH', 'HEAD', 'OPTIONS', 'FOO', 'PROPFIND', 'get') }),
  uid: fc.oneof({ weight: 10, arbitrary: fc.constant('own') }, { weight: 3, arbitrary: fc.constant('victim') }, { weight: 1, arbitrary: fc.constantFrom('0', 'abc', '99999999999', '-1', '01', '1e3', '%31', '4294967296', '18446744073709551616') }),
  path,
  query,
  headers: fc.array(header, { maxLength: 4 }),
  body,
  auth: fc.oneof({ weight: 10, arbitrary: fc.constant<Auth>('own') }, { weight: 3, arbitrary: fc.constantFrom<Auth>('expired', 'foreign', 'none', 'garbage', 'wrong-mac', 'bearer') }),
})

export const fuzzCase: fc.Arbitrary<FuzzCase> = fc.oneof({ weight: 2, arbitrary: wildCase }, { weight: 1, arbitrary: plausibleCase })

const OLD_IOS = /^Firefox-iOS-Sync\/(\d+)\.[.0-9]+b.*\s\(.+;\siPhone\sOS\s.+\)\s\(.*\)$/

function bodyBytes(caseBody: FuzzCase['body']): Buffer | undefined {
  if (caseBody === null) return undefined
  if ('text' in caseBody) return Buffer.from(caseBody.text, 'utf8')
  if ('bytes' in caseBody) return Buffer.from(caseBody.bytes)
  return Buffer.from(caseBody.repeat.repeat(caseBody.times))
}

/** The identities a fuzz run plays with. */
export interface FuzzActors {
  server: RestartableServer
  attacker: number
  victim: number
  expired: TokenCredentials
  foreign: TokenCredentials
}

export function actors(server: RestartableServer, attacker: number, victim: number): FuzzActors {
  const expires = Math.floor(Date.now() / 1000)
  const fields = { uid: attacker, node: server.url, fxa_uid: 'f'.repeat(32), fxa_kid: '0000000001234-AAAA' }
  return {
    server,
    attacker,
    victim,
    expired: mintToken(server.masterSecret, { ...fields, expires: expires - 60 }),
    foreign: mintToken('another deployment secret', { ...fields, expires: expires + 3600 }),
  }
}

/**
 * A request target as a client library would put it on the wire: characters HTTP does not allow
 * there (space, controls, non-ASCII, `#`) percent-escaped, everything else, broken `%` escapes
 * and `..` segments included, exactly as generated. (Bun's HTTP parser answers a raw space in
 * the request line with 505 before any application code runs.)
 */
const onTheWire = (target: string) =>
  [...Buffer.from(target, 'utf8')].map((byte) => (byte > 0x20 && byte < 0x7f && byte !== 0x23 ? String.fromCharCode(byte) : `%${byte.toString(16).padStart(2, '0').toUpperCase()}`)).join('')

/** The request's bytes: request line exactly as generated, Hawk-signed over it when asked. */
export function requestBytes(actorsOf: FuzzActors, fuzz: FuzzCase): Buffer {
  const port = Number(new URL(actorsOf.server.url).port)
  const uid = fuzz.uid === 'own' ? String(actorsOf.attacker) : fuzz.uid === 'victim' ? String(actorsOf.victim) : fuzz.uid
  const target = onTheWire(fuzz.path.startsWith('!') ? `${fuzz.path.slice(1)}${fuzz.query}` : `/1.5/${uid}${fuzz.path}${fuzz.query}`)
  const host = '127.0.0.1'
  const lines = [`${fuzz.method} ${target} HTTP/1.1`, `host: ${host}:${port}`, 'connection: close']
  const own = actorsOf.server.client(actorsOf.attacker).credentials
  const sign = (credentials: TokenCredentials, signedTarget = target) => {
    const ts = Math.floor(Date.now() / 1000)
    const mac = hawkMac(credentials.key, { ts, nonce: 'fuzz', method: fuzz.method, pathAndQuery: signedTarget, host, port })
    return `Hawk id="${credentials.id}", ts="${ts}", nonce="fuzz", mac="${mac}"`
  }
  const authorization = {
    own: () => sign(own),
    expired: () => sign(actorsOf.expired),
    foreign: () => sign(actorsOf.foreign),
    'wrong-mac': () => sign(own, `${target}x`),
    garbage: () => 'Hawk id="", ts="x", mac="%%%"',
    bearer: () => `Bearer ${own.id}`,
    none: () => undefined,
  }[fuzz.auth]()
  if (authorization !== undefined) lines.push(`authorization: ${authorization}`)
  for (const [name, value] of fuzz.headers) lines.push(`${name}: ${value}`)
  const payload = bodyBytes(fuzz.body)
  if (payload !== undefined) lines.push(`content-length: ${payload.length}`)
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
  return payload === undefined ? head : Buffer.concat([head, payload])
}

/** Why an answer breaks the invariants, or undefined. A 503 is designed only for conflicts (Retry-After) and old iOS clients. */
export function verdictOn(fuzz: FuzzCase, answer: RawAnswer): string | undefined {
  if ('error' in answer) return undefined // judged by the liveness check that follows
  if (answer.status < 500) return undefined
  if (answer.status === 503 && answer.headers.has('retry-after')) return undefined
  const userAgent = fuzz.headers.find(([name]) => name === 'user-agent')?.[1] ?? ''
  const designedBody = fuzz.method === 'HEAD' ? '' : '0'
  if (answer.status === 503 && OLD_IOS.test(userAgent) && answer.body.toString() === designedBody) return undefined
  return `${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`
}

/** Everything a client can see of the victim's data; it must never change under fuzzing. */
export async function victimSnapshot(server: RestartableServer, victim: number): Promise<string> {
  const client = server.client(victim)
  const views: string[] = []
  for (const path of ['/info/collections', '/info/collection_counts', '/info/collection_usage', '/storage/tabs?full=1', '/storage/bookmarks?full=1', '/storage/fuzzcoll?full=1']) {
    const response = await client.get(path)
    views.push(`${path} ${response.status} ${response.headers.get('x-last-modified')} ${await response.text()}`)
  }
  return views.join('\n')
}

/** Gives the victim data in the collections the fuzzer aims at, plus an open batch. */
export async function seedVictim(server: RestartableServer, victim: number): Promise<void> {
  const client = server.client(victim)
  const ok = async (response: Promise<Response>) => {
    const answer = await response
    if (!answer.ok) throw new Error(`seeding the victim: ${answer.status} ${await answer.text()}`)
  }
  await ok(client.put('/storage/tabs/a', { payload: 'victim tab', sortindex: 3 }))
  await ok(client.post('/storage/bookmarks', [{ id: 'a', payload: 'victim a' }, { id: 'b', payload: 'victim b', ttl: 86_400 }]))
  await ok(client.post('/storage/fuzzcoll', [{ id: 'global', payload: 'victim custom' }]))
  await ok(client.post('/storage/fuzzcoll?batch=true', [{ id: 'staged', payload: 'never committed' }]))
}

export interface FuzzReport {
  engine: string
  requests: number
  status5xx: number
  designed503: number
  noAnswer: number
  /** Answers by status class (`2xx`, `4xx`, …), shrinking's replays included. */
  classes: Record<string, number>
  seconds: number
  seed: number
  failure?: string
}

/** Is the server still answering? */
async function alive(server: RestartableServer): Promise<boolean> {
  try {
    return (await fetch(`${server.url}/__lbheartbeat__`)).status === 200
  } catch {
    return false
  }
}

/** Runs `requests` fuzz cases against one server; the first broken invariant fails with seed and shrunk case. */
export async function runFuzz(server: RestartableServer, options: { requests: number; seed?: number; base: number }): Promise<FuzzReport> {
  const seed = options.seed ?? Date.now() ^ (Math.random() * 0x7fffffff)
  const victim = options.base
  const cast = actors(server, options.base + 1, victim)
  await seedVictim(server, victim)
  const before = await victimSnapshot(server, victim)
  const report: FuzzReport = { engine: server.engine, requests: 0, status5xx: 0, designed503: 0, noAnswer: 0, classes: {}, seconds: 0, seed }
  const started = performance.now()
  let sinceSnapshot = 0
  const property = fc.asyncProperty(fuzzCase, async (fuzz) => {
    report.requests++
    const answer = await send(cast, fuzz)
    if ('error' in answer) {
      report.noAnswer++
      if (!(await alive(server))) throw new Error(`the server stopped answering after: ${answer.error}`)
    } else {
      const statusClass = `${Math.floor(answer.status / 100)}xx`
      report.classes[statusClass] = (report.classes[statusClass] ?? 0) + 1
    }
    if (!('error' in answer) && answer.status >= 500) {
      if (verdictOn(fuzz, answer) === undefined) report.designed503++
      else report.status5xx++
    }
    const broken = verdictOn(fuzz, answer)
    if (broken !== undefined) throw new Error(`answered ${broken}`)
    // A write aimed at the victim's uid is checked at once; everything else now and then.
    if ((fuzz.uid === 'victim' && fuzz.method !== 'GET') || ++sinceSnapshot >= 250) {
      sinceSnapshot = 0
      const now = await victimSnapshot(server, victim)
      if (now !== before) throw new Error(`the victim's data changed:\n${before}\n---\n${now}`)
    }
  })
  const result = await fc.check(property, { numRuns: options.requests, seed })
  const after = await victimSnapshot(server, victim)
  if (result.failed) {
    report.failure = [
      `fuzz invariant broken on ${server.engine}: seed ${seed}, path "${result.counterexamplePath}"`,
      `replay: bun run test:fuzz -- --engines ${server.engine} --requests ${options.requests} --seed ${seed}`,
      `case: ${JSON.stringify(result.counterexample?.[0], shortBodies)}`,
      `error: ${(result.errorInstance as Error)?.message}`,
    ].join('\n')
  } else if (after !== before) {
    report.failure = `the victim's data changed on ${server.engine} (seed ${seed}):\n${before}\n---\n${after}`
  }
  report.seconds = (performance.now() - started) / 1000
  return report
}

/** Long repeated bodies print as their recipe, not their bytes. */
const shortBodies = (_key: string, value: unknown) => (typeof value === 'string' && value.length > 500 ? `${value.slice(0, 100)}…(${value.length} chars)` : value)

/** Sends one case (used by the regression tests too). */
export function send(cast: FuzzActors, fuzz: FuzzCase): Promise<RawAnswer> {
  return rawRequest(Number(new URL(cast.server.url).port), requestBytes(cast, fuzz))
}

/** A fresh victim uid per run; the attacker is victim + 1. */
export const fuzzUids = (): number => 5_000_000 + Math.floor(Math.random() * 1_000_000) * 2
