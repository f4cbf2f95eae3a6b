import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Socket } from 'bun'
import { withDeadline } from '../../deadline.ts'

/**
 * One connection of its own to PostgreSQL for the shared info/* statements (TimestampReads),
 * speaking the wire protocol directly: each run is Bind, Execute and Sync of a statement
 * prepared once per connection, written at once behind the runs still waiting for their
 * answer, and its rows come back as text. Through postgres.js on node:net a sequential
 * statement cost the client 97k instructions (callgrind), here 12k; in the server, on two
 * cores at 8 clients, CPU per GET info/collections on PostgreSQL fell by about a tenth.
 *
 * It covers what a self-hosted PostgreSQL asks of a client: TCP or a Unix socket, and trust,
 * password, MD5 or SCRAM-SHA-256 authentication. A URL it does not cover (TLS, several hosts,
 * target_session_attrs) keeps postgres.js for these statements too (`pipeTargetOf`).
 */
export class StatementPipe {
  private connection: Promise<PipeConnection> | undefined
  private ended = false

  constructor(private readonly target: PipeTarget) {}

  /** The rows of `text` run with `params` (as text; null is SQL NULL), each column as text or null. */
  async rows(text: string, params: readonly unknown[]): Promise<(string | null)[][]> {
    if (this.ended) throw driverError('CONNECTION_ENDED', 'the info connection was closed')
    return (await this.open()).run(text, params)
  }

  /** Ends the connection; runs still waiting fail as with a lost connection. */
  async close(): Promise<void> {
    this.ended = true
    const connection = await this.connection?.catch(() => undefined)
    connection?.end()
  }

  /** The open connection, or a new one once the last has closed or failed to open. */
  private open(): Promise<PipeConnection> {
    if (this.connection !== undefined) return this.connection
    const opening: Promise<PipeConnection> = PipeConnection.open(this.target, () => {
      if (this.connection === opening) this.connection = undefined
    })
    this.connection = opening
    opening.catch(() => {
      if (this.connection === opening) this.connection = undefined
    })
    return opening
  }
}

/** Where and as whom a pipe connects. */
export interface PipeTarget {
  address: { hostname: string; port: number } | { unix: string }
  user: string
  password: string
  /** The startup message's parameters: user, database, client_encoding and the URL's own. */
  parameters: Record<string, string>
  connectTimeoutMs: number
}

/**
 * What postgres.js made of a database URL and the PG* environment, as it holds it at run time
 * (its ParsedOptions, whose published type hides the password).
 */
export interface DriverOptions {
  host: string[]
  port: number[]
  path: string | false
  user: string
  database: string
  pass: unknown
  ssl: unknown
  socket: unknown
  target_session_attrs: unknown
  connect_timeout: number
  connection: Record<string, unknown>
}

/**
 * The pipe's target for the connection postgres.js would open, read from the driver's own
 * options so that both connect alike; undefined where the pipe would not (TLS, several hosts,
 * target_session_attrs, a password or socket given as a function).
 */
export function pipeTargetOf(options: DriverOptions): PipeTarget | undefined {
  const [hostname] = options.host
  const [port] = options.port
  if (options.ssl || options.host.length !== 1 || hostname === undefined || port === undefined) return undefined
  if (options.target_session_attrs || options.socket || typeof options.pass !== 'string') return undefined
  const parameters: Record<string, string> = {}
  for (const [key, value] of Object.entries({ user: options.user, database: options.database, client_encoding: 'UTF8', ...options.connection })) {
    if (value) parameters[key] = String(value)
  }
  return {
    address: options.path ? { unix: options.path } : { hostname, port },
    user: options.user,
    password: options.pass,
    parameters,
    connectTimeoutMs: options.connect_timeout * 1000,
  }
}

/** A PostgreSQL error (SQLSTATE in `code`), or the driver's own code for a lost connection, as postgres.js gives them. */
export class PipeError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

const driverError = (code: string, message: string) => new PipeError(code, message)

/** A run waiting for its Sync's ReadyForQuery. */
interface Run {
  rows: (string | null)[][]
  error?: PipeError
  /** The text this run's write prepares on the connection, if it carries the Parse. */
  parses?: string
  parsed?: boolean
  resolve(rows: (string | null)[][]): void
  reject(error: unknown): void
}

