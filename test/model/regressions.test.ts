import { afterAll, beforeAll, describe, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import type { Op } from './operations.ts'
import { replay } from './runner.ts'
import { RestartableServer } from './server.ts'

/**
 * Sequences the model-based test found diverging on the code before issue 9's fixes, replayed
 * on every engine against the same model (each failed on commit ac925af).
 */
const noQuery = { ids: null, newer: null, older: null, sort: null, limit: null, offset: null, full: null, accept: null, pre: null }
const list = (user: number, coll: string): Op => ({ kind: 'get', user, coll, ...noQuery })
const post = (user: number, coll: string, body: unknown[]): Op => ({ kind: 'post', user, coll, body, format: 'json', mode: 'plain', pre: null })

const SEQUENCES: { name: string; ops: Op[] }[] = [
  {
    name: "SQLite: the issue's repro (a DELETE answered 404 on a new collection, then two new collections), across a restart and another user",
    ops: [
      { kind: 'delete-bso', user: 0, coll: 'foo', id: 'x', pre: null },
      post(0, 'bar', [{ id: 'b', payload: 'B' }]),
      post(0, 'foo', [{ id: 'f', payload: 'F' }]),
      list(0, 'bar'),
      list(0, 'foo'),
      { kind: 'info', user: 0, view: 'collections', pre: null },
      { kind: 'restart' },
      { kind: 'audit', user: 0 },
      post(1, 'foo', [{ id: 'g', payload: 'G' }]),
      { kind: 'audit', user: 1 },
    ],
  },
  {
    name: 'SQLite (seed 9): a 404 DELETE on a new collection, a PUT to another, then paging the first',
    ops: [
      { kind: 'delete-bso', user: 2, coll: 'x.y-z', id: "1' OR '1'='1", pre: null },
      { kind: 'put', user: 1, coll: 'foo', id: 'a', body: { payload: '\u0000', ttl: 999_999_999 }, pre: null },
      { kind: 'pages', user: 1, coll: 'x.y-z', full: false, sort: 'none', limit: 2, newer: null },
    ],
  },
  {
    name: 'SQLite (seed 6): a PUT answered 304 (X-If-Modified-Since) on a new collection',
    ops: [
      { kind: 'put', user: 0, coll: 'bar', id: 'X', body: { payload: 'B', ttl: 86_400 }, pre: { header: 'ims', at: 'zero' } },
      { kind: 'put', user: 2, coll: 'bar', id: 'a b', body: { payload: 'p', sortindex: -5 }, pre: null },
      { kind: 'delete-coll', user: 2, coll: 'x.y-z', ids: null, pre: null },
      { kind: 'audit', user: 2 },
    ],
  },
  {
    name: 'SQLite (seed 2): a batch id of one collection used on a merged one',
    ops: [
      { kind: 'batch-create', user: 0, coll: 'bar', body: [], format: 'json', pre: null },
      { kind: 'batch-commit', user: 0, coll: 'foo', ref: { pick: 0, whose: 'own' }, body: [], format: 'json', pre: null },
      { kind: 'batch-create', user: 2, coll: 'x.y-z', body: [], format: 'json', pre: null },
      { kind: 'batch-append', user: 2, coll: 'foo', ref: { pick: 0, whose: 'own' }, body: [], format: 'newlines', pre: null },
      { kind: 'audit', user: 2 },
    ],
  },
  {
    name: 'MariaDB (seed 6): ids differing only by a trailing space in one POST',
    ops: [
      post(2, 'bookmarks', [{ id: 'trail ', payload: '\u0001x\u001f', sortindex: -5 }, { id: 'trail', payload: 'payload', ttl: 999_999_999 }]),
      { kind: 'info', user: 2, view: 'collection_counts', pre: null },
      { kind: 'audit', user: 2 },
    ],
  },
  {
    name: 'MariaDB (seed 4): PUT `trail ` then an expiring PUT of `trail`',
    ops: [
      { kind: 'put', user: 1, coll: 'clients', id: 'trail ', body: {}, pre: null },
      { kind: 'put', user: 1, coll: 'clients', id: 'trail', body: { payload: '', sortindex: 1, ttl: 0 }, pre: null },
      { kind: 'info', user: 1, view: 'collection_counts', pre: null },
      { kind: 'get', user: 1, coll: 'clients', ...noQuery, ids: ['trail'], full: '1' },
    ],
  },
  {
    name: 'PostgreSQL (seeds 1, 3): U+0000 and U+0001 in payloads count one byte each',
    ops: [
      { kind: 'put', user: 0, coll: 'bookmarks', id: 'X', body: { payload: '\u0001x\u001f', ttl: 999_999_999 }, pre: null },
      post(0, 'foo', [{ id: 'a..b', payload: '\u0000', ttl: 999_999_999 }]),
      { kind: 'info', user: 0, view: 'collection_usage', pre: null },
      { kind: 'info', user: 0, view: 'quota', pre: null },
    ],
  },
]

describe.each(backends)('model regressions on $name', (backend) => {
  let server: RestartableServer
  beforeAll(async () => {
    server = await RestartableServer.start(backend)
  })
  afterAll(() => server?.stop())

  test.each(SEQUENCES)('$name', ({ ops }) => replay(server, ops))
})
