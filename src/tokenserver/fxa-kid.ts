import type { StorageUser } from '../db/types.ts'
import type { UserRecord } from '../db/tokenserver-types.ts'
import { SyncError } from '../errors.ts'

const HEX_BYTES = /^(?:[0-9a-fA-F]{2})*$/
const KID_DIGITS = 13

/**
 * The token's `fxa_kid` (tokenserver.md §10): keys_changed_at (else generation) zero-padded to
 * 13 characters, a dash, and the client state as unpadded base64url, e.g. `0000000002345-u7s`.
 * @throws SyncError('tokenInternal') when the stored client state is not hex (a bad row).
 */
export function formatFxaKid(keysChangedAt: bigint | null, generation: bigint, clientState: string): string {
  if (!HEX_BYTES.test(clientState)) throw new SyncError('tokenInternal', 'client state is not hex')
  return `${zeroPad(keysChangedAt ?? generation)}-${Buffer.from(clientState, 'hex').toString('base64url')}`
}

/**
 * Whose storage a tokenserver row's tokens reach: the SQL engines key it by the row's uid,
 * Spanner by the token's fxa_uid (the email before `@<fxa_email_domain>`) and fxa_kid.
 * @throws SyncError('tokenInternal') when the row's client state is not hex.
 */
export function storageUserOf(row: Pick<UserRecord, 'uid' | 'email' | 'keysChangedAt' | 'generation' | 'clientState'>): StorageUser {
  const at = row.email.indexOf('@')
  return {
    uid: row.uid,
    fxaUid: at < 0 ? row.email : row.email.slice(0, at),
    fxaKid: formatFxaKid(row.keysChangedAt, row.generation, row.clientState),
  }
}

/** Like Rust's `{:013}`: the sign counts towards the width. */
function zeroPad(value: bigint): string {
  const sign = value < 0n ? '-' : ''
  const digits = (value < 0n ? -value : value).toString()
  return sign + digits.padStart(KID_DIGITS - sign.length, '0')
}
