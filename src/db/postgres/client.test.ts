import { existsSync } from 'node:fs'
import { describe, expect, test } from 'bun:test'
import { backendNamed } from '../../../test/support/backends.ts'
import { everything, newUser, read, write } from '../../../test/support/server-engine-suite.ts'
import { openStorage } from '../open.ts'
import { connectPostgres, unixSocketTarget } from './client.ts'

describe('Unix-socket PostgreSQL URLs', () => {
  test('a percent-encoded path as the host names the socket directory; user, port, database and parameters stay', () => {
    expect(unixSocketTarget('postgres://sync:pw@%2Fvar%2Frun%2Fpostgresql:5433/syncstorage?sslmode=disable')).toEqual({
      directory: '/var/run/postgresql',
      url: 'postgres://sync:pw@localhost:5433/syncstorage?sslmode=disable',
    })
  })

  test('a host parameter names the socket directory and is not passed on as a server setting', () => {
    expect(unixSocketTarget('postgresql://sync@localhost/syncstorage?host=/run/pg&application_name=x')).toEqual({
      directory: '/run/pg',
      url: 'postgresql://sync@localhost/syncstorage?application_name=x',
    })
    expect(unixSocketTarget('postgres:///syncstorage?host=%2Frun%2Fpg')).toEqual({ directory: '/run/pg', url: 'postgres://localhost/syncstorage' })
  })

  test('TCP URLs are left to postgres.js', () => {
    expect(unixSocketTarget('postgres://sync@127.0.0.1:5432/syncstorage')).toBeUndefined()
    expect(unixSocketTarget('postgres://sync@db.example/syncstorage?host=db2.example')).toBeUndefined()
  })

  const backend = backendNamed('postgres')
  const socketDirectory = '/var/run/postgresql'
  const reachable = backend !== undefined && existsSync(`${socketDirectory}/.s.PGSQL.5432`)

  test.skipIf(!reachable)('storage opens and works over the socket, not over TCP', async () => {
    const tcp = new URL(await backend!.freshDatabaseUrl())
    const socketUrl = `postgres://${tcp.username}@${encodeURIComponent(socketDirectory)}${tcp.pathname}`
    const client = connectPostgres(socketUrl, { max: 1, onnotice: () => {} })
    try {
      // NULL: the session came in over a Unix socket.
      expect([...(await client.unsafe('SELECT inet_server_addr()').values())]).toEqual([[null]])
    } finally {
      await client.end({ timeout: 1 })
    }
    const storage = await openStorage(socketUrl, { runMigrations: true, poolMaxSize: 2, connectionTimeoutSeconds: 5 })
    try {
      const user = newUser()
      await write(storage, user, 'tabs', (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
      expect(await read(storage, user, 'tabs', (tx) => tx.getBsoIds(everything))).toEqual(['a'])
    } finally {
      await storage.close()
    }
  })
})
