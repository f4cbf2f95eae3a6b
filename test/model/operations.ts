import fc from 'fast-check'
import { MODEL_LIMITS, isValidId, judgePost, judgePut, page, utf8Bytes, type Millis, type SortOrder, type UserModel } from './model.ts'
import type { RestartableServer } from './server.ts'
import type { RequestOptions, SyncClient } from '../support/sync-client.ts'

/**
 * The operations a model run draws, as plain data (so a failing sequence prints and replays),
 * and how each one is sent and checked against the model.
 */

const STANDARD = ['bookmarks', 'tabs', 'clients', 'crypto', 'meta'] as const
/** Made unique per run (a suffix), so every run creates them anew on the shared database. */
const CUSTOM = ['foo', 'bar', 'x.y-z'] as const
const COLLECTIONS = [...STANDARD, ...CUSTOM]
/** Ids that collide in careless engines: trailing/leading spaces, case, SQL and URL metacharacters. */
const IDS = ['a', 'b', 'x', 'x ', 'X', ' x', 'trail', 'trail ', 'a b', 'a..b', "~!*()'", "1' OR '1'='1", '%41', 'q'.repeat(64)]
const BAD_IDS = ['r'.repeat(65), 'é', 'tab\there']
const PAYLOADS = [
  '',
  'A',
  'B',
  'payload',
  'ü',
  '😀',
  '\u0000',
  '\u0001x\u001f',
  'line\nbreak',
  '"q"\\',
  'x'.repeat(1200),
  'y'.repeat(2100),
  '{"IV": "AAAAAAAAAAAAAAAAAAAAAA==", "x": 1}',
]
const SORTINDEXES = [-999_999_999, -5, 0, 1, 7, 999_999_999]
/** 0 expires at once; the others outlive any run, so liveness never depends on the clock. */
const TTLS = [0, 86_400, 999_999_999]

type Precondition = { header: 'ims' | 'ius' | 'both' | 'garbage'; at: 'zero' | 'same' | 'earlier' | 'later' } | null

type Record_ = Record<string, unknown>
/**
 * A batch this user was handed (the request then goes to that batch's collection), one of its
 * batches sent to the op's collection (often the wrong one), another user's, or a malformed id.
 */
type BatchRef = { pick: number; whose: 'same-collection' | 'own' | 'other-user' | 'malformed' }
/** An id as written, or (a number) the n-th record the model holds in the collection, so BSO ops meet existing records. */
type IdRef = string | number
type TimeRef = { pick: number; delta: 0 | 10 }
/** How a POST body is sent: JSON, JSON as text/plain, or one record per line (§10.7). */
type BodyFormat = 'json' | 'text' | 'newlines'
const format = fc.constantFrom('json', 'json', 'json', 'text', 'newlines') as fc.Arbitrary<BodyFormat>

export type Op =
  | { kind: 'get-bso'; user: number; coll: string; id: IdRef; pre: Precondition }
  | { kind: 'put'; user: number; coll: string; id: IdRef; body: unknown; pre: Precondition }
  | { kind: 'delete-bso'; user: number; coll: string; id: IdRef; pre: Precondition }
  | { kind: 'post'; user: number; coll: string; body: unknown; format: BodyFormat; mode: 'plain' | 'true-commit' | 'commit-only'; pre: Precondition }
  | { kind: 'batch-create'; user: number; coll: string; body: unknown; format: BodyFormat; pre: Precondition }
  | { kind: 'batch-append' | 'batch-commit'; user: number; coll: string; ref: BatchRef; body: unknown; format: BodyFormat; pre: Precondition }
  | {
      kind: 'get'
      user: number
      coll: string
      ids: string[] | 'too-many' | null
      newer: TimeRef | null
      older: TimeRef | null
      sort: SortOrder | 'random' | null
      limit: number | 'minus-one' | null
      offset: number | null
      full: '1' | '' | 'false' | null
      accept: 'application/newlines' | 'text/plain' | '*/*' | null
      pre: Precondition
    }
  | { kind: 'pages'; user: number; coll: string; full: boolean; sort: SortOrder; limit: number; newer: TimeRef | null }
  | { kind: 'delete-coll'; user: number; coll: string; ids: string[] | 'too-many' | 'empty' | null; pre: Precondition }
  | { kind: 'delete-storage'; user: number; path: '' | '/storage'; pre: Precondition }
  | { kind: 'info'; user: number; view: 'collections' | 'collection_counts' | 'collection_usage' | 'quota' | 'configuration'; pre: Precondition }
  | { kind: 'restart' }
  | { kind: 'audit'; user: number }

const user = fc.nat(2)
const coll = fc.constantFrom(...COLLECTIONS)
const id = fc.oneof({ weight: 20, arbitrary: fc.constantFrom(...IDS) }, { weight: 1, arbitrary: fc.constantFrom(...BAD_IDS) })
const idRef: fc.Arbitrary<IdRef> = fc.oneof({ weight: 1, arbitrary: id }, { weight: 2, arbitrary: fc.nat(20) })
const at = fc.constantFrom('zero', 'same', 'earlier', 'later') as fc.Arbitrary<'zero' | 'same' | 'earlier' | 'later'>
const pre: fc.Arbitrary<Precondition> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(null) },
  { weight: 8, arbitrary: fc.record({ header: fc.constantFrom('ims', 'ius') as fc.Arbitrary<'ims' | 'ius'>, at }) },
  { weight: 1, arbitrary: fc.record({ header: fc.constantFrom('both', 'garbage') as fc.Arbitrary<'both' | 'garbage'>, at }) },
)

