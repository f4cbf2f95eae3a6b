/**
 * src/db/timestamp-reads.ts, for the cost of GET info/collections on MariaDB and PostgreSQL
 * (issue #11): the timestamp reads of concurrent info/* requests in one turn share one statement.
 */
import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test'
import { MysqlPool } from '../../src/db/mysql/connection.ts'
import { mysqlEngine } from '../../src/db/mysql/open.ts'
import { MysqlStorage } from '../../src/db/mysql/storage.ts'
import { COLLECTION_NAMES, USERS_TIMESTAMPS } from '../../src/db/mysql/statements.ts'
import { PostgresPool } from '../../src/db/postgres/connection.ts'
import { postgresEngine } from '../../src/db/postgres/open.ts'
import { PostgresStorage } from '../../src/db/postgres/storage.ts'
import type { StorageBackend, StorageUser } from '../../src/db/types.ts'
import { backendNamed } from '../support/backends.ts'
import { newUser, write } from '../support/server-engine-suite.ts'

/** An engine's storage and the pool method its shared timestamp statement goes through. */
interface Opened {
  storage: StorageBackend
  pool: { rows(...args: never[]): Promise<unknown[][]> }
}

const POOL = { poolMaxSize: 4, connectionTimeoutSeconds: 5 }

const engines = {
  mysql: async (url: string): Promise<Opened> => {
    await mysqlEngine.migrateStorage(url)
    const pool = new MysqlPool(url, POOL)
    return { pool, storage: new MysqlStorage(pool) }
  },
  postgres: async (url: string): Promise<Opened> => {
    await postgresEngine.migrateStorage(url)
    const pool = new PostgresPool(url, POOL)
    return { pool, storage: new PostgresStorage(pool) }
  },
}

for (const [name, open] of Object.entries(engines)) {
  const backend = backendNamed(name)

  ;(backend === undefined ? describe.skip : describe)(`${name} info/* timestamp reads`, () => {
    let opened: Opened
    beforeAll(async () => {
      opened = await open(await backend!.freshDatabaseUrl())
    })
    afterAll(async () => {
      await opened?.storage.close()
    })

    const info = (user: StorageUser) =>
      opened.storage.withTransaction({ user, mode: 'read' }, async (tx) => ({
        latest: await tx.storageTimestamp(),
        collections: Object.fromEntries(await tx.collectionTimestamps()),
      }))

    /** Each read from a callback of its own, as requests arrive, all in one turn of the event loop. */
    const infoOfOneTurn = (users: StorageUser[]) =>
      Promise.allSettled(users.map((user) => new Promise((resolve) => setTimeout(() => resolve(info(user)), 0))))

    test('reads of one turn are one statement, and each user gets their own timestamps', async () => {
      const users = [newUser(), newUser(), newUser()]
      const stamps: Record<string, number>[] = []
      for (const [index, user] of users.entries()) {
        const names = ['bookmarks', 'history', 'tabs'].slice(0, index)
        const collections: Record<string, number> = {}
        for (const collection of names) collections[collection] = await write(opened.storage, user, collection, async (tx) => (await tx.putBsos([{ id: 'x', payload: collection }]), tx.timestamp))
        stamps.push(collections)
      }
      const statements = spyOn(opened.pool, 'rows')
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

    test('a read from the next turn joins the statement of the reads before it', async () => {
      const [first, next] = [newUser(), newUser()]
      const statements = spyOn(opened.pool, 'rows')
      try {
        const firstRead = info(first)
        const nextRead = new Promise((resolve) => setImmediate(() => resolve(info(next))))
        await Promise.all([firstRead, nextRead])
        expect(statements).toHaveBeenCalledTimes(1)
      } finally {
        statements.mockRestore()
      }
    })

    test('a read inside a transaction is not shared: it sees the transaction', async () => {
      const user = newUser()
      const statements = spyOn(opened.pool, 'rows')
      try {
        const seen = await opened.storage.withTransaction({ user, mode: 'write', collection: 'bookmarks' }, async (tx) => {
          await tx.putBsos([{ id: 'x', payload: 'a' }])
          return Object.fromEntries(await tx.collectionTimestamps())
        })
        expect(Object.keys(seen)).toEqual(['bookmarks'])
        expect(statements).not.toHaveBeenCalled()
      } finally {
        statements.mockRestore()
      }
    })

    test('a failed statement fails every read that shared it', async () => {
      const statements = spyOn(opened.pool, 'rows').mockImplementation(() => Promise.reject(Object.assign(new Error('boom'), { code: 'ER_SOMETHING' })))
      try {
        const settled = await infoOfOneTurn([newUser(), newUser()])
        expect(statements).toHaveBeenCalledTimes(1)
        expect(settled.map((result) => result.status)).toEqual(['rejected', 'rejected'])
      } finally {
        statements.mockRestore()
      }
    })

    test('a user whose timestamps did not change gets the same map back, so its JSON is reused', async () => {
      const user = newUser()
      const timestamps = () => opened.storage.withTransaction({ user, mode: 'read' }, (tx) => tx.collectionTimestamps())
      await write(opened.storage, user, 'bookmarks', (tx) => tx.putBsos([{ id: 'x', payload: 'a' }]))
      const first = await timestamps()
      expect(await timestamps()).toBe(first)
      const modified = await write(opened.storage, user, 'history', async (tx) => (await tx.putBsos([{ id: 'x', payload: 'b' }]), tx.timestamp))
      const changed = await timestamps()
      expect(changed).not.toBe(first)
      expect(changed).toEqual(new Map([...first, ['history', modified]]))
      expect(await timestamps()).toBe(changed)
    })

    if (name === 'mysql') {
      test('custom collections get their names from one lookup, standard ones from none', async () => {
        const user = newUser()
        const stamps: Record<string, number> = {}
        for (const collection of ['bookmarks', 'custom-a', 'custom-b']) stamps[collection] = await write(opened.storage, user, collection, async (tx) => (await tx.putBsos([{ id: 'x', payload: collection }]), tx.timestamp))
        const statements = spyOn(opened.pool as MysqlPool, 'rows')
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
    }
  })
}
