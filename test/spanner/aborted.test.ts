import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { isSyncError } from '../../src/errors.ts'
import type { StorageBackend, StorageUser } from '../../src/db/types.ts'
import { backendNamed, openTestStorage } from '../support/backends.ts'
import { freshUid, fxaIdentity } from '../support/sync-client.ts'

const spanner = backendNamed('spanner')

/**
 * Two processes writing one collection at once: Spanner aborts one transaction (on the emulator,
 * any second read-write transaction), and the backend answers it as a write conflict, which the
 * HTTP layer turns into 503 with Retry-After, as syncstorage-rs does. Nothing of the aborted
 * transaction stays.
 */
describe.skipIf(spanner === undefined)('an aborted Spanner transaction', () => {
  let first: StorageBackend
  let second: StorageBackend
  beforeAll(async () => {
    const url = await (spanner as NonNullable<typeof spanner>).freshDatabaseUrl()
    // Two backends, as two server processes: each queues only its own writes.
    first = await openTestStorage(url)
    second = await openTestStorage(url)
  })
  afterAll(() => Promise.all([first?.close(), second?.close()]))

  // The emulator may hold the second transaction for seconds before aborting it.
  test('is a conflict, and leaves no write behind', async () => {
    const uid = freshUid()
    const { fxa_uid, fxa_kid } = fxaIdentity(uid)
    const user: StorageUser = { uid, fxaUid: fxa_uid, fxaKid: fxa_kid }
    let release = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    let holding = () => {}
    const holds = new Promise<void>((resolve) => {
      holding = resolve
    })
    const a = first.withTransaction({ user, mode: 'write', collection: 'tabs' }, async (tx) => {
      await tx.putBsos([{ id: 'a', payload: 'from the first' }])
      holding()
      await held
    })
    await holds
    const b = second.withTransaction({ user, mode: 'write', collection: 'tabs' }, (tx) => tx.putBsos([{ id: 'b', payload: 'from the second' }]))
    const bSettled = await Promise.allSettled([b])
    release()
    const aSettled = await Promise.allSettled([a])
    const outcomes = [...aSettled, ...bSettled]
    const conflicts = outcomes.filter((outcome) => outcome.status === 'rejected' && isSyncError(outcome.reason, 'conflict'))
    expect(conflicts.length).toBeGreaterThanOrEqual(1)
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(conflicts.length)
    const stored = await first.withTransaction({ user, mode: 'read', collection: 'tabs' }, (tx) => tx.getBsoIds({ sort: 'oldest', skip: 0 }))
    const committed = [aSettled[0]?.status === 'fulfilled' ? 'a' : undefined, bSettled[0]?.status === 'fulfilled' ? 'b' : undefined]
    expect(stored).toEqual(committed.filter((id) => id !== undefined))
  }, 30_000)
})