/** Each field present half the time, so partial updates (ttl-only, payload-only, …) are common. */
const validRecord: fc.Arbitrary<Record_> = fc
  .tuple(id, fc.option(fc.constantFrom(...PAYLOADS), { freq: 2 }), fc.option(fc.constantFrom(...SORTINDEXES), { freq: 2 }), fc.option(fc.constantFrom(...TTLS), { freq: 2 }))
  .map(([recordId, payload, sortindex, ttl]) => {
    const item: Record_ = { id: recordId }
    if (payload !== null) item.payload = payload
    if (sortindex !== null) item.sortindex = sortindex
    if (ttl !== null) item.ttl = ttl
    return item
  })
const invalidRecord: fc.Arbitrary<Record_> = fc.tuple(
  id,
  fc.constantFrom<Record_>(
    { payload: 5 },
    { sortindex: 1.5 },
    { sortindex: 1_000_000_000 },
    { sortindex: '3' },
    { ttl: -1 },
    { ttl: 1_000_000_000 },
    { ttl: 2.5 },
    { parentid: 'p' },
    { payload: null, sortindex: null, ttl: null },
    { modified: 123, collection: 'ignored', payload: 'kept' },
  ),
).map(([recordId, fields]) => ({ id: recordId, ...fields }))
const record = fc.oneof({ weight: 6, arbitrary: validRecord }, { weight: 1, arbitrary: invalidRecord })
const records = fc.uniqueArray(record, { maxLength: 7, selector: (item) => item.id })
/** POST bodies: mostly arrays of records; sometimes a whole-request rejection. */
const postBody: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: records },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>({}, [1], [{ payload: 'no id' }], [{ id: 5 }], [{ id: 'd' }, { id: 'd', payload: 'dup' }], 'null'),
  },
)
const putBody: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: validRecord.map(({ id: _ignored, ...fields }) => fields) },
  { weight: 1, arbitrary: invalidRecord.map(({ id: _ignored, ...fields }) => fields) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([], 'text', { id: 'r'.repeat(65), payload: 'p' }, { id: 'other', payload: 'path wins' }) },
)
const timeRef: fc.Arbitrary<TimeRef | null> = fc.option(fc.record({ pick: fc.nat(20), delta: fc.constantFrom(0, 10) as fc.Arbitrary<0 | 10> }))
const idList = fc.oneof(
  { weight: 16, arbitrary: fc.uniqueArray(fc.constantFrom(...IDS), { minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.uniqueArray(id, { minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constant('too-many' as const) },
)

export const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('get-bso' as const), user, coll, id: idRef, pre }) },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('put' as const), user, coll, id: idRef, body: putBody, pre }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('delete-bso' as const), user, coll, id: idRef, pre }) },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('post' as const),
      user,
      coll,
      body: postBody,
      format,
      mode: fc.constantFrom('plain', 'plain', 'plain', 'true-commit', 'commit-only') as fc.Arbitrary<'plain' | 'true-commit' | 'commit-only'>,
      pre,
    }),
  },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('batch-create' as const), user, coll, body: postBody, format, pre }) },
  ...(['batch-append', 'batch-commit'] as const).map((kind) => ({
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant(kind),
      user,
      coll,
      ref: fc.record({
        pick: fc.nat(10),
        whose: fc.constantFrom('same-collection', 'same-collection', 'same-collection', 'same-collection', 'own', 'other-user', 'malformed') as fc.Arbitrary<BatchRef['whose']>,
      }),
      body: postBody,
      format,
      pre,
    }),
  })),
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('get' as const),
      user,
      coll,
      ids: fc.option(idList, { freq: 3 }),
      newer: timeRef,
      older: timeRef,
      sort: fc.option(fc.constantFrom('newest', 'oldest', 'index', 'none', 'newest', 'oldest', 'index', 'none', 'random') as fc.Arbitrary<SortOrder | 'random'>),
      limit: fc.option(fc.constantFrom<number | 'minus-one'>(0, 0, 1, 2, 3, 1, 2, 3, 'minus-one')),
      offset: fc.option(fc.nat(4)),
      full: fc.option(fc.constantFrom('1', '', 'false') as fc.Arbitrary<'1' | '' | 'false'>),
      accept: fc.option(fc.constantFrom('application/newlines', 'application/newlines', '*/*', 'text/plain') as fc.Arbitrary<'application/newlines' | 'text/plain' | '*/*'>, { freq: 4 }),
      pre,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('pages' as const),
      user,
      coll,
      full: fc.boolean(),
      sort: fc.constantFrom('newest', 'oldest', 'index', 'none') as fc.Arbitrary<SortOrder>,
      limit: fc.integer({ min: 1, max: 3 }),
      newer: timeRef,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('delete-coll' as const),
      user,
      coll,
      ids: fc.option(fc.oneof(idList, fc.constant('empty' as const))),
      pre,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete-storage' as const), user, path: fc.constantFrom('' as const, '/storage' as const), pre }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('info' as const),
      user,
      view: fc.constantFrom('collections', 'collection_counts', 'collection_usage', 'quota', 'configuration') as fc.Arbitrary<
        'collections' | 'collection_counts' | 'collection_usage' | 'quota' | 'configuration'
      >,
      pre,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('audit' as const), user }) },
)

/** One op on one line, with the names a reader knows (custom collections without their run suffix). */
export function describeOp(op: Op): string {
  const { kind, ...rest } = op
  return `${kind} ${JSON.stringify(rest)}`
}

