import type { Socket } from 'bun'

/**
 * A minimal keep-alive HTTP/1.1 client on Bun's raw TCP sockets, for the load generator.
 * `fetch` costs the generator about as much CPU per request as the server spends answering it
 * (issue #11), so the benchmark measured its own client. This one writes the request as one
 * string, parses only the status line, Content-Length and Transfer-Encoding, and keeps one
 * request in flight per connection (no pipelining); a closed-loop worker holds a connection for
 * one request at a time, so `concurrency` workers open at most `concurrency` connections.
 */

export interface Http1Response {
  status: number
  /** The body, when the caller asked for it. */
  body?: Uint8Array
}

interface Pending {
  resolve(response: Http1Response): void
  reject(error: Error): void
  keepBody: boolean
  /** HEAD answers and 1xx/204/304 statuses have no body, whatever the headers say. */
  head: boolean
}

const CRLF_CRLF = Buffer.from('\r\n\r\n')
const EMPTY = new Uint8Array(0)

/** One connection's parser state: bytes received and not yet consumed. */
class Connection {
  socket: Socket<Connection> | undefined
  buffer: Buffer = Buffer.alloc(0)
  pending: Pending | undefined
  /** Bytes of the request not yet accepted by the kernel (a large POST body). */
  unsent: Uint8Array | undefined
  closed = false

  constructor(readonly pool: Http1Pool) {}

  send(request: Uint8Array, pending: Pending): void {
    this.pending = pending
    this.write(request)
  }

  write(bytes: Uint8Array): void {
    const socket = this.socket as Socket<Connection>
    const written = socket.write(bytes)
    this.unsent = written < bytes.length ? bytes.subarray(Math.max(written, 0)) : undefined
  }

  drain(): void {
    if (this.unsent !== undefined) this.write(this.unsent)
  }

  received(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    const pending = this.pending
    if (pending === undefined) return
    const parsed = parseResponse(this.buffer, pending)
    if (parsed === undefined) return
    if (parsed instanceof Error) return this.fail(parsed)
    this.buffer = this.buffer.subarray(parsed.consumed)
    this.pending = undefined
    if (parsed.close) this.socket?.end()
    else this.pool.release(this)
    pending.resolve(parsed.response)
  }

  fail(error: Error): void {
    this.closed = true
    this.socket?.end()
    const pending = this.pending
    this.pending = undefined
    pending?.reject(error)
  }
}

type Parsed = { response: Http1Response; consumed: number; close: boolean }

/** Parses one whole response at the start of `buffer`; undefined while bytes are missing. */
function parseResponse(buffer: Buffer, pending: Pending): Parsed | Error | undefined {
  const headEnd = buffer.indexOf(CRLF_CRLF)
  if (headEnd < 0) return undefined
  const head = buffer.toString('latin1', 0, headEnd)
  const status = Number(head.slice(9, 12))
  if (!head.startsWith('HTTP/1.') || !Number.isInteger(status)) return new Error(`not an HTTP/1.x response: ${JSON.stringify(head.slice(0, 40))}`)
  const lower = head.toLowerCase()
  const close = lower.includes('\r\nconnection: close')
  const bodyStart = headEnd + 4
  if (pending.head || status === 204 || status === 304 || status < 200) {
    return { response: { status }, consumed: bodyStart, close }
  }
  const lengthAt = lower.indexOf('\r\ncontent-length:')
  if (lengthAt >= 0) {
    const length = Number.parseInt(lower.slice(lengthAt + 17, lengthAt + 40), 10)
    if (buffer.length < bodyStart + length) return undefined
    const response: Http1Response = { status }
    if (pending.keepBody) response.body = buffer.subarray(bodyStart, bodyStart + length)
    return { response, consumed: bodyStart + length, close }
  }
  if (lower.includes('\r\ntransfer-encoding: chunked')) return parseChunked(buffer, bodyStart, status, pending.keepBody, close)
  return new Error(`response ${status} has neither Content-Length nor chunked encoding`)
}

