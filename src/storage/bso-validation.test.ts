import { describe, expect, test } from 'bun:test'
import { validatePostItems, validatePutBody } from './bso-validation.ts'
import type { CollectionLimits } from './limits.ts'

const LIMITS: CollectionLimits = {
  maxPostBytes: 1000,
  maxPostRecords: 100,
  maxRecordPayloadBytes: 500,
  maxRequestBytes: 2000,
  maxTotalBytes: 10_000,
  maxTotalRecords: 1000,
}

const post = (items: unknown, limits: Partial<CollectionLimits> = {}, collection = 'bookmarks') => {
  const { valid, failed } = validatePostItems(items, { ...LIMITS, ...limits }, collection)
  return { valid, failed: Object.fromEntries(failed) }
}

/** The reason one record fails with, or undefined when it is valid. */
const reasonFor = (record: Record<string, unknown>) => post([{ id: 'a', ...record }]).failed.a

const rejects = (items: unknown, collection = 'bookmarks') =>
  expect(() => validatePostItems(items, LIMITS, collection)).toThrow(expect.objectContaining({ kind: 'invalidBso' }))

const BAD_CRYPTO = '{"ciphertext":"x","IV": "AAAAAAAAAAAAAAAAAAAAAA==","hmac":"y"}'

describe('POST records: whole-request rejections', () => {
  test.each([
    ['an object', { id: 'a' }],
    ['a string', '[]'],
    ['null', null],
  ])('a body that is %s, not an array', (_, body) => rejects(body))

  test.each([
    ['null', null],
    ['an array', [{ id: 'a' }]],
    ['a number', 1],
    ['a string', 'a'],
  ])('an element that is %s', (_, element) => rejects([{ id: 'a' }, element]))

  test.each([
    ['missing', { payload: 'x' }],
    ['a number', { id: 1 }],
    ['null', { id: null }],
  ])('an element whose id is %s', (_, element) => rejects([{ id: 'a' }, element]))

  test('two elements with the same id, even when the first fails on its own', () => {
    rejects([{ id: 'a', payload: 'x' }, { id: 'b' }, { id: 'a', payload: 'y' }])
    rejects([{ id: 'a', bogus: 1 }, { id: 'a' }])
  })

  test('a structural problem after records that fail on their fields still rejects the request', () => {
    rejects([{ id: 'a', payload: 1 }, { id: 'b', ttl: -1 }, { payload: 'no id' }])
  })

  test('for crypto, a valid record with the known-bad IV rejects the request', () => {
    rejects([{ id: 'keys', payload: BAD_CRYPTO }], 'crypto')
  })

  test('the known-bad IV is ignored outside crypto and in records that failed anyway', () => {
    expect(post([{ id: 'keys', payload: BAD_CRYPTO }]).valid).toEqual([{ id: 'keys', payload: BAD_CRYPTO }])
    expect(post([{ id: 'keys', payload: BAD_CRYPTO, ttl: -1 }], {}, 'crypto').failed).toEqual({ keys: 'invalid json' })
  })
})

describe('POST records: per-record failures', () => {
  test('keys outside the known fields fail with the first unknown one named', () => {
    expect(reasonFor({ payload: 'x', bogus: 1, other: 2 })).toBe('unknown field bogus')
    expect(reasonFor({ PAYLOAD: 'x' })).toBe('unknown field PAYLOAD')
    expect(post(JSON.parse('[{"id":"a","__proto__":1}]')).failed.a).toBe('unknown field __proto__')
  })

  test('modified and collection are accepted and not written', () => {
    expect(post([{ id: 'a', payload: 'x', modified: 'anything', collection: 7 }]).valid).toEqual([{ id: 'a', payload: 'x' }])
  })

  test('null means not given', () => {
    expect(post([{ id: 'a', payload: null, sortindex: null, ttl: null }]).valid).toEqual([{ id: 'a' }])
  })

  test('all supplied fields are written', () => {
    expect(post([{ id: 'a', payload: 'x', sortindex: -5, ttl: 0 }]).valid).toEqual([{ id: 'a', payload: 'x', sortindex: -5, ttl: 0 }])
  })

  test.each([
    ['a numeric payload', { payload: 1 }],
    ['an object payload', { payload: {} }],
    ['a fractional sortindex', { sortindex: 1.5 }],
    ['a string sortindex', { sortindex: '1' }],
    ['a sortindex beyond i32', { sortindex: 2 ** 31 }],
    ['a negative sortindex beyond i32', { sortindex: -(2 ** 31) - 1 }],
    ['a negative ttl', { ttl: -1 }],
    ['a fractional ttl', { ttl: 0.5 }],
    ['a string ttl', { ttl: '10' }],
    ['a ttl beyond u32', { ttl: 2 ** 32 }],
  ])('%s is "invalid json"', (_, record) => {
    expect(reasonFor(record)).toBe('invalid json')
  })

  test.each([
    ['empty', ''],
    ['65 characters', 'x'.repeat(65)],
    ['a newline', 'a\n'],
    ['a tab', 'a\tb'],
    ['non-ASCII', 'café'],
  ])('an id that is %s is an invalid bso', (_, id) => {
    expect(post([{ id, payload: 'x' }]).failed[id]).toBe('invalid bso: invalid id')
  })

  test('64 printable ASCII characters, space included, make a valid id', () => {
    const id = ` ~${'x'.repeat(62)}`
    expect(post([{ id }]).valid).toEqual([{ id }])
  })

  test('sortindex and ttl beyond 999,999,999 are out of range', () => {
    expect(reasonFor({ sortindex: 1_000_000_000 })).toBe('invalid bso: sortindex out of range')
    expect(reasonFor({ sortindex: -1_000_000_000 })).toBe('invalid bso: sortindex out of range')
    expect(reasonFor({ ttl: 1_000_000_000 })).toBe('invalid bso: ttl out of range')
    expect(reasonFor({ sortindex: 999_999_999, ttl: 999_999_999 })).toBe(undefined)
    expect(reasonFor({ sortindex: -999_999_999 })).toBe(undefined)
  })

  test('an unknown field wins over a type error, and a type error over a range or id error', () => {
    expect(reasonFor({ payload: 1, bogus: 1 })).toBe('unknown field bogus')
    expect(post([{ id: '', payload: 1 }]).failed['']).toBe('invalid json')
    expect(reasonFor({ sortindex: 1_000_000_000, ttl: -1 })).toBe('invalid json')
  })
})