/** Simpler variants of one op, for shrinking: no precondition, fewer records, fewer parameters. */
export function simplerVariants(op: Op): Op[] {
  const variants: Op[] = []
  if ('pre' in op && op.pre !== null) variants.push({ ...op, pre: null })
  const withoutKey = (item: Record_, key: string) => Object.fromEntries(Object.entries(item).filter(([name]) => name !== key))
  if ('body' in op && Array.isArray(op.body)) {
    const body = op.body as unknown[]
    body.forEach((_, index) => variants.push({ ...op, body: body.filter((__, other) => other !== index) } as Op))
    body.forEach((item, index) => {
      if (typeof item !== 'object' || item === null) return
      for (const key of Object.keys(item).filter((name) => name !== 'id')) {
        variants.push({ ...op, body: body.with(index, withoutKey(item as Record_, key)) } as Op)
      }
    })
  }
  if (op.kind === 'put' && typeof op.body === 'object' && op.body !== null && !Array.isArray(op.body)) {
    for (const key of Object.keys(op.body)) variants.push({ ...op, body: withoutKey(op.body as Record_, key) })
  }
  if (op.kind === 'get') {
    for (const key of ['ids', 'newer', 'older', 'sort', 'limit', 'offset', 'full', 'accept'] as const) {
      if (op[key] !== null) variants.push({ ...op, [key]: null })
    }
  }
  if ((op.kind === 'pages' && op.newer !== null) || (op.kind === 'delete-coll' && op.ids !== null)) {
    variants.push({ ...op, [op.kind === 'pages' ? 'newer' : 'ids']: null } as Op)
  }
  return variants
}

export class Divergence extends Error {}

/**
 * What an engine documents doing differently from the other engines (README): MySQL's keys
 * compare with PAD SPACE, so it refuses to write ids ending in a space (400, code 8) rather
 * than merge them with the same id without the spaces. MODEL_ENGINE_QUIRKS=off expects every
 * engine to keep such ids apart (how the merge itself was found on the old code).
 */
const REFUSES_TRAILING_SPACE_IDS = new Set(process.env.MODEL_ENGINE_QUIRKS === 'off' ? [] : ['mysql'])

/** True when this engine refuses the write of these records as a whole. */
const refusedByEngine = (engine: string, writes: readonly { id: string }[]) =>
  REFUSES_TRAILING_SPACE_IDS.has(engine) && writes.some((write) => write.id.endsWith(' '))

/** What one run works on: fresh users and collection names on a long-lived server. */
export class RunContext {
  private static nextBase = 3_000_000 + Math.floor(Math.random() * 10_000) * 100
  readonly uids: number[]
  readonly models: UserModel[]
  private readonly suffix: string
  /** The latest write timestamp seen: the clock never goes back. */
  latestWrite: Millis = 0

  constructor(
    readonly server: RestartableServer,
    makeModel: () => UserModel,
  ) {
    const base = RunContext.nextBase
    RunContext.nextBase += 100
    // Two uids with the same uid mod 10, which some engines put into batch ids.
    this.uids = [base, base + 10, base + 1]
    this.models = this.uids.map(makeModel)
    this.suffix = `-${base.toString(36)}`
  }

  collection(logical: string): string {
    return (CUSTOM as readonly string[]).includes(logical) ? `${logical}${this.suffix}` : logical
  }

  logical(collection: string): string {
    return collection.endsWith(this.suffix) ? collection.slice(0, -this.suffix.length) : collection
  }
}

/** How often each op kind got each status, over the process: shows what the runs reached. */
export const coverage = new Map<string, number>()

export function coverageSummary(): string {
  return [...coverage].sort(([a], [b]) => a.localeCompare(b)).map(([key, count]) => `${key}:${count}`).join(' ')
}

interface Sent {
  status: number
  headers: Headers
  text: string
  sentAt: number
  receivedAt: number
}

const seconds = (ms: Millis) => (ms / 1000).toFixed(2)
const headerMs = (value: string | null): Millis | undefined => (value === null ? undefined : Math.round(Number(value) * 100) * 10)
const TIMESTAMP = /^\d+\.\d{2}$/

async function send(
  ctx: RunContext,
  op: Op & { user: number },
  method: string,
  path: string,
  init: { body?: string; headers?: Record<string, string>; unsigned?: boolean; contentType?: string } = {},
): Promise<Sent> {
  const client = ctx.server.client(ctx.uids[op.user] as number)
  const headers = { ...init.headers }
  if (init.body !== undefined) headers['content-type'] = init.contentType ?? 'application/json'
  const { response, sentAt } = await requestRetryingAborts(ctx, client, method, path, { body: init.body, headers, unsigned: init.unsigned })
  const text = await response.text()
  const sent = { status: response.status, headers: response.headers, text, sentAt, receivedAt: Date.now() }
  const key = `${op.kind} ${sent.status}`
  coverage.set(key, (coverage.get(key) ?? 0) + 1)
  checkEveryResponse(sent, `${method} ${path}`)
  return sent
}

/**
 * On an engine whose transactions abort on their own (Spanner: the emulator aborts one now and
 * then even with a single client, and production Spanner may abort any transaction), a 503 with
 * Retry-After is retried as Firefox retries it. The model applies the operation once, so an
 * abort that left anything behind still shows up as a divergence later in the sequence.
 */
const MOST_ATTEMPTS = 5
export const abortRetries = { count: 0 }

const isRetriedAbort = (ctx: RunContext, response: Response, attempt: number): boolean =>
  ctx.server.abortsOnItsOwn && response.status === 503 && response.headers.has('retry-after') && attempt < MOST_ATTEMPTS

/** One request, retried while isRetriedAbort says so; `sentAt` is when the answered attempt left. */
export async function requestRetryingAborts(
  ctx: RunContext,
  client: SyncClient,
  method: string,
  path: string,
  options: RequestOptions,
): Promise<{ response: Response; sentAt: number }> {
  for (let attempt = 1; ; attempt++) {
    const sentAt = Date.now()
    const response = await client.request(method, path, options)
    if (!isRetriedAbort(ctx, response, attempt)) return { response, sentAt }
    await response.text()
    abortRetries.count++
    await Bun.sleep(10 * attempt)
  }
}