class PipeConnection {
  /** In the order their Syncs were written, which is the order PostgreSQL answers them. */
  private readonly runs: Run[] = []
  /** Statement names by text, for the statements prepared (or being prepared) on this connection. */
  private readonly prepared = new Map<string, string>()
  private statementsNamed = 0
  private received: Buffer | undefined
  private unsent: Buffer | undefined
  private closed = false
  private startup: Startup | undefined

  private constructor(
    private readonly socket: Socket<PipeConnection>,
    private readonly onClose: () => void,
  ) {}

  static async open(target: PipeTarget, onClose: () => void): Promise<PipeConnection> {
    const handlers = {
      data: (socket: Socket<PipeConnection>, chunk: Buffer) => socket.data.receive(chunk),
      drain: (socket: Socket<PipeConnection>) => socket.data.drain(),
      close: (socket: Socket<PipeConnection>, error?: Error) => socket.data?.lost(error),
      error: (socket: Socket<PipeConnection>, error: Error) => socket.data?.lost(error),
      // The promise of Bun.connect rejects too: that is where the failure is handled.
      connectError: () => {},
    }
    const { address } = target
    const connecting = 'unix' in address ? Bun.connect<PipeConnection>({ unix: address.unix, socket: handlers }) : Bun.connect<PipeConnection>({ ...address, socket: handlers })
    let socket: Socket<PipeConnection>
    try {
      socket = await withDeadline(connecting, target.connectTimeoutMs, notReady(target))
    } catch (error) {
      connecting.then((late) => late.terminate(), () => {})
      throw connectFailure(error)
    }
    const connection = new PipeConnection(socket, onClose)
    socket.data = connection
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 60_000)
    try {
      await withDeadline(connection.start(target), target.connectTimeoutMs, notReady(target))
    } catch (error) {
      socket.terminate()
      throw error
    }
    return connection
  }

  /** Sends the startup message and answers authentication until the server is ready. */
  private start(target: PipeTarget): Promise<void> {
    const startup = new Startup(target, (bytes) => this.write(bytes))
    this.startup = startup
    const body: Buffer[] = [int32(196_608)] // protocol 3.0
    for (const [key, value] of Object.entries(target.parameters)) body.push(cstring(key), cstring(value))
    body.push(Buffer.from([0]))
    this.write(frame(undefined, body))
    return startup.ready.finally(() => {
      this.startup = undefined
    })
  }

  run(text: string, params: readonly unknown[]): Promise<(string | null)[][]> {
    if (this.closed) return Promise.reject(driverError('CONNECTION_CLOSED', 'the info connection is closed'))
    const { promise, resolve, reject } = Promise.withResolvers<(string | null)[][]>()
    const run: Run = { rows: [], resolve, reject }
    let name = this.prepared.get(text)
    const messages: Buffer[] = []
    if (name === undefined) {
      name = `s${this.statementsNamed++}`
      this.prepared.set(text, name)
      run.parses = text
      messages.push(frame('P', [cstring(name), cstring(text), int16(0)]))
    }
    messages.push(bind(name, params), EXECUTE_AND_SYNC)
    this.runs.push(run)
    this.write(Buffer.concat(messages))
    return promise
  }

  end(): void {
    this.socket.end()
  }

  private write(bytes: Buffer): void {
    if (this.unsent !== undefined) {
      this.unsent = Buffer.concat([this.unsent, bytes])
      return
    }
    const written = this.socket.write(bytes)
    if (written < bytes.length) this.unsent = bytes.subarray(Math.max(written, 0))
  }

  private drain(): void {
    const unsent = this.unsent
    this.unsent = undefined
    if (unsent !== undefined) this.write(unsent)
  }

  private receive(chunk: Buffer): void {
    // Bun hands over a fresh buffer per read, so a partial message may keep referring to it.
    let buffer = this.received === undefined ? chunk : Buffer.concat([this.received, chunk])
    let at = 0
    while (buffer.length - at >= 5) {
      const end = at + 1 + buffer.readInt32BE(at + 1)
      if (end > buffer.length) break
      this.message(buffer[at] as number, buffer, at + 5, end)
      at = end
    }
    buffer = buffer.subarray(at)
    this.received = buffer.length === 0 ? undefined : buffer
  }

  /** One backend message: its type and its body, `buffer[from, to)`. */
  private message(type: number, buffer: Buffer, from: number, to: number): void {
    if (this.startup !== undefined) return this.startup.message(type, buffer, from, to)
    const run = this.runs[0]
    switch (type) {
      case DATA_ROW:
        run?.rows.push(dataRow(buffer, from))
        return
      case PARSE_COMPLETE:
        if (run !== undefined) run.parsed = true
        return
      case ERROR_RESPONSE: {
        const error = serverError(buffer, from, to)
        if (run === undefined) return this.lost(error)
        run.error ??= error
        return
      }
      case READY_FOR_QUERY:
        this.runs.shift()
        if (run === undefined) return
        if (run.error === undefined) return run.resolve(run.rows)
        // A Parse that failed leaves no statement: the next run of that text prepares it again.
        if (run.parses !== undefined && !run.parsed) this.prepared.delete(run.parses)
        return run.reject(run.error)
      // BindComplete, CommandComplete, notices, parameter changes: nothing to keep.
    }
  }

  /** The connection is gone: every run still waiting fails, with the server's error if it sent one. */
  private lost(error?: Error): void {
    if (this.closed) return
    this.closed = true
    this.socket.terminate()
    const closed = error instanceof PipeError ? error : driverError('CONNECTION_CLOSED', `the info connection closed${error ? `: ${error.message}` : ''}`)
    this.startup?.fail(closed)
    for (const run of this.runs.splice(0)) run.reject(run.error ?? closed)
    this.onClose()
  }
}

