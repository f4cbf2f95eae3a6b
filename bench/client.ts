import { randomBytes } from 'node:crypto'
import { hawkMac } from '../src/auth/hawk.ts'
import { mintToken, type TokenCredentials } from '../src/auth/token.ts'
import { poolFor, type Http1Pool } from './http1.ts'

export interface SyncResponse {
  status: number
  /** The body, when the caller asked for it; otherwise it was read and dropped. */
  text?: string
}

/**
 * One simulated Firefox profile: a token minted with the server's master secret (as the
 * tokenserver would), every request Hawk-signed over its exact request line with a fresh nonce
 * and the current time. Requests go over the raw keep-alive client (http1.ts), shared by every
 * user of one server.
 */
export class SyncUser {
  readonly credentials: TokenCredentials
  readonly #pool: Http1Pool
  readonly #prefix: string

  constructor(
    serverUrl: string,
    masterSecret: string,
    readonly uid: number,
  ) {
    this.#pool = poolFor(serverUrl)
    this.#prefix = `/1.5/${uid}`
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
    const target = `${this.#prefix}${path}`
    const ts = Math.floor(Date.now() / 1000)
    const nonce = freshNonce()
    const { host, port } = this.#pool
    const mac = hawkMac(this.credentials.key, { ts, nonce, method, pathAndQuery: target, host, port })
    let headers = `authorization: Hawk id="${this.credentials.id}", ts="${ts}", nonce="${nonce}", mac="${mac}"\r\n`
    if (options.body !== undefined) headers += 'content-type: application/json\r\n'
    const response = await this.#pool.request(method, target, headers, options.body, options.keepBody)
    if (!options.keepBody) return { status: response.status }
    return { status: response.status, text: response.body === undefined ? '' : Buffer.from(response.body).toString('utf8') }
  }

  /**
   * Like `send`, but a status other than `expected` is an error (for seeding, not for measuring).
   * A 503 (a conflict the server designed, e.g. a transaction the Spanner emulator aborted) is
   * sent again a few times, as clients retry it.
   */
  async expect(expected: number, method: string, path: string, body?: string): Promise<string> {
    let response = await this.send(method, path, { body, keepBody: true })
    for (let retry = 1; response.status === 503 && expected !== 503 && retry <= 4; retry++) {
      await Bun.sleep(50 * retry)
      response = await this.send(method, path, { body, keepBody: true })
    }
    if (response.status !== expected) {
      throw new Error(`${method} ${path} answered ${response.status}, expected ${expected}: ${response.text?.slice(0, 200)}`)
    }
    return response.text ?? ''
  }
}

/**
 * A nonce no earlier request used: a per-run random prefix and a counter. Random bytes per
 * request would cost the generator a microsecond each, and the server never tracks nonces.
 */
const NONCE_PREFIX = randomBytes(6).toString('base64url')
let nonces = 0
const freshNonce = () => `${NONCE_PREFIX}${(nonces++).toString(36)}`

/** `count` users with consecutive uids from `firstUid`. */
export function makeUsers(serverUrl: string, masterSecret: string, firstUid: number, count: number): SyncUser[] {
  return Array.from({ length: count }, (_, i) => new SyncUser(serverUrl, masterSecret, firstUid + i))
}
