import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { connectPostgres } from '../../src/db/postgres/client.ts'
import { isConnectionLost } from '../../src/db/postgres/connection.ts'
import { pipeTargetOf, StatementPipe, type DriverOptions, type PipeTarget } from '../../src/db/postgres/statement-pipe.ts'
import { backendNamed, SETUP_TIMEOUT_MS } from '../support/backends.ts'
import { freePort } from '../support/binary.ts'
import { privatePostgres, privatePostgresSkip, type PrivateDatabase } from '../fault/support/private-db.ts'

const backend = backendNamed('postgres')

/** The pipe's target for `url`, as PostgresPool makes it: from what postgres.js parsed. */
function targetOf(url: string, options: postgres.Options<Record<string, never>> = {}): PipeTarget | undefined {
  const client = connectPostgres(url, { connection: { application_name: 'syncserver' }, ...options })
  return pipeTargetOf(client.options as unknown as DriverOptions)
}

/** Resolves to the error `work` rejects with (fails the test if it resolves). */
async function rejection(work: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await work
  } catch (error) {
    return error as { code?: string; message: string }
  }
  throw new Error('expected a rejection')
}

;(backend === undefined ? describe.skip : describe)('postgres statement pipe', () => {
  let url: string
  let admin: postgres.Sql
  const pipes: StatementPipe[] = []
  const pipeFor = (target: PipeTarget | undefined) => {
    if (target === undefined) throw new Error('the URL should be one the pipe connects to')
    const pipe = new StatementPipe(target)
    pipes.push(pipe)
    return pipe
  }

  beforeAll(async () => {
    url = await backend!.freshDatabaseUrl()
    admin = postgres(url, { max: 1, onnotice: () => {} })
  }, SETUP_TIMEOUT_MS)

  afterAll(async () => {
    await Promise.all(pipes.map((pipe) => pipe.close()))
    await admin.end({ timeout: 5 })
  })

  test('answers rows as text, with parameters as text and NULL both ways', async () => {
    const pipe = pipeFor(targetOf(url))
    expect(await pipe.rows('SELECT $1::text, $2::int8 + 1, NULL::text, $3::text IS NULL', ['héllo ✓', '9223372036854775806', null])).toEqual([
      ['héllo ✓', '9223372036854775807', null, 't'],
    ])
    expect(await pipe.rows('SELECT g::text FROM generate_series(1, $1::int) g', [3])).toEqual([['1'], ['2'], ['3']])
    expect(await pipe.rows('SELECT 1 WHERE false', [])).toEqual([])
  })

  test('runs sent together are answered in order, each with its own rows, on one connection', async () => {
    const pipe = pipeFor(targetOf(url))
    const runs = Array.from({ length: 50 }, (_, i) => pipe.rows('SELECT ($1::int * 2)::text, pg_backend_pid()::text', [i]))
    const answers = await Promise.all(runs)
    expect(answers.map(([row]) => Number(row?.[0]))).toEqual(Array.from({ length: 50 }, (_, i) => i * 2))
    expect(new Set(answers.map(([row]) => row?.[1])).size).toBe(1)
  })

  test('answers that arrive over many reads, messages cut at any byte, come back whole', async () => {
    const pipe = pipeFor(targetOf(url))
    const [wide, long] = await Promise.all([
      pipe.rows('SELECT repeat($1::text, 500000), md5(repeat($1::text, 500000))', ['ab✓']),
      pipe.rows("SELECT g::text, md5(g::text) FROM generate_series(1, 30000) g", []),
    ])
    const [[text, digest]] = wide as [[string, string]]
    expect(text).toBe('ab✓'.repeat(500_000))
    expect(new Bun.CryptoHasher('md5').update(text).digest('hex')).toBe(digest)
    expect(long).toHaveLength(30_000)
    expect(long.every(([n, hash]) => new Bun.CryptoHasher('md5').update(n as string).digest('hex') === hash)).toBe(true)
  })

  test('an error fails its own run only, and a statement that failed to prepare is prepared again', async () => {
    const pipe = pipeFor(targetOf(url))
    const divide = (by: number) => pipe.rows('SELECT (10 / $1::int)::text', [by])
    const [before, failed, after] = await Promise.allSettled([divide(2), divide(0), divide(5)])
    expect(before).toEqual({ status: 'fulfilled', value: [['5']] })
    expect(failed.status === 'rejected' && (failed.reason as { code?: string }).code).toBe('22012')
    expect(after).toEqual({ status: 'fulfilled', value: [['2']] })
    // Twice the same syntax error, not "prepared statement does not exist" the second time.
    expect((await rejection(pipe.rows('SELEC 1', []))).code).toBe('42601')
    expect((await rejection(pipe.rows('SELEC 1', []))).code).toBe('42601')
    expect(await divide(1)).toEqual([['10']])
  })

  test('a connection the server ends fails its runs as lost, and the next run connects again', async () => {
    const pipe = pipeFor(targetOf(url))
    const [[pid]] = (await pipe.rows('SELECT pg_backend_pid()::text', [])) as [[string]]
    const sleeping = rejection(pipe.rows('SELECT pg_sleep(30)::text', []))
    await Bun.sleep(100)
    await admin`SELECT pg_terminate_backend(${Number(pid)})`
    const lost = await sleeping
    expect(isConnectionLost(lost)).toBe(true)
    const [[next]] = (await pipe.rows('SELECT pg_backend_pid()::text', [])) as [[string]]
    expect(next).not.toBe(pid)
  })

  test('a server that is not there fails the run as a lost connection', async () => {
    const port = await freePort()
    const pipe = pipeFor(targetOf(`postgres://postgres@127.0.0.1:${port}/postgres`))
    expect(isConnectionLost(await rejection(pipe.rows('SELECT 1', [])))).toBe(true)
  })

  test('after close, runs fail as lost', async () => {
    const pipe = pipeFor(targetOf(url))
    expect(await pipe.rows('SELECT 1::text', [])).toEqual([['1']])
    await pipe.close()
    expect(isConnectionLost(await rejection(pipe.rows('SELECT 1', [])))).toBe(true)
  })

  test('connects as postgres.js would: user, database, application_name and the URL parameters', async () => {
    const database = new URL(url).pathname.slice(1)
    const pipe = pipeFor(targetOf(`${url}?search_path=pg_catalog`))
    expect(await pipe.rows("SELECT current_user, current_database(), current_setting('application_name'), current_setting('search_path')", [])).toEqual([
      ['postgres', database, 'syncserver', 'pg_catalog'],
    ])
  })

  test('reaches a server through its Unix socket, named as libpq names it', async () => {
    const socketUrl = `postgres://postgres@localhost/${new URL(url).pathname.slice(1)}?host=/var/run/postgresql`
    const target = targetOf(socketUrl)
    expect(target?.address).toEqual({ unix: '/var/run/postgresql/.s.PGSQL.5432' })
    expect(await pipeFor(target).rows('SELECT 1::text', [])).toEqual([['1']])
  })

  test('leaves to postgres.js what it does not speak: TLS, several hosts, target_session_attrs', () => {
    expect(targetOf('postgres://postgres@127.0.0.1/db?sslmode=require')).toBeUndefined()
    expect(targetOf('postgres://postgres@127.0.0.1/db', { ssl: 'prefer' })).toBeUndefined()
    expect(targetOf('postgres://postgres@127.0.0.1:5432,127.0.0.2:5432/db')).toBeUndefined()
    expect(targetOf('postgres://postgres@127.0.0.1/db?target_session_attrs=read-write')).toBeUndefined()
    expect(targetOf('postgres://postgres@127.0.0.1/db?sslmode=disable')).toBeDefined()
  })
})

