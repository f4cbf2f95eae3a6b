/** The metrics identities of a user (tokenserver.md §6); not secrets, but not the FxA uid either. */
export interface MetricsHashes {
  /** 64 hex chars: logged as `uid`. */
  fullHashedFxaUid: string
  /** The first 32 of them: returned to the client and put in the token. */
  hashedFxaUid: string
  /** Put in the token only. OAuth has no device, so the reference hashes the word "none". */
  hashedDeviceId: string
}

export function metricsHashes(fxaUid: string, secret: string): MetricsHashes {
  const fullHashedFxaUid = hmacHex(secret, fxaUid)
  const hashedFxaUid = fullHashedFxaUid.slice(0, 32)
  return { fullHashedFxaUid, hashedFxaUid, hashedDeviceId: hmacHex(secret, `${hashedFxaUid}none`).slice(0, 32) }
}

// Bun's native HMAC: loading node:crypto would cost the server memory at start.
const hmacHex = (key: string, message: string): string => new Bun.CryptoHasher('sha256', key).update(message).digest('hex')
