import { SyncError } from '../errors.ts'

/** What an HTTP header value may hold to be read as text (visible ASCII, space and tab). */
export const VISIBLE_ASCII = /^[\t\x20-\x7e]*$/

/**
 * The bearer token of an `Authorization` header (tokenserver.md §3): everything after the first
 * space, the scheme compared case-insensitively.
 * @throws SyncError('tokenUnauthorized') when the header is missing, not visible ASCII or has no space;
 *   SyncError('tokenUnsupported') when the scheme is not `Bearer`.
 */
export function bearerToken(header: string | undefined): string {
  if (header === undefined) throw new SyncError('tokenUnauthorized', 'no Authorization header')
  if (!VISIBLE_ASCII.test(header)) throw new SyncError('tokenUnauthorized', 'Authorization header is not ASCII')
  const space = header.indexOf(' ')
  if (space === -1) throw new SyncError('tokenUnauthorized', 'Authorization header is not "<scheme> <token>"')
  if (header.slice(0, space).toLowerCase() !== 'bearer') throw new SyncError('tokenUnsupported', 'authorization scheme is not Bearer')
  return header.slice(space + 1)
}
