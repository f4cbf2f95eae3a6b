import { SyncError } from '../errors.ts'
import { bodyChunks } from '../upload-pacing.ts'

export type BodyFormat = 'json' | 'newlines'

const MEDIA_TYPES: Record<string, BodyFormat> = {
  'application/json': 'json',
  // Firefox's resource.sys.mjs sends its JSON as text/plain (firefox-e2e.md §4).
  'text/plain': 'json',
  'application/newlines': 'newlines',
}

/** The body format from Content-Type (parameters ignored); anything else is a 415. */
export function bodyFormat(contentType: string | undefined): BodyFormat {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase() ?? ''
  const format = MEDIA_TYPES[mediaType]
  if (format === undefined) throw new SyncError('unsupportedMediaType', `unsupported content type ${mediaType}`)
  return format
}

/** A declared Content-Length above the collection's limit is refused before reading (413, code 17). */
export function checkContentLength(contentLength: string | undefined, maxRequestBytes: number): void {
  if (contentLength !== undefined && Number(contentLength) > maxRequestBytes) {
    throw new SyncError('requestTooLarge', 'request body too large')
  }
}

// ignoreBOM keeps a byte-order mark in the text, where JSON.parse refuses it like the reference.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Reads the body as UTF-8, at most `cap` bytes (a chunked body has no Content-Length to refuse
 * up front). Unreadable or oversized → the given error kind, which differs between PUT and POST.
 */
export async function readBodyText(request: Request, cap: number, onError: 'badRequest' | 'invalidBso'): Promise<string> {
  try {
    const bytes = await readBodyBytes(request, cap, onError)
    if (bytes.byteLength > cap) throw new SyncError(onError, 'body over the size limit')
    return utf8.decode(bytes)
  } catch (error) {
    throw error instanceof SyncError ? error : new SyncError(onError, 'body is not readable UTF-8')
  }
}

/**
 * The body's bytes, read as they arrive (under the upload limits, upload-pacing.ts) and stopped
 * at `cap`: a chunked body has no Content-Length to refuse up front.
 */
async function readBodyBytes(request: Request, cap: number, onError: 'badRequest' | 'invalidBso'): Promise<Uint8Array> {
  const body = bodyChunks(request)
  if (body === null) return new Uint8Array()
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.byteLength
    if (size > cap) throw new SyncError(onError, 'body over the size limit')
    chunks.push(chunk)
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks)
}

// Decoded UTF-8 holds no lone surrogates; only a `\uD800`–`\uDFFF` escape can introduce one.
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/
// Sync bodies rarely hold any `\u` escape, and a plain substring search is several times cheaper
// than the regex over a whole body.
const mayHoldLoneSurrogate = (text: string): boolean => text.includes('\\u') && SURROGATE_ESCAPE.test(text)

/**
 * JSON text as a value, or a 400 with weave code 8. An escaped lone surrogate is invalid JSON to
 * the reference's parser (serde_json) and cannot be stored as UTF-8 without replacing it, so it
 * is refused rather than silently turned into U+FFFD.
 */
export function parseJsonBody(text: string): unknown {
  try {
    if (!mayHoldLoneSurrogate(text)) return JSON.parse(text)
    return JSON.parse(text, (key, value) => {
      if (!key.isWellFormed() || (typeof value === 'string' && !value.isWellFormed())) throw new Error('lone surrogate')
      return value
    })
  } catch {
    throw new SyncError('invalidBso', 'body is not valid JSON')
  }
}

/**
 * `application/newlines`: one JSON value per line (`\n` or `\r\n`); a final newline ends the
 * last line rather than starting an empty one, and an empty body holds no records.
 */
export function parseNewlinesBody(text: string): unknown[] {
  if (text === '') return []
  const lines = text.split(/\r?\n/)
  if (lines.length > 1 && lines.at(-1) === '') lines.pop()
  return lines.map(parseJsonBody)
}
