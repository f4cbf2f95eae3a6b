import { hostname } from 'node:os'
import { VERSION } from '../version.ts'

export type LogFields = Record<string, string | number | boolean | undefined>

/** Log lines: human-readable when `human_logs` is on, mozlog JSON lines otherwise. */
export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
  /**
   * Text for a person reading the terminal (the start banner): `lines` written as they are in
   * human mode; in JSON mode one info line of `message` with `fields`.
   */
  notice(message: string, lines: readonly string[], fields?: LogFields): void
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

const SEVERITY = { debug: 7, info: 6, warn: 4, error: 3 } as const

export interface LoggerOptions {
  human: boolean
  /** Lines below this level are dropped; default info. */
  level?: LogLevel
  /** Where lines go; `urgent` for warnings and errors, which must not wait to be gathered. */
  write?: (line: string, urgent: boolean) => void
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? writeStdout
  const threshold = SEVERITY[options.level ?? 'info']
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
    ? (level: LogLevel, message: string, fields: LogFields) => humanLine(level, message, fields)
    : (level: LogLevel, message: string, fields: LogFields) =>
        `${envelope},"Timestamp":${Date.now()}000000,"Severity":${SEVERITY[level]},"Fields":{"msg":${JSON.stringify(message)}${fieldsJson(fields)}}}`
  const ignore = () => {}
  const log = (level: LogLevel) => {
    const urgent = SEVERITY[level] <= SEVERITY.warn
    return SEVERITY[level] > threshold ? ignore : (message: string, fields: LogFields = {}) => write(format(level, message, fields), urgent)
  }
  const info = log('info')
  return {
    debug: log('debug'),
    info,
    warn: log('warn'),
    error: log('error'),
    notice: options.human ? (_message, lines) => write(lines.join('\n'), false) : (message, _lines, fields) => info(message, fields),
  }
}

/**
 * The fields after `msg`, each with its leading comma: a request's line is written per request,
 * and copying the fields into a new object with `msg` first cost more than the stringify.
 */
function fieldsJson(fields: LogFields): string {
  const json = JSON.stringify(fields)
  return json.length === 2 ? '' : `,${json.slice(1, -1)}`
}

function humanLine(level: LogLevel, message: string, fields: LogFields): string {
  const time = new Date().toISOString().slice(11, 19)
  const { method, path, query, status, ms, ...rest } = fields
  // A request line reads like an access log: GET /path?query 200 1.2ms
  const head =
    message === 'request' && method !== undefined
      ? `${method} ${path}${query === undefined ? '' : `?${query}`} ${status} ${ms}ms`
      : message
  const shown = message === 'request' ? rest : fields
  const extras = Object.entries(shown)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ')
  return `${time} ${level.toUpperCase().padEnd(5)} ${head}${extras === '' ? '' : ` ${extras}`}`
}

/**
 * Whether stdout is a terminal, without loading node:tty (~55 ms and ~6 MB at start). A terminal is
 * a character device, but so is /dev/null, where services and `>/dev/null` send their output:
 * those must keep the JSON log, so the null device is told apart by its device number.
 */
export async function stdoutIsTerminal(): Promise<boolean> {
  try {
    const stdout = await Bun.stdout.stat()
    return stdout.isCharacterDevice() && stdout.rdev !== (await nullDeviceNumber())
  } catch {
    return false
  }
}

const nullDeviceNumber = async (): Promise<number | undefined> => {
  try {
    return (await Bun.file('/dev/null').stat()).rdev
  } catch {
    return undefined
  }
}

/**
 * Lines to stdout through Bun's file sink: process.stdout's node:stream machinery costs about 2 MB
 * of memory at start. The sink writes what it holds at the end of every turn of the event loop,
 * and Bun serves each request in a turn of its own: under steady traffic that was a write syscall
 * per request. Lines are therefore gathered, and handed to the sink together:
 * - as soon as 16 KiB are waiting (about 60 request lines), or an urgent line (a warning or an
 *   error) arrives, by the call that brought them there: an operator watching the log sees a
 *   failure when it happens, and a crash right after it cannot lose its line;
 * - otherwise when GATHER_MS have passed since the last hand-over, by a timer;
 * - a line after a quiet spell (no hand-over for GATHER_MS) at the end of its turn, as every line
 *   once was, so a lone request's line is never held back.
 * Scheduling the hand-over is what costs, not the hand-over: gathering by the millisecond, as an
 * earlier version did, meant a timer per millisecond of traffic, 7-10 % of a GET
 * info/collections' server CPU while the server has idle moments and about 2 % at its ceiling
 * (bench/paired-info.ts with and without --together). A server killed by a signal (no exit
 * handler runs) loses at most the lines of the last GATHER_MS of a busy stretch.
 *
 * When stdout goes away (the log reader exited: EPIPE), lines are dropped from then on: a
 * server must not stop serving because nobody reads its log.
 */
export class StdoutLines {
  #pending = ''
  #handOverQueued = false
  #lastHandOver = -Infinity
  #gone = false

  constructor(
    private readonly sink: Pick<Bun.FileSink, 'write' | 'flush'> = Bun.stdout.writer(),
    private readonly now: () => number = () => performance.now(),
  ) {
    // process.exit() skips pending timers, which would drop the last lines (e.g. a shutdown error).
    process.once('exit', () => this.#handOver())
  }

  write(line: string, urgent = false): void {
    if (this.#gone) return
    this.#pending += `${line}\n`
    if (urgent || this.#pending.length >= BATCH_CHARS) this.#handOver()
    else if (!this.#handOverQueued) this.#queueHandOver()
  }

  #queueHandOver(): void {
    this.#handOverQueued = true
    const handOver = () => {
      this.#handOverQueued = false
      this.#handOver()
    }
    if (this.now() - this.#lastHandOver >= GATHER_MS) queueMicrotask(handOver)
    // The timer must not keep a finished command alive: the exit handler writes what is left.
    else setTimeout(handOver, GATHER_MS).unref()
  }

  #handOver(): void {
    const lines = this.#pending
    this.#pending = ''
    this.#lastHandOver = this.now()
    if (this.#gone || lines === '') return
    try {
      this.sink.write(lines)
      const pending = this.sink.flush()
      if (pending instanceof Promise) pending.catch(() => (this.#gone = true))
    } catch {
      this.#gone = true
    }
  }
}

const GATHER_MS = 50
const BATCH_CHARS = 16 * 1024

let stdoutLines: StdoutLines | undefined
const writeStdout = (line: string, urgent: boolean) => (stdoutLines ??= new StdoutLines()).write(line, urgent)

/** For tests and tools that want no output. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, notice() {} }