function fail(message: string): never {
  throw new Divergence(message)
}

function checkEveryResponse(sent: Sent, what: string): void {
  if (sent.status >= 500) fail(`${what}: ${sent.status} ${sent.text}`)
  const weave = sent.headers.get('x-weave-timestamp')
  if (weave === null || !TIMESTAMP.test(weave)) fail(`${what}: X-Weave-Timestamp ${weave}`)
  const lastModified = sent.headers.get('x-last-modified')
  if (lastModified !== null) {
    if (!TIMESTAMP.test(lastModified)) fail(`${what}: X-Last-Modified ${lastModified}`)
    if (Number(weave) < Number(lastModified)) fail(`${what}: X-Weave-Timestamp ${weave} < X-Last-Modified ${lastModified}`)
  }
  if (sent.text !== '' && !(sent.headers.get('content-type') ?? '').startsWith('application/')) fail(`${what}: a body without a JSON content type`)
}

function expectStatus(sent: Sent, status: number, what: string): void {
  if (sent.status !== status) fail(`${what}: expected status ${status}, got ${sent.status} with body ${sent.text.slice(0, 300)}`)
}

function expectError(sent: Sent, status: number, code: number, what: string): void {
  expectStatus(sent, status, what)
  if (sent.text !== String(code)) fail(`${what}: expected error body ${code}, got ${sent.text.slice(0, 200)}`)
}

function expectEmpty(sent: Sent, status: 304 | 412, lastModified: Millis, what: string): void {
  expectStatus(sent, status, what)
  if (sent.text !== '' || sent.headers.get('content-type') !== null) fail(`${what}: ${status} with a body or Content-Type`)
  expectLastModified(sent, lastModified, what)
}

function expectLastModified(sent: Sent, expected: Millis, what: string): void {
  const actual = sent.headers.get('x-last-modified')
  if (actual !== seconds(expected)) fail(`${what}: X-Last-Modified ${actual}, expected ${seconds(expected)}`)
}

function expectJson(sent: Sent, expected: unknown, what: string): void {
  let actual: unknown
  try {
    actual = JSON.parse(sent.text)
  } catch {
    fail(`${what}: body is not JSON: ${sent.text.slice(0, 200)}`)
  }
  if (!Bun.deepEquals(actual, expected, true)) fail(`${what}: body\n  expected ${JSON.stringify(expected)}\n  actual   ${sent.text.slice(0, 2000)}`)
}

/** A write's T: X-Last-Modified, checked against the model's timestamps and the clock. */
function observeWrite(ctx: RunContext, sent: Sent, previous: Millis, what: string): Millis {
  const t = headerMs(sent.headers.get('x-last-modified'))
  if (t === undefined) fail(`${what}: a write without X-Last-Modified`)
  if (sent.headers.get('x-weave-timestamp') !== seconds(t)) fail(`${what}: X-Weave-Timestamp ${sent.headers.get('x-weave-timestamp')} differs from T ${seconds(t)}`)
  return checkWriteTimestamp(ctx, t, sent, previous, what)
}

function checkWriteTimestamp(ctx: RunContext, t: Millis, sent: Sent, previous: Millis, what: string): Millis {
  if (t <= previous) fail(`${what}: T ${seconds(t)} is not after the collection's ${seconds(previous)}`)
  if (t < ctx.latestWrite) fail(`${what}: T ${seconds(t)} is before an earlier write's ${seconds(ctx.latestWrite)}`)
  if (t < sent.sentAt - (sent.sentAt % 10) || t > sent.receivedAt) fail(`${what}: T ${seconds(t)} outside the request's time [${sent.sentAt}, ${sent.receivedAt}] ms`)
  ctx.latestWrite = t
  return t
}

type PreOutcome = { headers: Record<string, string>; bad: boolean; decide: (resource: Millis) => 304 | 412 | undefined }

/** The precondition headers of `pre`, resolved against the resource's current timestamp. */
function precondition(pre: Precondition, resource: Millis): PreOutcome {
  if (pre === null) return { headers: {}, bad: false, decide: () => undefined }
  const value = { zero: 0, same: resource, earlier: resource - 10, later: resource + 10 }[pre.at]
  const text = value < 0 ? '-0.01' : seconds(value)
  switch (pre.header) {
    case 'both':
      return { headers: { 'x-if-modified-since': text, 'x-if-unmodified-since': text }, bad: true, decide: () => undefined }
    case 'garbage':
      return { headers: { 'x-if-unmodified-since': 'yesterday' }, bad: true, decide: () => undefined }
    case 'ims':
      return { headers: { 'x-if-modified-since': text }, bad: value < 0, decide: (ts) => (ts <= value ? 304 : undefined) }
    case 'ius':
      return { headers: { 'x-if-unmodified-since': text }, bad: value < 0, decide: (ts) => (ts > value ? 412 : undefined) }
  }
}

/** Checks a 304/412 the precondition predicts; true when one was due (the op is then done). */
function preconditionAnswered(sent: Sent, outcome: PreOutcome, resource: Millis, what: string): boolean {
  const status = outcome.decide(resource)
  if (status === undefined) return false
  expectEmpty(sent, status, resource, what)
  return true
}

const bsoPath = (collection: string, bsoId: string) => `/storage/${collection}/${encodeURIComponent(bsoId)}`

const bsoJson = (bsoId: string, bso: { modified: Millis; payload: string; sortindex: number | null }) => {
  const json: Record<string, unknown> = { id: bsoId, modified: bso.modified / 1000, payload: bso.payload }
  if (bso.sortindex !== null) json.sortindex = bso.sortindex
  return json
}

