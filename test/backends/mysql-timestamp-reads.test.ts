/**
 * src/db/mysql/timestamp-reads.ts, for the cost of GET info/collections on MariaDB (issue #11):
 * the timestamp reads of concurrent info/* requests in one turn share one statement.
 */
import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test'
import { MysqlPool } from '../../src/db/mysql/connection.ts'
import { mysqlEngine } from '../../src/db/mysql/open.ts'
import { MysqlStorage } from '../../src/db/mysql/storage.ts'
import { COLLECTION_NAMES, USERS_TIMESTAMPS } from '../../src/db/mysql/statements.ts'
import type { StorageUser } from '../../src/db/types.ts'
import { backendNamed } from '../support/backends.ts'
import { newUser, write } from '../support/server-engine-suite.ts'

const backend = backendNamed('mysql')

;(backend === undefined ? describe.skip : describe)('mysql info/* timestamp reads', () => {
  let pool: MysqlPool
  let storage: MysqlStorage
  beforeAll(async () => {
    const url = await backend!.freshDatabaseUrl()
    await mysqlEngine.migrateStorage(url)
    pool = new MysqlPool(url, { poolMaxSize: 4, connectionTimeoutSeconds: 5 })
    storage = new MysqlStorage(pool)
  })
  afterAll(async () => {
    await storage?.close()
  })

  const info = (user: StorageUser) =>
    storage.withTransaction({ user, mode: 'read' }, async (tx) => ({ latest: await tx.storageTimestamp(), collections: Object.fromEntries(await tx.collectionTimestamps()) }))

  /** Each read from a callback of its own, as requests arrive, all in one turn of the event loop. */
  const infoOfOneTurn = (users: StorageUser[]) =>
    Promise.allSettled(users.map((user) => new Promise((resolve) => setTimeout(() => resolve(info(user)), 0))))

  test('reads of one turn are one statement, and each user gets their own timestamps', async () => {
    const users = [newUser(), newUser(), newUser()]
    const stamps: Record<string, number>[] = []
    for (const [index, user] of users.entries()) {
      const names = ['bookmarks', 'history', 'tabs'].slice(0, index)
      const collections: Record<string, number> = {}
      for (const name of names) collections[name] = await write(storage, user, name, async (tx) => (await tx.putBsos([{ id: 'x', payload: name }]), tx.timestamp))
      stamps.push(collections)
    }
    const statements = spyOn(pool, 'rows')
    try {
      const answers = await infoOfOneTurn([...users, users[2]!])
      expect(statements).toHaveBeenCalledTimes(1)
      expect(answers).toEqual(
        [...stamps, stamps[2]!].map((collections) => ({ status: 'fulfilled', value: { latest: Math.max(0, ...Object.values(collections)), collections } })),
      )
    } finally {
      statements.mockRestore()
    }
  })

  test('a failed statement fails every read that shared it', async () => {
    const statements = spyOn(pool, 'rows').mockImplementation(() => Promise.reject(Object.assign(new Error('boom'), { code: 'ER_SOMETHING' })))
    try {
      const settled = await infoOfOneTurn([newUser(), newUser()])
      expect(statements).toHaveBeenCalledTimes(1)
      expect(settled.map((result) => result.status)).toEqual(['rejected', 'rejected'])
    } finally {
      statements.mockRestore()
    }
  })

  test('custom collections get their names from one lookup, standard ones from none', async () => {
    const user = newUser()
    const stamps: Record<string, number> = {}
    for (const name of ['bookmarks', 'custom-a', 'custom-b']) stamps[name] = await write(storage, user, name, async (tx) => (await tx.putBsos([{ id: 'x', payload: name }]), tx.timestamp))
    const statements = spyOn(pool, 'rows')
    try {
      expect((await info(user)).collections).toEqual(stamps)
      expect(statements.mock.calls.map(([text]) => text)).toEqual([USERS_TIMESTAMPS, COLLECTION_NAMES])
      statements.mockClear()
      expect((await info(user)).collections).toEqual(stamps)
      expect(statements.mock.calls.map(([text]) => text)).toEqual([USERS_TIMESTAMPS])
    } finally {
      statements.mockRestore()
    }
  })

  test('a user whose timestamps did not change gets the same map back, so its JSON is reused', async () => {
    const user = newUser()
    const timestamps = () => storage.withTransaction({ user, mode: 'read' }, (tx) => tx.collectionTimestamps())
    await write(storage, user, 'bookmarks', (tx) => tx.putBsos([{ id: 'x', payload: 'a' }]))
    const first = await timestamps()
    expect(await timestamps()).toBe(first)
    const modified = await write(storage, user, 'history', async (tx) => (await tx.putBsos([{ id: 'x', payload: 'b' }]), tx.timestamp))
    const changed = await timestamps()
    expect(changed).not.toBe(first)
    expect(changed).toEqual(new Map([...first, ['history', modified]]))
    expect(await timestamps()).toBe(changed)
  })
})
