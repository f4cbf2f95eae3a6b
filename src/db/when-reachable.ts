import { SyncError } from '../errors.ts'
import type { Logger } from '../http/logger.ts'
import { isUnreachable } from './driver-error.ts'
import { backoffDelay, writeHealth } from './retry.ts'

/** The members every opened database has; the rest are delegated once it is open. */
interface Database {
  check(): Promise<boolean>
  close(): Promise<void>
}

export interface WhenReachableOptions<T> {
  /** What the log calls it ("storage database", "tokenserver database"). */
  what: string
  logger: Logger
  /** Answers for synchronous members while the database is unreachable (async ones reject 503). */
  placeholders: Partial<T>
  /** The failure in words for the operator: which setting, which server, what to do. */
  explain?: (error: unknown) => string
}

/**
 * Opens a database, or — when its server cannot be reached yet — a stand-in that answers every
 * call with `unavailable` (503 + Retry-After; the heartbeat fails) while it keeps trying in the
 * background with growing, jittered delays, and becomes the real database once it opens. So
 * `serve` starts while the database is down and heals by itself. Any other failure (a bad URL,
 * an outdated schema, wrong credentials) still stops the start.
 */
export async function openWhenReachable<T extends Database>(open: () => Promise<T>, options: WhenReachableOptions<T>): Promise<T> {
  try {
    return withWriteHealth(await open())
  } catch (error) {
    if (!isUnreachable(error)) throw error
    const explained = options.explain?.(error) ?? describe(error)
    options.logger.error(`${options.what} unreachable; serving 503 until it answers`, { error: explained })
    return withWriteHealth(standIn(open, options))
  }
}

/** The database, with a heartbeat check that also fails while writes fail (disk full). */
function withWriteHealth<T extends Database>(database: T): T {
  const check = async () => {
    const failure = writeHealth.failure
    if (failure !== undefined) throw new SyncError('unavailable', failure)
    return database.check()
  }
  return new Proxy(database, {
    get: (target, property) => (property === 'check' ? check : Reflect.get(target, property)),
  })
}

function standIn<T extends Database>(open: () => Promise<T>, options: WhenReachableOptions<T>): T {
  let database: T | undefined
  let closed = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const unavailable = () => Promise.reject(new SyncError('unavailable', `${options.what} unreachable`))

  const retry = (attempt: number) => {
    timer = setTimeout(async () => {
      try {
        const opened = await open()
        if (closed) return void (await opened.close())
        database = opened
        options.logger.info(`${options.what} reachable again`, { attempts: attempt + 1 })
      } catch (error) {
        if (closed) return
        if (!isUnreachable(error)) options.logger.error(`${options.what} failed to open`, { error: describe(error) })
        retry(attempt + 1)
      }
    }, backoffDelay(attempt, { baseMs: 250, maxMs: 5000 }))
  }
  retry(0)

  const fallback = {
    check: unavailable,
    async close() {
      closed = true
      clearTimeout(timer)
      await database?.close()
    },
  }
  return new Proxy({} as T, {
    get(_target, property) {
      if (database !== undefined && property !== 'close') {
        const value = Reflect.get(database, property)
        return typeof value === 'function' ? value.bind(database) : value
      }
      if (property in fallback) return fallback[property as keyof typeof fallback]
      if (property in options.placeholders) return options.placeholders[property as keyof T]
      if (property === 'then') return undefined
      return unavailable
    },
  })
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
