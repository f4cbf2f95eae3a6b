import { describe, expect, test } from 'bun:test'
import { SyncError } from '../errors.ts'
import { backoffDelay, DEADLOCK_ATTEMPTS, guardTransaction, isWriteFailure, writeHealth } from './retry.ts'

const deadlock = () => new SyncError('conflict', 'database lock conflict', { cause: Object.assign(new Error('Deadlock found'), { code: 'ER_LOCK_DEADLOCK', errno: 1213 }) })

describe('guardTransaction', () => {
  test('runs a deadlock victim again, at most DEADLOCK_ATTEMPTS times in all', async () => {
    let runs = 0
    const failing = guardTransaction('write', async () => {
      runs++
      throw deadlock()
    })
    expect(failing).rejects.toThrow('database lock conflict')
    await failing.catch(() => {})
    expect(runs).toBe(DEADLOCK_ATTEMPTS)

    let tries = 0
    const result = await guardTransaction('write', async () => {
      if (++tries < 3) throw Object.assign(new Error('deadlock detected'), { code: '40P01' })
      return 'done'
    })
    expect(result).toBe('done')
    expect(tries).toBe(3)
  })

  test('does not repeat other failures', async () => {
    let runs = 0
    await guardTransaction('write', async () => {
      runs++
      throw new SyncError('conflict', 'collection modified in the future')
    }).catch(() => {})
    expect(runs).toBe(1)
  })

  test('a full disk becomes unavailable and fails the health check until a write succeeds', async () => {
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })
    const error = await guardTransaction('write', () => Promise.reject(full)).catch((caught: unknown) => caught)
    expect(isWriteFailure(error)).toBe(true)
    expect((error as SyncError).kind).toBe('unavailable')
    expect(writeHealth.failure).toContain('disk full')
    await guardTransaction('read', async () => 1)
    expect(writeHealth.failure).toBeDefined()
    await guardTransaction('write', async () => 1)
    expect(writeHealth.failure).toBeUndefined()
  })
})

test('backoffDelay doubles up to its ceiling, jittered within the upper half', () => {
  for (let attempt = 0; attempt < 10; attempt++) {
    const ceiling = Math.min(5000, 250 * 2 ** attempt)
    const delay = backoffDelay(attempt, { baseMs: 250, maxMs: 5000 })
    expect(delay).toBeGreaterThanOrEqual(ceiling / 2)
    expect(delay).toBeLessThanOrEqual(ceiling)
  }
})