;(backend === undefined || privatePostgresSkip !== undefined ? describe.skip : describe)('postgres statement pipe, password authentication', () => {
  let server: PrivateDatabase
  const pipes: StatementPipe[] = []

  beforeAll(async () => {
    server = await privatePostgres({
      hbaLines: [
        'host all scram_user 127.0.0.1/32 scram-sha-256',
        'host all md5_user 127.0.0.1/32 md5',
        'host all clear_user 127.0.0.1/32 password',
      ],
    })
    await server.start()
    const admin = postgres(server.url, { max: 1, onnotice: () => {} })
    try {
      await admin.unsafe("SET password_encryption = 'scram-sha-256'; CREATE ROLE scram_user LOGIN PASSWORD 'scram p@ss'")
      await admin.unsafe("SET password_encryption = 'md5'; CREATE ROLE md5_user LOGIN PASSWORD 'md5 p@ss'")
      await admin.unsafe("CREATE ROLE clear_user LOGIN PASSWORD 'clear p@ss'")
    } finally {
      await admin.end({ timeout: 5 })
    }
  }, SETUP_TIMEOUT_MS)

  afterAll(async () => {
    await Promise.all(pipes.map((pipe) => pipe.close()))
    await server?.remove()
  })

  const userUrl = (user: string, password: string) => `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${server.port}/postgres`
  const currentUser = (user: string, password: string) => {
    const target = targetOf(userUrl(user, password))
    if (target === undefined) throw new Error('the URL should be one the pipe connects to')
    const pipe = new StatementPipe(target)
    pipes.push(pipe)
    return pipe.rows('SELECT current_user', [])
  }

  for (const [user, password] of [
    ['scram_user', 'scram p@ss'],
    ['md5_user', 'md5 p@ss'],
    ['clear_user', 'clear p@ss'],
  ] as const) {
    test(`${user}: the right password connects, a wrong one fails with 28P01`, async () => {
      expect(await currentUser(user, password)).toEqual([[user]])
      expect((await rejection(currentUser(user, `${password}!`))).code).toBe('28P01')
    })
  }
})