/** The startup exchange: authentication, then the server's parameters, until ReadyForQuery. */
class Startup {
  private readonly settled = Promise.withResolvers<void>()
  readonly ready = this.settled.promise
  private scram: { nonce: string; clientFirstBare: string; serverSignature?: Buffer } | undefined

  constructor(
    private readonly target: PipeTarget,
    private readonly send: (bytes: Buffer) => void,
  ) {}

  message(type: number, buffer: Buffer, from: number, to: number): void {
    try {
      if (type === AUTHENTICATION) this.authenticate(buffer.readInt32BE(from), buffer.subarray(from + 4, to))
      else if (type === ERROR_RESPONSE) this.fail(serverError(buffer, from, to))
      else if (type === READY_FOR_QUERY) this.settled.resolve()
    } catch (error) {
      this.fail(error)
    }
  }

  fail(error: unknown): void {
    this.settled.reject(error)
  }

  private authenticate(kind: number, body: Buffer): void {
    const { user, password } = this.target
    switch (kind) {
      case 0: // ok
        return
      case 3: // cleartext password
        return this.send(frame('p', [cstring(password)]))
      case 5: // MD5, salted
        return this.send(frame('p', [cstring(`md5${md5(Buffer.concat([Buffer.from(md5(password + user)), body]))}`)]))
      case 10: // SASL: the mechanisms offered
        if (!body.toString('latin1').split('\0').includes('SCRAM-SHA-256')) throw driverError('SASL_UNSUPPORTED', 'the server offers no SASL mechanism the info connection speaks')
        return this.scramFirst()
      case 11:
        return this.scramFinal(body.toString('utf8'))
      case 12:
        return this.scramVerify(body.toString('utf8'))
      default:
        throw driverError('AUTH_TYPE_NOT_IMPLEMENTED', `authentication type ${kind} is not supported`)
    }
  }

  private scramFirst(): void {
    const nonce = randomBytes(18).toString('base64')
    const clientFirstBare = `n=*,r=${nonce}`
    this.scram = { nonce, clientFirstBare }
    const first = Buffer.from(`n,,${clientFirstBare}`)
    this.send(frame('p', [cstring('SCRAM-SHA-256'), int32(first.length), first]))
  }