/** The `failed` object with validator texts reduced to their stable prefix. */
function normaliseFailed(text: string): unknown {
  const body = JSON.parse(text) as { failed?: Record<string, string> }
  if (body.failed !== undefined) {
    for (const [key, reason] of Object.entries(body.failed)) if (reason.startsWith('invalid bso')) body.failed[key] = 'invalid bso'
  }
  return body
}

function expectPostResult(sent: Sent, expected: Record<string, unknown>, what: string): void {
  const actual = normaliseFailed(sent.text)
  if (!Bun.deepEquals(actual, expected, true)) fail(`${what}: body\n  expected ${JSON.stringify(expected)}\n  actual   ${sent.text.slice(0, 2000)}`)
}

/** Runs one op against the server and the model; throws a Divergence at the first difference. */
export async function runOp(ctx: RunContext, op: Op): Promise<void> {
  const what = describeOp(op)
  switch (op.kind) {
    case 'restart':
      return ctx.server.restart()
    case 'get-bso':
      return getBso(ctx, op, what)
    case 'put':
      return putBso(ctx, op, what)
    case 'delete-bso':
      return deleteBso(ctx, op, what)
    case 'post':
    case 'batch-create':
    case 'batch-append':
    case 'batch-commit':
      return post(ctx, op, what)
    case 'get':
      return getCollection(ctx, op, what)
    case 'pages':
      return pages(ctx, op, what)
    case 'delete-coll':
      return deleteCollection(ctx, op, what)
    case 'delete-storage':
      return deleteStorage(ctx, op, what)
    case 'info':
      return info(ctx, op, what)
    case 'audit':
      return audit(ctx, op.user, what)
  }
}

const modelOf = (ctx: RunContext, op: { user: number }) => ctx.models[op.user] as UserModel

/** What every single-record operation works out first: the record, its timestamp and the precondition. */
function bsoTarget(ctx: RunContext, op: Extract<Op, { kind: 'get-bso' | 'put' | 'delete-bso' }>, described: string) {
  const model = modelOf(ctx, op)
  const collection = ctx.collection(op.coll)
  const bsoId = resolveId(model, collection, op.id)
  const what = typeof op.id === 'number' ? `${described} (id ${JSON.stringify(bsoId)})` : described
  const resource = model.bsoTimestamp(collection, bsoId)
  const outcome = precondition(op.pre, resource)
  return { model, collection, bsoId, what, resource, outcome }
}

async function getBso(ctx: RunContext, op: Extract<Op, { kind: 'get-bso' }>, described: string): Promise<void> {
  const { model, collection, bsoId, what, resource, outcome } = bsoTarget(ctx, op, described)
  const sent = await send(ctx, op, 'GET', bsoPath(collection, bsoId), { headers: outcome.headers })
  if (!isValidId(bsoId) || outcome.bad) return expectError(sent, 400, 0, what)
  if (preconditionAnswered(sent, outcome, resource, what)) return
  const bso = model.liveBso(collection, bsoId)
  if (bso === undefined) return expectError(sent, 404, 0, what)
  expectStatus(sent, 200, what)
  expectJson(sent, bsoJson(bsoId, bso), what)
  expectLastModified(sent, bso.modified, what)
}

async function putBso(ctx: RunContext, op: Extract<Op, { kind: 'put' }>, described: string): Promise<void> {
  const { model, collection, bsoId, what, resource, outcome } = bsoTarget(ctx, op, described)
  const body = typeof op.body === 'string' ? op.body : JSON.stringify(op.body)
  const sent = await send(ctx, op, 'PUT', bsoPath(collection, bsoId), { body, headers: outcome.headers })
  if (!isValidId(bsoId)) return expectError(sent, 400, 0, what)
  const write = judgePut(bsoId, typeof op.body === 'string' ? undefined : op.body, op.coll)
  if (write === undefined) return expectError(sent, 400, 8, what)
  if (outcome.bad) return expectError(sent, 400, 0, what)
  if (preconditionAnswered(sent, outcome, resource, what)) return
  if (refusedByEngine(ctx.server.engine, [write])) return expectError(sent, 400, 8, what)
  expectStatus(sent, 200, what)
  const t = observeWrite(ctx, sent, model.collectionTimestamp(collection), what)
  expectJson(sent, t / 1000, what)
  if (!TIMESTAMP.test(sent.text)) fail(`${what}: body ${sent.text} is not a two-decimal timestamp`)
  model.upsert(collection, write, t, false)
}

async function deleteBso(ctx: RunContext, op: Extract<Op, { kind: 'delete-bso' }>, described: string): Promise<void> {
  const { model, collection, bsoId, what, resource, outcome } = bsoTarget(ctx, op, described)
  const sent = await send(ctx, op, 'DELETE', bsoPath(collection, bsoId), { headers: outcome.headers })
  if (!isValidId(bsoId) || outcome.bad) return expectError(sent, 400, 0, what)
  if (preconditionAnswered(sent, outcome, resource, what)) return
  const bso = model.liveBso(collection, bsoId)
  if (bso === undefined) return expectError(sent, 404, 0, what)
  expectStatus(sent, 200, what)
  expectLastModified(sent, bso.modified, what)
  const body = JSON.parse(sent.text) as { modified: number }
  const t = checkWriteTimestamp(ctx, Math.round(body.modified * 100) * 10, sent, model.collectionTimestamp(collection), what)
  expectJson(sent, { modified: t / 1000 }, what)
  model.collections.get(collection)?.bsos.delete(bsoId)
  model.touch(collection, t)
}

