import { randomBytes } from 'node:crypto'
import { hawkAuthorization } from '../src/auth/hawk.ts'
import { mintToken, type TokenCredentials } from '../src/auth/token.ts'

export interface SyncResponse {
  status: number
  /** The body, when the caller asked for it; otherwise it was read and dropped. */
  text?: string
}

/**
 * One simulated Firefox profile: a token minted with the server's master secret (as the
 * tokenserver would), every request Hawk-signed over its exact request line with a fresh nonce.
 * Requests go through `fetch`, which keeps connections alive across requests.
 */
export class SyncUser {
  readonly credentials: TokenCredentials
  readonly endpoint: string

  constructor(
    serverUrl: string,
    masterSecret: string,
    readonly uid: number,
  ) {
    this.endpoint = `${serverUrl}/1.5/${uid}`
    this.credentials = mintToken(masterSecret, {
      uid,
      node: serverUrl,
      // Long enough for any run; a real client would renew hourly.
      expires: Math.floor(Date.now() / 1000) + 86_400,
      fxa_uid: randomBytes(16).toString('hex'),
      fxa_kid: `${Date.now()}-${randomBytes(16).toString('base64url')}`,
    })
  }

  /**
   * Sends a signed request and reads the whole response; the body is decoded only when `keepBody`
   * is set, because decoding half a megabyte of JSON per request would load the client, not the server.
   */
  async send(method: string, path: string, options: { body?: string; keepBody?: boolean } = {}): Promise<SyncResponse> {
    const url = `${this.endpoint}${path}`
    const headers: Record<string, string> = { authorization: hawkAuthorization(this.credentials, { method, url }) }
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    const response = await fetch(url, { method, headers, body: options.body })
    if (options.keepBody) return { status: response.status, text: await response.text() }
    await response.arrayBuffer()
    return { status: response.status }
  }

  /** Like `send`, but a status other than `expected` is an error (for seeding, not for measuring). */
  async expect(expected: number, method: string, path: string, body?: string): Promise<string> {
    const response = await this.send(method, path, { body, keepBody: true })
    if (response.status !== expected) {
      throw new Error(`${method} ${path} answered ${response.status}, expected ${expected}: ${response.text?.slice(0, 200)}`)
    }
    return response.text ?? ''
  }
}

/** `count` users with consecutive uids from `firstUid`. */
export function makeUsers(serverUrl: string, masterSecret: string, firstUid: number, count: number): SyncUser[] {
  return Array.from({ length: count }, (_, i) => new SyncUser(serverUrl, masterSecret, firstUid + i))
}