function parseChunked(buffer: Buffer, start: number, status: number, keepBody: boolean, close: boolean): Parsed | undefined {
  const parts: Uint8Array[] = []
  let at = start
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at)
    if (lineEnd < 0) return undefined
    const size = Number.parseInt(buffer.toString('latin1', at, lineEnd), 16)
    const dataStart = lineEnd + 2
    if (size === 0) {
      // No trailers from Bun.serve: the terminating chunk is followed by one empty line.
      if (buffer.length < dataStart + 2) return undefined
      const response: Http1Response = { status }
      if (keepBody) response.body = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts)
      return { response, consumed: dataStart + 2, close }
    }
    if (buffer.length < dataStart + size + 2) return undefined
    if (keepBody) parts.push(buffer.subarray(dataStart, dataStart + size))
    at = dataStart + size + 2
  }
}

/**
 * Keep-alive connections to one `host:port`. A request takes an idle connection or opens a new
 * one, and gives it back when its response is complete.
 */
export class Http1Pool {
  readonly #idle: Connection[] = []
  readonly #all = new Set<Connection>()
  readonly host: string
  readonly port: number
  readonly #hostHeader: string

  constructor(origin: string) {
    const url = new URL(origin)
    this.host = url.hostname
    this.port = Number(url.port || 80)
    this.#hostHeader = url.host
  }

  /**
   * Sends one request. `headers` are extra header lines, each ending in CRLF. A connection the
   * server closed while idle is dropped and the request goes out on a fresh one.
   */
  async request(method: string, target: string, headers: string, body?: string, keepBody = false): Promise<Http1Response> {
    const bodyBytes = body === undefined ? EMPTY : Buffer.from(body)
    const framing = body === undefined && method !== 'POST' && method !== 'PUT' ? '' : `content-length: ${bodyBytes.length}\r\n`
    const headText = `${method} ${target} HTTP/1.1\r\nhost: ${this.#hostHeader}\r\n${headers}${framing}\r\n`
    const request = bodyBytes.length === 0 ? Buffer.from(headText, 'latin1') : Buffer.concat([Buffer.from(headText, 'latin1'), bodyBytes])
    const connection = this.#idleConnection() ?? (await this.#connect())
    return new Promise<Http1Response>((resolve, reject) => {
      connection.send(request, { resolve, reject, keepBody, head: method === 'HEAD' })
    })
  }

  release(connection: Connection): void {
    if (!connection.closed) this.#idle.push(connection)
  }

  /** Closes every connection (idle ones at once; busy ones after their response). */
  close(): void {
    for (const connection of this.#all) connection.socket?.end()
    this.#idle.length = 0
  }

  #idleConnection(): Connection | undefined {
    for (let connection = this.#idle.pop(); connection !== undefined; connection = this.#idle.pop()) {
      if (!connection.closed) return connection
    }
    return undefined
  }

  async #connect(): Promise<Connection> {
    const connection = new Connection(this)
    this.#all.add(connection)
    connection.socket = await Bun.connect<Connection>({
      hostname: this.host,
      port: this.port,
      data: connection,
      socket: {
        data: (socket, chunk) => socket.data.received(chunk),
        drain: (socket) => socket.data.drain(),
        close: (socket) => {
          this.#all.delete(socket.data)
          socket.data.fail(new Error('connection closed by the server'))
        },
        error: (socket, error) => socket.data.fail(error),
      },
    })
    connection.socket.setNoDelay(true)
    return connection
  }
}

const pools = new Map<string, Http1Pool>()

/** The shared pool for an origin (`http://host:port`). */
export function poolFor(origin: string): Http1Pool {
  let pool = pools.get(origin)
  if (pool === undefined) pools.set(origin, (pool = new Http1Pool(origin)))
  return pool
}
