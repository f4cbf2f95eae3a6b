import { describe, expect, test } from 'bun:test'
import type { TokenserverDb } from '../db/tokenserver-types.ts'
import { isSyncError } from '../errors.ts'
import { withRequestTimeout } from './db-timeout.ts'

const slowDb = (delayMs: number) =>
  ({
    engine: 'sqlite',
    serviceId: async () => {
      await Bun.sleep(delayMs)
      return 7
    },
    close: async () => {
      await Bun.sleep(delayMs)
    },
  }) as unknown as TokenserverDb

describe('withRequestTimeout', () => {
  test('without a timeout the database is returned as is', () => {
    const db = slowDb(0)
    expect(withRequestTimeout(db, undefined)).toBe(db)
  })

  test('a call within the timeout answers normally', async () => {
    expect(await withRequestTimeout(slowDb(1), 1).serviceId('sync-1.5')).toBe(7)
  })

  test('a slower call fails with elapsed', async () => {
    const error = await withRequestTimeout(slowDb(200), 0.02)
      .serviceId('sync-1.5')
      .catch((caught: unknown) => caught)
    expect(isSyncError(error, 'elapsed')).toBe(true)
  })

  test('close is never cut short', async () => {
    await withRequestTimeout(slowDb(50), 0.01).close()
  })

  test('a frozen database is wrapped too', async () => {
    expect(await withRequestTimeout(Object.freeze(slowDb(1)), 1).serviceId('sync-1.5')).toBe(7)
  })

  test('plain properties pass through', () => {
    expect(withRequestTimeout(slowDb(0), 1).engine).toBe('sqlite')
  })
})
