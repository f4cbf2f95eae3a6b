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

/** Like Rust's `{:013}`: the sign counts towards the width. */
function zeroPad(value: bigint): string {
  const sign = value < 0n ? '-' : ''
  const digits = (value < 0n ? -value : value).toString()
  return sign + digits.padStart(KID_DIGITS - sign.length, '0')
}