  private scramFinal(serverFirst: string): void {
    const scram = this.scram
    const fields = scramFields(serverFirst)
    const serverNonce = fields.get('r') ?? ''
    const salt = fields.get('s')
    const iterations = Number(fields.get('i'))
    if (scram === undefined || !serverNonce.startsWith(scram.nonce) || salt === undefined || !(iterations > 0)) {
      throw driverError('SASL_INVALID', 'the server sent an invalid SCRAM challenge')
    }
    const salted = pbkdf2Sync(this.target.password, Buffer.from(salt, 'base64'), iterations, 32, 'sha256')
    const clientKey = hmac(salted, 'Client Key')
    const withoutProof = `c=biws,r=${serverNonce}`
    const authMessage = `${scram.clientFirstBare},${serverFirst},${withoutProof}`
    const signature = hmac(createHash('sha256').update(clientKey).digest(), authMessage)
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ (signature[i] as number)))
    scram.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage)
    this.send(frame('p', [Buffer.from(`${withoutProof},p=${proof.toString('base64')}`)]))
  }

  private scramVerify(serverFinal: string): void {
    const expected = this.scram?.serverSignature
    const received = Buffer.from(scramFields(serverFinal).get('v') ?? '', 'base64')
    if (expected === undefined || received.length !== expected.length || !timingSafeEqual(received, expected)) {
      throw driverError('SASL_SIGNATURE_MISMATCH', 'the server did not prove that it knows the password')
    }
  }
}

const AUTHENTICATION = 0x52 // R
const ERROR_RESPONSE = 0x45 // E
const READY_FOR_QUERY = 0x5a // Z
const DATA_ROW = 0x44 // D
const PARSE_COMPLETE = 0x31 // 1

const cstring = (text: string) => Buffer.from(`${text}\0`)
const int16 = (value: number) => {
  const bytes = Buffer.allocUnsafe(2)
  bytes.writeInt16BE(value)
  return bytes
}
const int32 = (value: number) => {
  const bytes = Buffer.allocUnsafe(4)
  bytes.writeInt32BE(value)
  return bytes
}

/** A frontend message: its type byte (none for the startup message), length, then `body`. */
function frame(type: string | undefined, body: Buffer[]): Buffer {
  const length = 4 + body.reduce((sum, part) => sum + part.length, 0)
  const head = type === undefined ? int32(length) : Buffer.concat([Buffer.from(type), int32(length)])
  return Buffer.concat([head, ...body])
}

/** Execute of the unnamed portal, all rows, then Sync: the same bytes for every run. */
const EXECUTE_AND_SYNC = Buffer.concat([frame('E', [cstring(''), int32(0)]), frame('S', [])])

/** Bind of the unnamed portal to statement `name`, every parameter and column as text. */
function bind(name: string, params: readonly unknown[]): Buffer {
  const body: Buffer[] = [cstring(''), cstring(name), int16(0), int16(params.length)]
  for (const param of params) {
    if (param === null || param === undefined) {
      body.push(int32(-1))
      continue
    }
    const value = Buffer.from(String(param))
    body.push(int32(value.length), value)
  }
  body.push(int16(0))
  return frame('B', body)
}

function dataRow(buffer: Buffer, from: number): (string | null)[] {
  const count = buffer.readInt16BE(from)
  const row = new Array<string | null>(count)
  let at = from + 2
  for (let i = 0; i < count; i++) {
    const length = buffer.readInt32BE(at)
    at += 4
    if (length < 0) {
      row[i] = null
      continue
    }
    row[i] = buffer.toString('utf8', at, at + length)
    at += length
  }
  return row
}

/** An ErrorResponse's SQLSTATE (field C) and message (field M). */
function serverError(buffer: Buffer, from: number, to: number): PipeError {
  const fields = new Map<string, string>()
  let at = from
  while (at < to && buffer[at] !== 0) {
    const end = buffer.indexOf(0, at + 1)
    fields.set(String.fromCharCode(buffer[at] as number), buffer.toString('utf8', at + 1, end))
    at = end + 1
  }
  return new PipeError(fields.get('C') ?? 'XX000', fields.get('M') ?? 'unknown PostgreSQL error')
}

function scramFields(message: string): Map<string, string> {
  return new Map(message.split(',').map((field) => [field.slice(0, 1), field.slice(2)]))
}

const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest()
const md5 = (input: string | Buffer) => createHash('md5').update(input).digest('hex')

const notReady = (target: PipeTarget) => () => driverError('CONNECT_TIMEOUT', `the info connection was not ready within ${target.connectTimeoutMs} ms`)

/** A socket error as postgres.js reports it (its errno code kept), so the pool tells a lost connection alike. */
function connectFailure(error: unknown): unknown {
  if (error instanceof PipeError) return error
  const code = (error as { code?: unknown } | undefined)?.code
  return driverError(typeof code === 'string' ? code : 'CONNECTION_CLOSED', `the info connection could not be opened: ${String((error as Error | undefined)?.message ?? error)}`)
}