/** The batch id a ref names: one this user (or another) was handed, or a malformed one. */
function resolveBatch(ctx: RunContext, op: { user: number; coll: string; ref: BatchRef }): { id: string; coll: string } {
  const owner = ctx.models[op.ref.whose === 'other-user' ? (op.user + 1) % ctx.models.length : op.user] as UserModel
  // Mostly a batch still open; otherwise any ever issued (committed and deleted ones must answer 400).
  const open = owner.issuedBatches.filter((batch) => owner.batches.has(owner.batchKey(batch.collection, batch.id)))
  const issued = op.ref.whose === 'same-collection' && open.length > 0 ? open : owner.issuedBatches
  if (op.ref.whose === 'malformed' || issued.length === 0) return { id: 'sammich', coll: op.coll }
  const batch = issued[op.ref.pick % issued.length] as { id: string; collection: string }
  return { id: batch.id, coll: op.ref.whose === 'same-collection' ? ctx.logical(batch.collection) : op.coll }
}

/** The id an IdRef names: as written, or the n-th (mod count) record the model holds in the collection. */
function resolveId(model: UserModel, collection: string, ref: IdRef): string {
  if (typeof ref === 'string') return ref
  const known = [...(model.collections.get(collection)?.bsos.keys() ?? [])].sort()
  return known.length === 0 ? 'a' : (known[ref % known.length] as string)
}

async function post(ctx: RunContext, op: Extract<Op, { kind: 'post' | 'batch-create' | 'batch-append' | 'batch-commit' }>, described: string): Promise<void> {
  const model = modelOf(ctx, op)
  const batch = op.kind === 'batch-append' || op.kind === 'batch-commit' ? resolveBatch(ctx, op) : undefined
  const batchId = batch?.id
  const logical = batch?.coll ?? op.coll
  const collection = ctx.collection(logical)
  const what = batch === undefined ? described : `${described} (batch ${batch.id} on ${logical})`
  const resource = model.collectionTimestamp(collection)
  const outcome = precondition(op.pre, resource)
  const query = {
    post: { plain: '', 'true-commit': '?batch=true&commit=true', 'commit-only': '?commit=true' }[op.kind === 'post' ? op.mode : 'plain'],
    'batch-create': '?batch=true',
    'batch-append': `?batch=${batchId}`,
    'batch-commit': `?batch=${batchId}&commit=true`,
  }[op.kind]
  const asLines = op.format === 'newlines' && Array.isArray(op.body)
  const body = asLines ? (op.body as unknown[]).map((item) => `${JSON.stringify(item)}\n`).join('') : typeof op.body === 'string' ? op.body : JSON.stringify(op.body)
  const contentType = asLines ? 'application/newlines' : op.format === 'text' ? 'text/plain' : 'application/json'
  const sent = await send(ctx, op, 'POST', `/storage/${collection}${query}`, { body, headers: outcome.headers, contentType })
  if (utf8Bytes(body) > MODEL_LIMITS.max_request_bytes) return expectError(sent, 413, 17, what)
  const verdict = judgePost(typeof op.body === 'string' ? JSON.parse(op.body) : op.body, logical)
  if (verdict.rejected) return expectError(sent, 400, 8, what)
  if ((op.kind === 'post' && op.mode === 'commit-only') || batchId === 'sammich' || outcome.bad) return expectError(sent, 400, 0, what)
  if (preconditionAnswered(sent, outcome, resource, what)) return
  const success = verdict.valid.map((write) => write.id)
  const failed = Object.fromEntries(verdict.failed)
  if (batchId !== undefined && !model.batches.has(model.batchKey(collection, batchId))) return expectError(sent, 400, 0, what)
  if (refusedByEngine(ctx.server.engine, verdict.valid)) return expectError(sent, 400, 8, what)
  if (op.kind === 'batch-create' || op.kind === 'batch-append') {
    expectStatus(sent, 202, what)
    expectLastModified(sent, resource, what)
    const issued = (JSON.parse(sent.text) as { batch?: unknown }).batch
    if (typeof issued !== 'string' || !/^[A-Za-z0-9_-]+=*$/.test(issued) || issued.toLowerCase() === 'true') fail(`${what}: batch id ${JSON.stringify(issued)} is not query-safe`)
    if (op.kind === 'batch-append' && issued !== batchId) fail(`${what}: appended to ${batchId}, answered ${issued}`)
    expectPostResult(sent, { batch: issued, success, failed }, what)
    if (op.kind === 'batch-create') {
      if (model.batches.has(model.batchKey(collection, issued))) fail(`${what}: batch id ${issued} handed out twice`)
      model.batches.set(model.batchKey(collection, issued), new Map())
      model.issuedBatches.push({ collection, id: issued })
    }
    model.stage(collection, issued, verdict.valid)
    return
  }
  expectStatus(sent, 200, what)
  const t = observeWrite(ctx, sent, resource, what)
  expectPostResult(sent, { modified: t / 1000, success, failed }, what)
  if (batchId !== undefined) model.commit(collection, batchId, t)
  for (const write of verdict.valid) model.upsert(collection, write, t, false)
  model.touch(collection, t)
}

/** The newer/older value a TimeRef names: one of the collection's record timestamps, or 10 ms after it. */
function resolveTime(model: UserModel, collection: string, ref: TimeRef): Millis {
  const stamps = [...new Set([...(model.collections.get(collection)?.bsos.values() ?? [])].map((bso) => bso.modified))].sort((a, b) => a - b)
  const base = stamps.length === 0 ? model.collectionTimestamp(collection) : (stamps[ref.pick % stamps.length] as Millis)
  return base + ref.delta
}

