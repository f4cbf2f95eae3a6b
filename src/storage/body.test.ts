import { describe, expect, test } from 'bun:test'
import { SyncError } from '../errors.ts'
import { parseJsonBody, parseNewlinesBody, readBodyText } from './body.ts'

const encode = (text: string) => new TextEncoder().encode(text)

/** A request as Bun.serve hands over a fixed-length body: bytes with their Content-Length. */
const sized = (bytes: Uint8Array, declared = bytes.byteLength) =>
  new Request('http://localhost/', { method: 'POST', body: bytes, headers: { 'content-length': String(declared) } })

/** A chunked body (no Content-Length) that counts how many chunks were pulled from it. */
function chunked(chunks: Uint8Array[]): { request: Request; pulled: () => number } {
  let next = 0
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next === chunks.length) controller.close()
      else controller.enqueue(chunks[next++])
    },
  })
  return { request: new Request('http://localhost/', { method: 'POST', body }), pulled: () => next }
}

async function errorKindOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    if (error instanceof SyncError) return error.kind
    throw error
  }
  throw new Error('expected a SyncError')
}

const INVALID_UTF8: [string, number[]][] = [
  ['a stray 0xFF byte', [0x5b, 0xff, 0x5d]],
  ['a truncated sequence', [0x5b, 0x22, 0xc3, 0x22, 0x5d]],
  ['an encoded surrogate', [0x5b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d]],
  ['an overlong encoding', [0x5b, 0x22, 0xc0, 0xaf, 0x22, 0x5d]],
]

describe('readBodyText with a Content-Length', () => {
  test('returns the body as text, multi-byte characters included', async () => {
    expect(await readBodyText(sized(encode('[{"id":"é"}]')), 100, 'badRequest')).toBe('[{"id":"é"}]')
  })

  test('an empty body is the empty string', async () => {
    expect(await readBodyText(sized(new Uint8Array()), 100, 'badRequest')).toBe('')
  })

  test('keeps a byte-order mark, which JSON parsing then refuses', async () => {
    const text = await readBodyText(sized(new Uint8Array([0xef, 0xbb, 0xbf, 0x5b, 0x5d])), 100, 'badRequest')
    expect(text).toBe('\uFEFF[]')
    expect(() => parseJsonBody(text)).toThrow(SyncError)
  })

  test('a body longer than the cap is refused with the caller’s error kind, whatever the header says', async () => {
    expect(await errorKindOf(readBodyText(sized(encode('x'.repeat(11)), 5), 10, 'badRequest'))).toBe('badRequest')
    expect(await errorKindOf(readBodyText(sized(encode('x'.repeat(11)), 5), 10, 'invalidBso'))).toBe('invalidBso')
    expect(await readBodyText(sized(encode('x'.repeat(10))), 10, 'badRequest')).toBe('x'.repeat(10))
  })

  test.each(INVALID_UTF8)('invalid UTF-8 (%s) is refused with the caller’s error kind', async (_, bytes) => {
    expect(await errorKindOf(readBodyText(sized(new Uint8Array(bytes)), 100, 'badRequest'))).toBe('badRequest')
    expect(await errorKindOf(readBodyText(sized(new Uint8Array(bytes)), 100, 'invalidBso'))).toBe('invalidBso')
  })
})

describe('readBodyText without a Content-Length', () => {
  test('joins the chunks', async () => {
    const { request } = chunked([encode('[{"id":'), encode('"a"}]')])
    expect(await readBodyText(request, 100, 'badRequest')).toBe('[{"id":"a"}]')
  })

  test('a request without a body is the empty string', async () => {
    expect(await readBodyText(new Request('http://localhost/', { method: 'POST' }), 100, 'badRequest')).toBe('')
  })

  test('a multi-byte character split across chunks decodes whole', async () => {
    const bytes = encode('"é"')
    const { request } = chunked([bytes.slice(0, 2), bytes.slice(2)])
    expect(await readBodyText(request, 100, 'badRequest')).toBe('"é"')
  })

  test('stops reading at the cap and answers the caller’s error kind', async () => {
    const { request, pulled } = chunked(Array.from({ length: 10 }, () => encode('x'.repeat(4))))
    expect(await errorKindOf(readBodyText(request, 10, 'invalidBso'))).toBe('invalidBso')
    expect(pulled()).toBeLessThan(10)
  })

  test.each(INVALID_UTF8)('invalid UTF-8 (%s) is refused with the caller’s error kind', async (_, bytes) => {
    const { request } = chunked([new Uint8Array(bytes)])
    expect(await errorKindOf(readBodyText(request, 100, 'invalidBso'))).toBe('invalidBso')
  })
})

describe('parseJsonBody', () => {
  test('parses JSON, escapes included', () => {
    expect(parseJsonBody('[{"id":"a","payload":"{\\"x\\":\\"\\u0041\\"}"}]')).toEqual([{ id: 'a', payload: '{"x":"A"}' }])
  })

  test('an escaped surrogate pair is one character', () => {
    expect(parseJsonBody('["\\uD83D\\uDE00", "\\ud83d\\ude00"]')).toEqual(['😀', '😀'])
  })

  test.each([
    ['a lone high surrogate in a value', '[{"id":"a","payload":"\\uD800"}]'],
    ['a lone low surrogate in a value', '[{"id":"a","payload":"x\\udfff"}]'],
    ['a reversed pair', '["\\uDE00\\uD83D"]'],
    ['a lone surrogate in a key', '[{"\\uDBFF":1}]'],
    ['invalid JSON', '[{"id":"a"'],
    ['an empty text', ''],
  ])('%s is a 400 with code 8', (_, text) => {
    expect(() => parseJsonBody(text)).toThrow(expect.objectContaining({ kind: 'invalidBso' }))
  })
})

describe('parseNewlinesBody', () => {
  test('one value per line, \\n or \\r\\n, a final newline ending the last line', () => {
    expect(parseNewlinesBody('{"id":"a"}\r\n{"id":"b"}\n')).toEqual([{ id: 'a' }, { id: 'b' }])
  })

  test('an empty body holds no records', () => {
    expect(parseNewlinesBody('')).toEqual([])
  })

  test.each([
    ['a lone newline', '\n'],
    ['an empty line between records', '{"id":"a"}\n\n{"id":"b"}'],
    ['a line with a lone surrogate', '{"id":"a","payload":"\\uD800"}'],
  ])('%s is a 400 with code 8', (_, text) => {
    expect(() => parseNewlinesBody(text)).toThrow(expect.objectContaining({ kind: 'invalidBso' }))
  })
})