describe('POST records: sizes and counts', () => {
  test('a payload over max_record_payload_bytes is "retry bytes", counted in UTF-8 bytes', () => {
    const result = post([
      { id: 'fits', payload: 'é'.repeat(250) },
      { id: 'over', payload: 'é'.repeat(251) },
    ])
    expect(result.valid.map((write) => write.id)).toEqual(['fits'])
    expect(result.failed).toEqual({ over: 'retry bytes' })
  })

  test('a payload of 3-byte characters is counted in bytes even when its length in characters fits', () => {
    expect(post([{ id: 'fits', payload: '€'.repeat(166) }]).failed).toEqual({})
    expect(post([{ id: 'over', payload: '€'.repeat(167) }]).failed).toEqual({ over: 'retry bytes' })
  })

  test('the running total counts every sized record, the ones it fails too, and stays over the limit', () => {
    const result = post(
      [
        { id: 'a', payload: 'x'.repeat(400) },
        { id: 'b', payload: 'x'.repeat(700) },
        { id: 'c', payload: 'x'.repeat(10) },
        { id: 'd', payload: 1 },
        { id: 'e' },
      ],
      { maxRecordPayloadBytes: 1000 },
    )
    expect(result.valid.map((write) => write.id)).toEqual(['a'])
    expect(result.failed).toEqual({ b: 'retry bytes', c: 'retry bytes', d: 'invalid json', e: 'retry bytes' })
  })

  test('valid records past max_post_records are "retry bso", the last ones first', () => {
    const result = post([{ id: 'a' }, { id: 'b', ttl: -1 }, { id: 'c' }, { id: 'd' }, { id: 'e' }], { maxPostRecords: 2 })
    expect(result.valid.map((write) => write.id)).toEqual(['a', 'c'])
    expect(result.failed).toEqual({ b: 'invalid json', d: 'retry bso', e: 'retry bso' })
  })

  test('an empty array has no records', () => {
    expect(post([])).toEqual({ valid: [], failed: {} })
  })
})

describe('PUT body', () => {
  const put = (body: unknown, collection = 'bookmarks') => validatePutBody('a', body, LIMITS, collection)
  const refuses = (body: unknown, collection = 'bookmarks') =>
    expect(() => put(body, collection)).toThrow(expect.objectContaining({ kind: 'invalidBso' }))

  test('writes the path id with the supplied fields', () => {
    expect(put({ payload: 'x', sortindex: 1, ttl: 5, modified: 1 })).toEqual({ id: 'a', payload: 'x', sortindex: 1, ttl: 5 })
    expect(put({ id: 'other', payload: null })).toEqual({ id: 'a' })
  })

  test.each([
    ['not an object', []],
    ['an invalid id in the body', { id: 'a\n' }],
    ['a non-string id in the body', { id: 1 }],
    ['an unknown field', { bogus: 1 }],
    ['a bad type', { sortindex: '1' }],
    ['an out-of-range ttl', { ttl: 1_000_000_000 }],
    ['a payload over max_record_payload_bytes', { payload: 'é'.repeat(251) }],
  ])('%s is refused', (_, body) => refuses(body))

  test('the known-bad crypto IV is refused in crypto only', () => {
    refuses({ payload: BAD_CRYPTO }, 'crypto')
    expect(put({ payload: BAD_CRYPTO })).toEqual({ id: 'a', payload: BAD_CRYPTO })
  })
})