const TOO_MANY = Array.from({ length: 101 }, (_, i) => `many${i}`)
const idsParam = (ids: string[] | 'too-many') => (ids === 'too-many' ? TOO_MANY : ids).map(encodeURIComponent).join(',')
/** What the server makes of an `ids` list (§8): items trimmed, empty ones dropped. */
const parsedIds = (ids: string[]) => ids.map((item) => item.trim()).filter((item) => item !== '')

async function getCollection(ctx: RunContext, op: Extract<Op, { kind: 'get' }>, what: string): Promise<void> {
  const model = modelOf(ctx, op)
  const collection = ctx.collection(op.coll)
  const resource = model.collectionTimestamp(collection)
  const outcome = precondition(op.pre, resource)
  const params: string[] = []
  if (op.ids !== null) params.push(`ids=${idsParam(op.ids)}`)
  const newer = op.newer === null ? undefined : resolveTime(model, collection, op.newer)
  const older = op.older === null ? undefined : resolveTime(model, collection, op.older)
  if (newer !== undefined) params.push(`newer=${seconds(newer)}`)
  if (older !== undefined) params.push(`older=${seconds(older)}`)
  if (op.sort !== null) params.push(`sort=${op.sort}`)
  if (op.limit !== null) params.push(`limit=${op.limit === 'minus-one' ? -1 : op.limit}`)
  if (op.offset !== null) params.push(`offset=${op.offset}`)
  if (op.full !== null) params.push(`full=${op.full}`)
  const headers = { ...outcome.headers, ...(op.accept === null ? {} : { accept: op.accept }) }
  const path = `/storage/${collection}${params.length > 0 ? `?${params.join('&')}` : ''}`
  const sent = await send(ctx, op, 'GET', path, { headers })
  const ids = op.ids === null ? undefined : parsedIds(op.ids === 'too-many' ? TOO_MANY : op.ids)
  const badQuery = (ids !== undefined && (ids.length > 100 || !ids.every(isValidId))) || op.sort === 'random' || op.limit === 'minus-one'
  if (badQuery) return expectError(sent, 400, 0, what)
  if (op.accept === 'text/plain') return expectError(sent, 406, 0, what)
  if (outcome.bad) return expectError(sent, 400, 0, what)
  if (preconditionAnswered(sent, outcome, resource, what)) return
  const sort = (op.sort ?? 'none') as SortOrder
  const full = op.full !== null
  const limit = op.limit === null ? undefined : (op.limit as number)
  const rows = model.listing(collection, { ids: ids !== undefined && ids.length > 0 ? ids : undefined, newer, older, sort })
  const expected = page(rows, { full, sort, limit, offset: op.offset === null ? undefined : { skip: op.offset } })
  expectListing(sent, expected, full, op.accept === 'application/newlines', resource, what)
}

function expectListing(
  sent: Sent,
  expected: { items: ({ id: string } & { modified: Millis; payload: string; sortindex: number | null })[]; next?: string },
  full: boolean,
  newlines: boolean,
  lastModified: Millis,
  what: string,
): void {
  expectStatus(sent, 200, what)
  expectLastModified(sent, lastModified, what)
  const items = expected.items.map((row) => (full ? bsoJson(row.id, row) : row.id))
  if (newlines) {
    if (sent.headers.get('content-type') !== 'application/newlines') fail(`${what}: Content-Type ${sent.headers.get('content-type')}`)
    const lines = sent.text === '' ? [] : sent.text.replace(/\n$/, '').split('\n').map((line) => JSON.parse(line) as unknown)
    if (!Bun.deepEquals(lines, items, true)) fail(`${what}: lines\n  expected ${JSON.stringify(items)}\n  actual   ${sent.text.slice(0, 2000)}`)
  } else {
    expectJson(sent, items, what)
  }
  const records = sent.headers.get('x-weave-records')
  if (records !== String(items.length)) fail(`${what}: X-Weave-Records ${records}, expected ${items.length}`)
  const next = sent.headers.get('x-weave-next-offset') ?? undefined
  if (next !== expected.next) fail(`${what}: X-Weave-Next-Offset ${next}, expected ${expected.next}`)
}

/** Pages through a listing with the server's offsets; every page and their concatenation must match. */
async function pages(ctx: RunContext, op: Extract<Op, { kind: 'pages' }>, what: string): Promise<void> {
  const model = modelOf(ctx, op)
  const collection = ctx.collection(op.coll)
  const newer = op.newer === null ? undefined : resolveTime(model, collection, op.newer)
  const rows = model.listing(collection, { newer, sort: op.sort })
  let offset: { timestamp?: Millis; skip: number } | undefined
  let token: string | undefined
  const collected: string[] = []
  for (let pageNumber = 0; pageNumber < 40; pageNumber++) {
    const params = [`limit=${op.limit}`, `sort=${op.sort}`]
    if (op.full) params.push('full=1')
    if (newer !== undefined) params.push(`newer=${seconds(newer)}`)
    if (token !== undefined) params.push(`offset=${token}`)
    const sent = await send(ctx, op, 'GET', `/storage/${collection}?${params.join('&')}`)
    const expected = page(rows, { full: op.full, sort: op.sort, limit: op.limit, offset })
    expectListing(sent, expected, op.full, false, model.collectionTimestamp(collection), `${what} page ${pageNumber}`)
    collected.push(...expected.items.map((row) => row.id))
    token = expected.next
    if (token === undefined) break
    const [first, second] = token.split(':')
    offset = second === undefined ? { skip: Number(first) } : { timestamp: Number(first), skip: Number(second) }
  }
  const whole = rows.map((row) => row.id)
  if (!Bun.deepEquals(collected, whole)) fail(`${what}: pages ${JSON.stringify(collected)} differ from the listing ${JSON.stringify(whole)}`)
}

