import { SyncError } from '../errors.ts'
import type { Logger } from '../http/logger.ts'
import { isDeadlock, isDiskFull } from './driver-error.ts'

/** How often a transaction chosen as a deadlock victim runs again before the client gets 503. */
export const DEADLOCK_ATTEMPTS = 4

/**
 * A delay that doubles with each attempt up to `maxMs`, drawn at random from its upper half, so
 * clients (or transactions) that failed together do not retry together.
 */
export function backoffDelay(attempt: number, limits: { baseMs: number; maxMs: number }): number {
  const ceiling = Math.min(limits.maxMs, limits.baseMs * 2 ** attempt)
  return ceiling / 2 + Math.random() * (ceiling / 2)
}

/**
 * Whether the database takes writes: set when a write failed for want of disk space, cleared by
 * the next write that commits. While set, the heartbeat fails (reads may still work, but a
 * load balancer or operator must see that the server cannot do its job).
 */
class WriteHealth {
  private failingSince: number | undefined
  private logger: Logger | undefined

  /** Where the changes of state are logged (the server's logger, set at start). */
  reportTo(logger: Logger): void {
    this.logger = logger
  }

  /** Why writes fail now, or undefined when they work. */
  get failure(): string | undefined {
    return this.failingSince === undefined ? undefined : `database writes failing since ${new Date(this.failingSince).toISOString()}: disk full`
  }

  failed(error: unknown): void {
    if (this.failingSince !== undefined) return
    this.failingSince = Date.now()
    this.logger?.error('database write failed: disk full (no space left for the database); answering 503 until a write succeeds', {
      error: error instanceof Error ? error.message : String(error),
    })
  }

  succeeded(): void {
    if (this.failingSince === undefined) return
    this.logger?.info('database writes succeed again', { failed_for_ms: Date.now() - this.failingSince })
    this.failingSince = undefined
  }
}

export const writeHealth = new WriteHealth()

/** A write the database could not store (disk full): 503 + Retry-After, or `db error` for a batch append. */
export function isWriteFailure(error: unknown): boolean {
  return error instanceof SyncError && error.kind === 'unavailable' && isDiskFull(error)
}

/**
 * Every storage transaction goes through here. A deadlock victim runs again (MySQL 1213,
 * PostgreSQL 40P01/40001): the engine undid all of it and the work is re-runnable (the request
 * body is parsed before), so a short, jittered pause and another try usually succeeds where a
 * 503 would make the client back off its whole sync. A write that found the disk full becomes
 * `unavailable` and marks the database failing for the heartbeat.
 */
export async function guardTransaction<T>(mode: 'read' | 'write' | 'wipe', transaction: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await transaction()
      if (mode !== 'read') writeHealth.succeeded()
      return result
    } catch (error) {
      if (isDiskFull(error)) {
        writeHealth.failed(error)
        throw new SyncError('unavailable', 'disk full', { cause: error })
      }
      if (attempt + 1 >= DEADLOCK_ATTEMPTS || !isDeadlock(error)) throw error
      await Bun.sleep(backoffDelay(attempt, { baseMs: 20, maxMs: 200 }))
    }
  }
}
