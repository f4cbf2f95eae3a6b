import { createHash } from 'node:crypto'
import { hawkAuthorization } from '../../src/auth/hawk.ts'
import { mintToken, type TokenCredentials } from '../../src/auth/token.ts'

/** A record as the server returns it with `full=1`. */
export interface StoredBso {
  id: string
  modified: number
  payload: string
  sortindex?: number
}

/** A body sent byte for byte; a stream goes out chunked, without Content-Length. */
export type RawBody = string | Uint8Array | ReadableStream<Uint8Array>

export interface RequestOptions {
  /** A string is sent as is; anything else as JSON. */
  body?: unknown
  contentType?: string
  headers?: Record<string, string>
  /** Sign for these credentials instead of the client's own. */
  credentials?: TokenCredentials
  /** Leave out the Authorization header. */
  unsigned?: boolean
}

let nextUid = 1000 + Math.floor(Math.random() * 1_000_000)

/** A fresh uid per test keeps tests independent on a shared database. */
export const freshUid = (): number => nextUid++

/** The token's account and key ids, derived from the uid: clients of one uid are one user on Spanner too. */
export function fxaIdentity(uid: number): { fxa_uid: string; fxa_kid: string } {
  return {
    fxa_uid: createHash('sha256').update(`fxa_uid ${uid}`).digest('hex').slice(0, 32),
    fxa_kid: `0000000001234-${createHash('sha256').update(`client state ${uid}`).digest().subarray(0, 16).toString('base64url')}`,
  }
}

export interface ClientOptions {
  expiresInSeconds?: number
  /** The token's fxa_uid and fxa_kid, when they must match a tokenserver row (Spanner keys storage by them). */
  identity?: { fxa_uid: string; fxa_kid: string }
  /**
   * No keep-alive: against `serve` with several workers, each new connection goes to whichever
   * worker the kernel picks (SO_REUSEPORT), so consecutive requests reach different processes.
   */
  newConnectionPerRequest?: boolean
}

/**
 * A Sync 1.5 client as Firefox is one: a token minted with the server's master secret, every
 * request Hawk-signed over its exact request line.
 */
export class SyncClient {
  readonly credentials: TokenCredentials
  private readonly connectionOptions: { keepalive?: false }

  constructor(
    readonly baseUrl: string,
    readonly masterSecret: string,
    readonly uid: number = freshUid(),
    options: ClientOptions = {},
  ) {
    this.credentials = mintToken(masterSecret, {
      uid,
      node: baseUrl,
      expires: Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 3600),
      ...(options.identity ?? fxaIdentity(uid)),
    })
    this.connectionOptions = options.newConnectionPerRequest === true ? { keepalive: false } : {}
  }

  /** The URL of a path under this user's endpoint (`''` is the endpoint itself). */
  url(path: string): string {
    return `${this.baseUrl}/1.5/${this.uid}${path}`
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    return this.send(method, this.url(path), options)
  }

  /** A request to any URL on the server, still signed with this client's token. */
  async send(method: string, url: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers }
    let body: string | undefined
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
      headers['content-type'] ??= options.contentType ?? 'application/json'
    }
    if (!options.unsigned) {
      headers.authorization ??= hawkAuthorization(options.credentials ?? this.credentials, { method, url })
    }
    return fetch(url, { method, headers, body, ...this.connectionOptions })
  }

  /** A signed request whose body and headers are sent exactly as given (no default Content-Type). */
  raw(method: string, path: string, body: RawBody, headers: Record<string, string> = {}): Promise<Response> {
    const url = this.url(path)
    const init = { method, headers: { ...headers, authorization: hawkAuthorization(this.credentials, { method, url }) }, body }
    return fetch(url, body instanceof ReadableStream ? { ...init, duplex: 'half' } : init)
  }

  get = (path: string, options?: RequestOptions) => this.request('GET', path, options)
  put = (path: string, body: unknown, options?: RequestOptions) => this.request('PUT', path, { ...options, body })
  post = (path: string, body: unknown, options?: RequestOptions) => this.request('POST', path, { ...options, body })
  delete = (path: string, options?: RequestOptions) => this.request('DELETE', path, options)

  async json<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<T> {
    const response = await this.request(method, path, options)
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`)
    return (await response.json()) as T
  }
}