async function deleteCollection(ctx: RunContext, op: Extract<Op, { kind: 'delete-coll' }>, what: string): Promise<void> {
  const model = modelOf(ctx, op)
  const collection = ctx.collection(op.coll)
  const resource = model.collectionTimestamp(collection)
  const outcome = precondition(op.pre, resource)
  const query = op.ids === null ? '' : op.ids === 'empty' ? '?ids=' : `?ids=${idsParam(op.ids)}`
  const sent = await send(ctx, op, 'DELETE', `/storage/${collection}${query}`, { headers: outcome.headers })
  const ids = op.ids === null || op.ids === 'empty' ? [] : parsedIds(op.ids === 'too-many' ? TOO_MANY : op.ids)
  if (ids.length > 100 || !ids.every(isValidId) || outcome.bad) return expectError(sent, 400, 0, what)
  if (preconditionAnswered(sent, outcome, resource, what)) return
  expectStatus(sent, 200, what)
  if (ids.length > 0) {
    const t = observeWrite(ctx, sent, resource, what)
    expectJson(sent, t / 1000, what)
    const row = model.touch(collection, t)
    for (const gone of ids) row.bsos.delete(gone)
    return
  }
  expectLastModified(sent, resource, what)
  if (!TIMESTAMP.test(sent.text)) fail(`${what}: body ${sent.text} is not a two-decimal timestamp`)
  const after = Math.round(Number(sent.text) * 100) * 10
  if (model.collections.has(collection)) {
    // The tombstone's T is the storage timestamp the answer reports.
    checkWriteTimestamp(ctx, after, sent, resource, what)
    if (after < model.storageTimestamp()) fail(`${what}: storage timestamp went back to ${seconds(after)}`)
    model.collections.delete(collection)
    model.tombstone = after
  } else {
    expectJson(sent, model.storageTimestamp() / 1000, what)
  }
  model.deleteCollectionBatches(collection)
}

async function deleteStorage(ctx: RunContext, op: Extract<Op, { kind: 'delete-storage' }>, what: string): Promise<void> {
  const model = modelOf(ctx, op)
  const resource = model.storageTimestamp()
  const outcome = precondition(op.pre, resource)
  const sent = await send(ctx, op, 'DELETE', op.path, { headers: outcome.headers })
  if (outcome.bad) return expectError(sent, 400, 0, what)
  if (preconditionAnswered(sent, outcome, resource, what)) return
  expectStatus(sent, 200, what)
  expectLastModified(sent, resource, what)
  expectJson(sent, null, what)
  model.wipe()
}

function infoBody(model: UserModel, view: 'collections' | 'collection_counts' | 'collection_usage' | 'quota'): unknown {
  const live = [...model.collections].map(([name, row]) => [name, [...row.bsos.values()].filter((bso) => bso.live)] as const)
  switch (view) {
    case 'collections':
      return Object.fromEntries([...model.collections].map(([name, row]) => [name, row.modified / 1000]))
    case 'collection_counts':
      return Object.fromEntries(live.filter(([, bsos]) => bsos.length > 0).map(([name, bsos]) => [name, bsos.length]))
    case 'collection_usage':
      return Object.fromEntries(
        live.filter(([, bsos]) => bsos.length > 0).map(([name, bsos]) => [name, bsos.reduce((sum, bso) => sum + utf8Bytes(bso.payload), 0) / 1024]),
      )
    case 'quota':
      return [live.reduce((sum, [, bsos]) => sum + bsos.reduce((total, bso) => total + utf8Bytes(bso.payload), 0), 0) / 1024, null]
  }
}

async function info(ctx: RunContext, op: Extract<Op, { kind: 'info' }>, what: string): Promise<void> {
  const model = modelOf(ctx, op)
  if (op.view === 'configuration') {
    const sent = await send(ctx, op, 'GET', '/info/configuration', { unsigned: true })
    expectStatus(sent, 200, what)
    expectLastModified(sent, 0, what)
    return expectJson(sent, MODEL_LIMITS, what)
  }
  const resource = model.storageTimestamp()
  const outcome = precondition(op.pre, resource)
  const sent = await send(ctx, op, 'GET', `/info/${op.view}`, { headers: outcome.headers })
  if (outcome.bad) return expectError(sent, 400, 0, what)
  if (preconditionAnswered(sent, outcome, resource, what)) return
  expectStatus(sent, 200, what)
  expectLastModified(sent, resource, what)
  const expected = infoBody(model, op.view)
  expectJson(sent, expected, what)
  if (op.view !== 'quota' && sent.headers.get('x-weave-records') !== String(Object.keys(expected as object).length)) {
    fail(`${what}: X-Weave-Records ${sent.headers.get('x-weave-records')}`)
  }
  if (op.view === 'collections') {
    const raw = sent.text.match(/":\d+\.\d{2}(?=[,}])/g) ?? []
    if (raw.length !== Object.keys(expected as object).length) fail(`${what}: timestamps not written with two decimals: ${sent.text}`)
  }
}

/** Every view of one user at once: info/*, and each collection (plus a never-used one) in full. */
async function audit(ctx: RunContext, user: number, what: string): Promise<void> {
  for (const view of ['collections', 'collection_counts', 'collection_usage', 'quota'] as const) {
    await info(ctx, { kind: 'info', user, view, pre: null }, `${what} info/${view}`)
  }
  const model = ctx.models[user] as UserModel
  for (const collection of [...model.collections.keys(), 'forms']) {
    const sent = await send(ctx, { kind: 'audit', user }, 'GET', `/storage/${collection}?full=1&sort=oldest`)
    const rows = model.listing(collection, { sort: 'oldest' })
    expectListing(sent, { items: rows }, true, false, model.collectionTimestamp(collection), `${what} ${collection}`)
  }
}
