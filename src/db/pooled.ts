import { SyncError } from '../errors.ts'

interface Waiter {
  grant(): void
  timer: ReturnType<typeof setTimeout>
}

/**
 * Admission to a connection pool of a server database (PostgreSQL, MySQL): at most `max`
 * transactions hold a connection; the rest wait in arrival order for at most `timeoutMs`. A
 * request that waited too long, or that finds `queueLimit` others already waiting, is refused
 * with `unavailable` (503 + Retry-After) instead of piling up behind a stuck database.
 */
export class ConnectionGate {
  private active = 0
  private readonly waiters: Waiter[] = []

  constructor(
    readonly max: number,
    private readonly timeoutMs: number,
    private readonly queueLimit = 1000,
  ) {}

  /** Transactions holding a connection now. */
  get inUse(): number {
    return this.active
  }

  /** Transactions waiting for one. */
  get waiting(): number {
    return this.waiters.length
  }

  /** Takes a slot if one is free and nobody waits for it: true when taken, at once. */
  tryAcquire(): boolean {
    if (this.active >= this.max || this.waiters.length > 0) return false
    this.active++
    return true
  }

  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve()
    if (this.waiters.length >= this.queueLimit) {
      return Promise.reject(new SyncError('unavailable', 'too many requests waiting for a database connection'))
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        timer: setTimeout(() => {
          const index = this.waiters.indexOf(waiter)
          if (index >= 0) this.waiters.splice(index, 1)
          reject(new SyncError('unavailable', `no database connection became free within ${this.timeoutMs} ms`))
        }, this.timeoutMs),
      }
      this.waiters.push(waiter)
    })
  }

  /** Resolves once no transaction holds a connection (or after `timeoutMs`). */
  async drained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.active > 0 && Date.now() < deadline) await Bun.sleep(10)
  }

  /** Hands the slot to the longest waiter, or frees it. */
  release(): void {
    const next = this.waiters.shift()
    if (next === undefined) {
      this.active--
      return
    }
    clearTimeout(next.timer)
    next.grant()
  }
}

/** Driver and socket error codes that mean the connection or the server went away. */
export const CONNECTION_LOST_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
])
