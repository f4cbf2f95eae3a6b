import { hostname } from 'node:os'
import { VERSION } from '../version.ts'

export type LogFields = Record<string, string | number | boolean | undefined>

/** Log lines: human-readable when `human_logs` is on, mozlog JSON lines otherwise. */
export interface Logger {
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
}

const SEVERITY = { info: 6, warn: 4, error: 3 } as const
type Level = keyof typeof SEVERITY

export function createLogger(options: { human: boolean; write?: (line: string) => void }): Logger {
  const write = options.write ?? writeStdout
  const host = hostname()
  // The envelope is the same on every line: serialised once, so a request line costs one small stringify.
  const envelope = JSON.stringify({
    Type: 'syncserver:log',
    Logger: `syncserver-${VERSION}`,
    Hostname: host,
    EnvVersion: '2.0',
    Pid: process.pid,
  }).slice(0, -1)
  const format = options.human
    ? (level: Level, message: string, fields: LogFields) => humanLine(level, message, fields)
    : (level: Level, message: string, fields: LogFields) =>
        `${envelope},"Timestamp":${Date.now() * 1_000_000},"Severity":${SEVERITY[level]},"Fields":${JSON.stringify({ msg: message, ...fields })}}`
  const log = (level: Level) => (message: string, fields: LogFields = {}) => write(format(level, message, fields))
  return { info: log('info'), warn: log('warn'), error: log('error') }
}

function humanLine(level: Level, message: string, fields: LogFields): string {
  const extras = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ')
  return `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${extras === '' ? '' : ` ${extras}`}`
}

/**
 * Lines to stdout through Bun's file sink: process.stdout's node:stream machinery costs about 2 MB
 * of memory at start. A microtask flushes the buffer, so the lines written in one turn of the
 * event loop share a write and none waits for later traffic.
 *
 * When stdout goes away (the log reader exited: EPIPE), lines are dropped from then on: a
 * server must not stop serving because nobody reads its log.
 */
class StdoutLines {
  readonly #sink = Bun.stdout.writer()
  #flushQueued = false
  #gone = false

  constructor() {
    // process.exit() skips pending microtasks, which would drop the last lines (e.g. a shutdown error).
    process.once('exit', () => this.#flush())
  }

  write(line: string): void {
    if (this.#gone) return
    this.#attempt(() => this.#sink.write(`${line}\n`))
    if (this.#flushQueued) return
    this.#flushQueued = true
    queueMicrotask(() => this.#flush())
  }

  #flush(): void {
    this.#flushQueued = false
    if (!this.#gone) this.#attempt(() => this.#sink.flush())
  }

  #attempt(io: () => unknown): void {
    try {
      const pending = io()
      if (pending instanceof Promise) pending.catch(() => (this.#gone = true))
    } catch {
      this.#gone = true
    }
  }
}

let stdoutLines: StdoutLines | undefined
const writeStdout = (line: string) => (stdoutLines ??= new StdoutLines()).write(line)

/** For tests and tools that want no output. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} }
