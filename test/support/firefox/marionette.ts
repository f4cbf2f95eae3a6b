/**
 * Minimal client for Firefox's built-in Marionette protocol (version 3): frames are
 * `<byteLength>:<json>`, commands `[0, id, name, params]`, replies `[1, id, error, result]`.
 * Only what the e2e harness needs; no geckodriver.
 */
import { connect, type Socket } from 'node:net'

interface Pending {
  name: string
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

interface MarionetteError {
  error: string
  message: string
  stacktrace?: string
}

export interface Session {
  sessionId: string
  capabilities: { browserName: string; browserVersion: string } & Record<string, unknown>
}

/** Splits a byte stream into Marionette frames. */
export class FrameReader {
  private buffer = Buffer.alloc(0)

  push(chunk: Buffer): unknown[] {
    this.buffer = Buffer.concat([this.buffer, chunk])
    const frames: unknown[] = []
    for (;;) {
      const colon = this.buffer.indexOf(0x3a)
      if (colon < 0) return frames
      const length = Number(this.buffer.subarray(0, colon).toString('ascii'))
      if (!Number.isInteger(length)) throw new Error(`marionette: bad frame prefix ${this.buffer.subarray(0, colon)}`)
      const end = colon + 1 + length
      if (this.buffer.length < end) return frames
      frames.push(JSON.parse(this.buffer.subarray(colon + 1, end).toString('utf8')))
      this.buffer = this.buffer.subarray(end)
    }
  }
}

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8')
  return Buffer.concat([Buffer.from(`${body.length}:`, 'ascii'), body])
}

export class Marionette {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private readonly reader = new FrameReader()
  private greeted!: () => void
  private refused!: (error: Error) => void
  /** Settles once the server's `{applicationType, marionetteProtocol}` hello arrived or the socket died. */
  private readonly hello = new Promise<void>((resolve, reject) => {
    this.greeted = resolve
    this.refused = reject
  })

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('close', () => this.failAll(new Error('marionette: connection closed')))
    socket.on('error', (error) => this.failAll(error))
  }

  /**
   * Connects to a Firefox started with `--marionette`, retrying while it is still starting up.
   *
   * @example
   * const client = await Marionette.connect(2828)
   * await client.newSession()
   * await client.setContext('chrome')
   * const title = await client.executeScript<string>('return Services.appinfo.name')
   */
  static async connect(port: number, timeoutMs = 30_000): Promise<Marionette> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        const client = new Marionette(await openSocket(port))
        await client.hello
        return client
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`marionette: no connection on port ${port}: ${String(error)}`)
        await Bun.sleep(250)
      }
    }
  }

  command<T = unknown>(name: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++
    const reply = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { name, resolve: resolve as (value: unknown) => void, reject })
    })
    this.socket.write(encodeFrame([0, id, name, params]))
    return reply
  }

  newSession(): Promise<Session> {
    return this.command<Session>('WebDriver:NewSession', { capabilities: { alwaysMatch: { acceptInsecureCerts: true } } })
  }

  setScriptTimeout(ms: number): Promise<unknown> {
    return this.command('WebDriver:SetTimeouts', { script: ms })
  }

  setContext(context: 'chrome' | 'content'): Promise<unknown> {
    return this.command('Marionette:SetContext', { value: context })
  }

  /** Runs `script` as a function body (`arguments` holds `args`); a returned promise is awaited. */
  async executeScript<T>(script: string, args: unknown[] = []): Promise<T> {
    const result = await this.command<{ value: T }>('WebDriver:ExecuteScript', { script, args })
    return result.value
  }

  /** Asks Firefox to exit; the connection drops while the reply may still be in flight. */
  async quit(): Promise<void> {
    await this.command('Marionette:Quit', { flags: ['eForceQuit'] }).catch(() => undefined)
    this.socket.destroy()
  }

  private onData(chunk: Buffer): void {
    for (const frame of this.reader.push(chunk)) {
      if (Array.isArray(frame)) this.onReply(frame as [number, number, MarionetteError | null, unknown])
      else this.greeted()
    }
  }

  private onReply([, id, error, result]: [number, number, MarionetteError | null, unknown]): void {
    const pending = this.pending.get(id)
    if (!pending) return
    this.pending.delete(id)
    if (error) pending.reject(new Error(`${pending.name}: ${error.error}: ${error.message}${error.stacktrace ? `\n${error.stacktrace}` : ''}`))
    else pending.resolve(result)
  }

  private failAll(error: Error): void {
    this.refused(error)
    for (const pending of this.pending.values()) pending.reject(error)
    this.pending.clear()
  }
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}
