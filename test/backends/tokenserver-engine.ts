/**
 * Engine checks shared by tokenserver-postgres.test.ts and tokenserver-mysql.test.ts: the
 * tables as ops tooling sees them (database.md §5), allocation under concurrency, migrations
 * next to the storage ones, and driver failures. Tooling is played by a plain driver
 * connection running SQL that is valid on both engines.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { SyncError } from '../../src/errors.ts'
import { migrateStorage, migrateTokenserverDb, openStorage, openTokenserverDb } from '../../src/db/open.ts'
import { RETIRED_GENERATION, SYNC_SERVICE, type TokenserverDb, type UserValues } from '../../src/db/tokenserver-types.ts'
import { SETUP_TIMEOUT_MS, type TestBackend } from '../support/backends.ts'
import { accessToken, createHarness, emailOf, newFxaUid, type Harness } from '../tokenserver/harness.ts'

/** A direct connection, as ops tooling and the reference's integration tests use. */
export interface Tooling {
  /** Runs a statement; for a select, its column names and rows as arrays. */
  query(text: string): Promise<{ columns: string[]; rows: unknown[][] }>
  close(): Promise<void>
}

export interface EngineSpec {
  engine: 'postgres' | 'mysql'
  backend: TestBackend | undefined
  connect(url: string): Promise<Tooling>
  /** `information_schema.columns.data_type` of each column, in table order. */
  columnTypes: Record<'services' | 'nodes' | 'users', [string, string][]>
  /** The migration bookkeeping table, schema-qualified where needed. */
  migrationsTable: string
  /** Closes, from the server side, every other connection to the current database. */
  killOtherConnections(tooling: Tooling): Promise<number>
  /** A backend whose pool points at a port where nothing listens. */
  unreachable(): TokenserverDb
}

const NODES_COLUMNS = ['id', 'service', 'node', 'available', 'current_load', 'capacity', 'downed', 'backoff']
const USERS_COLUMNS = ['uid', 'service', 'email', 'generation', 'client_state', 'created_at', 'replaced_at', 'nodeid', 'keys_changed_at']

const text = (row: unknown[] | undefined) => row?.map((value) => (value === null ? null : String(value)))

export function tokenserverEngineSuite(spec: EngineSpec): void {
  const { backend } = spec
  if (backend === undefined) return
  const migrationFile = join(import.meta.dir, '..', '..', 'drizzle', `${spec.engine}-tokenserver`, '0000_init.sql')

  describe(`tokenserver tables on ${spec.engine}`, () => {
    let url: string
    let harness: Harness
    let tooling: Tooling
    beforeAll(async () => {
      url = await backend.freshDatabaseUrl()
      harness = await createHarness({ name: spec.engine, freshDatabaseUrl: async () => url }, { nodes: [] })
      tooling = await spec.connect(url)
    }, SETUP_TIMEOUT_MS)
    afterAll(async () => {
      await harness?.close()
      await tooling?.close()
    }, SETUP_TIMEOUT_MS)

    const rows = async (query: string) => (await tooling.query(query)).rows
    const wipe = async () => {
      await tooling.query('DELETE FROM users')
      await tooling.query('DELETE FROM nodes')
    }

    test('columns have the reference names, order and types; there are no foreign keys', async () => {
      for (const [table, columns] of Object.entries(spec.columnTypes)) {
        const found = await rows(
          `SELECT column_name, data_type FROM information_schema.columns
            WHERE table_schema = ${spec.engine === 'postgres' ? 'current_schema()' : 'DATABASE()'} AND table_name = '${table}'
            ORDER BY ordinal_position`,
        )
        expect(found.map(([name, type]) => [String(name), String(type).toLowerCase()])).toEqual(columns)
      }
      const foreignKeys = await rows(
        `SELECT constraint_name FROM information_schema.table_constraints
          WHERE constraint_type = 'FOREIGN KEY' AND table_name IN ('services', 'nodes', 'users')
            AND table_schema = ${spec.engine === 'postgres' ? 'current_schema()' : 'DATABASE()'}`,
      )
      expect(foreignKeys).toEqual([])
    })

    test('SELECT * unpacks positionally as database.md says; an explicit node id 800 is insertable', async () => {
      await wipe()
      const service = harness.service
      await tooling.query(
        `INSERT INTO nodes (id, service, node, available, current_load, capacity, downed, backoff)
         VALUES (800, ${service}, 'https://ops.example', 100, 0, 100, 0, 0)`,
      )
      const fxaUid = newFxaUid()
      await harness.token({ token: await tokenFor(fxaUid) })
      const nodesResult = await tooling.query('SELECT * FROM nodes')
      expect(nodesResult.columns).toEqual(NODES_COLUMNS)
      expect(nodesResult.rows.map(text)).toEqual([['800', String(service), 'https://ops.example', '99', '1', '100', '0', '0']])
      const usersResult = await tooling.query('SELECT * FROM users')
      expect(usersResult.columns).toEqual(USERS_COLUMNS)
      const [user] = usersResult.rows.map(text)
      expect(user?.slice(1, 5)).toEqual([String(service), emailOf(fxaUid), '1234', 'aaaa'])
      expect(user?.slice(6)).toEqual([null, '800', '1234'])
      const servicesResult = await tooling.query(`SELECT * FROM services WHERE service = '${SYNC_SERVICE}'`)
      expect(servicesResult.columns).toEqual(['id', 'service', 'pattern'])
      expect(servicesResult.rows.map(text)).toEqual([[String(service), SYNC_SERVICE, '{node}/1.5/{uid}']])
    })

    test('rows written by tooling are seen by the very next request, and ours are committed when it answers', async () => {
      await wipe()
      const service = harness.service
      // Nothing to allocate on: 503.
      expect((await harness.request()).status).toBe(503)
      // The oldest node (explicit id 800, inserted first) beats later ones with lower automatic ids.
      await tooling.query(
        `INSERT INTO nodes (id, service, node, available, current_load, capacity, downed, backoff)
         VALUES (800, ${service}, 'https://oldest.example', 100, 0, 100, 0, 0)`,
      )
      await tooling.query(
        `INSERT INTO nodes (service, node, available, current_load, capacity, downed, backoff)
         VALUES (${service}, 'https://few.example', 1, 0, 100, 0, 0), (${service}, 'https://some.example', 5, 0, 100, 0, 0)`,
      )
      const fxaUid = newFxaUid()
      const body = await harness.token({ token: await tokenFor(fxaUid) })
      expect(body.api_endpoint).toBe(`https://oldest.example/1.5/${body.uid}`)
      expect(text((await rows(`SELECT nodeid FROM users WHERE uid = ${body.uid}`))[0])).toEqual(['800'])
      expect(text((await rows('SELECT current_load, available FROM nodes WHERE id = 800'))[0])).toEqual(['1', '99'])
      // Tooling moves the user (replaced_at) and downs the node: the next request allocates elsewhere.
      await tooling.query(`UPDATE users SET replaced_at = 1 WHERE uid = ${body.uid}`)
      await tooling.query('UPDATE nodes SET downed = 1 WHERE id = 800')
      const moved = await harness.token({ token: await tokenFor(fxaUid) })
      expect(moved.uid).not.toBe(body.uid)
      expect(new URL(moved.api_endpoint).origin).toBe('https://some.example')
      // A user row inserted by tooling is used as is.
      const other = newFxaUid()
      await tooling.query(
        `INSERT INTO users (service, email, generation, client_state, created_at, replaced_at, nodeid, keys_changed_at)
         VALUES (${service}, '${emailOf(other)}', 1234, 'aaaa', 1, NULL, 800, NULL)`,
      )
      const existing = await harness.token({ token: await tokenFor(other) })
      expect(existing.api_endpoint).toStartWith('https://oldest.example/1.5/')
    })

    test('64-bit columns round-trip exactly, the retired generation included', async () => {
      await wipe()
      const service = harness.service
      await tooling.query(
        `INSERT INTO nodes (id, service, node, available, current_load, capacity, downed, backoff)
         VALUES (801, ${service}, 'https://big.example', 10, 0, 10, 0, 0)`,
      )
      const email = emailOf(newFxaUid())
      await tooling.query(
        `INSERT INTO users (service, email, generation, client_state, created_at, replaced_at, nodeid, keys_changed_at)
         VALUES (${service}, '${email}', 9223372036854775806, '', 9007199254740993, NULL, 801, 9223372036854775805)`,
      )
      const [read] = await harness.db.getUsers({ service, email })
      expect(read).toMatchObject({ generation: 9223372036854775806n, createdAt: 9007199254740993n, keysChangedAt: 9223372036854775805n })
      await harness.db.raiseGeneration({ service, email, generation: 9223372036854775807n })
      expect((await harness.db.getUsers({ service, email }))[0]?.generation).toBe(RETIRED_GENERATION)
      // Guards compare as 64-bit integers, not doubles: 2^63-2 < 2^63-1 although both round to 2^63.
      await tooling.query(`UPDATE users SET generation = 9223372036854775806 WHERE email = '${email}'`)
      await harness.db.updateUser({ service, email, generation: 9223372036854775806n, keysChangedAt: 9223372036854775806n })
      expect((await harness.db.getUsers({ service, email }))[0]?.keysChangedAt).toBe(9223372036854775806n)
      await harness.db.updateUser({ service, email, generation: 9223372036854775805n, keysChangedAt: null })
      expect((await harness.db.getUsers({ service, email }))[0]?.generation).toBe(9223372036854775806n)
      await harness.db.retireUser({ service, email, replacedAt: 9007199254740995n })
      expect(text((await rows(`SELECT generation, replaced_at FROM users WHERE email = '${email}'`))[0])).toEqual([
        '9223372036854775807',
        '9007199254740995',
      ])
      const allocated = await harness.db.allocateUser(
        { service, email: emailOf(newFxaUid()), generation: RETIRED_GENERATION - 1n, clientState: '', keysChangedAt: 2n ** 62n, createdAt: 2n ** 60n },
        { releaseRate: 0.1 },
      )
      const [again] = await harness.db.getUsers({ service, email: allocated.email })
      expect(again).toMatchObject({ uid: allocated.uid, generation: RETIRED_GENERATION - 1n, keysChangedAt: 2n ** 62n, createdAt: 2n ** 60n })
    })

    test('the migration is re-runnable statement by statement and seeds one service row', async () => {
      const statements = readFileSync(migrationFile, 'utf8')
        .split('--> statement-breakpoint')
        .map((statement) => statement.trim())
        .filter((statement) => statement !== '')
      for (const statement of statements) await tooling.query(statement)
      expect(await rows(`SELECT id FROM services WHERE service = '${SYNC_SERVICE}'`)).toHaveLength(1)
    })

    test('connections closed by the server are replaced without failing a request', async () => {
      await harness.db.listNodes(harness.service)
      expect(await spec.killOtherConnections(tooling)).toBeGreaterThan(0)
      expect(await harness.db.check()).toBe(true)
      expect(await harness.db.serviceId(SYNC_SERVICE)).toBe(harness.service)
    })
  })

  describe(`tokenserver allocation on ${spec.engine} under concurrency`, () => {
    test('new users arriving at once on two processes never overfill a node', async () => {
      const url = await backend.freshDatabaseUrl()
      const first = await openTokenserverDb(url, { runMigrations: true, poolMaxSize: 4 })
      const second = await openTokenserverDb(url, { runMigrations: true, poolMaxSize: 4 })
      const tooling = await spec.connect(url)
      try {
        const service = (await first.serviceId(SYNC_SERVICE)) as number
        // Few released slots, so allocations also race through the capacity release of §12.1.
        await tooling.query(
          `INSERT INTO nodes (service, node, available, current_load, capacity, downed, backoff) VALUES
             (${service}, 'https://a.example', 3, 0, 30, 0, 0),
             (${service}, 'https://b.example', 0, 0, 20, 0, 0),
             (${service}, 'https://downed.example', 100, 0, 100, 1, 0)`,
        )
        const attempts = 80
        const values = (i: number): UserValues => ({
          service,
          email: `user${i}@example.com`,
          generation: 0n,
          clientState: '',
          keysChangedAt: null,
          createdAt: BigInt(Date.now()),
        })
        const outcomes = await Promise.allSettled(
          Array.from({ length: attempts }, (_, i) => (i % 2 === 0 ? first : second).allocateUser(values(i), { releaseRate: 0.1 })),
        )
        const allocated = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []))
        const failures = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []))
        expect(allocated).toHaveLength(50)
        expect(new Set(allocated.map((user) => user.uid)).size).toBe(50)
        for (const failure of failures) expect(failure).toMatchObject({ kind: 'noNodeAvailable' })
        const load = await tooling.query(
          `SELECT n.node, n.current_load, n.available, n.capacity, (SELECT COUNT(*) FROM users u WHERE u.nodeid = n.id)
             FROM nodes n ORDER BY n.node`,
        )
        expect(load.rows.map(text)).toEqual([
          ['https://a.example', '30', '0', '30', '30'],
          ['https://b.example', '20', '0', '20', '20'],
          ['https://downed.example', '0', '100', '100', '0'],
        ])
      } finally {
        await Promise.all([first.close(), second.close(), tooling.close()])
      }
    }, 30_000)
  })

  describe(`tokenserver migrations on ${spec.engine}`, () => {
    test('storage and tokenserver migrations share one database without mistaking each other', async () => {
      const url = await backend.freshDatabaseUrl()
      expect(await migrateTokenserverDb(url)).toEqual({ applied: ['0000_init'] })
      expect(await migrateStorage(url)).toEqual({ applied: ['0000_init'] })
      expect(await migrateTokenserverDb(url)).toEqual({ applied: [] })
      expect(await migrateStorage(url)).toEqual({ applied: [] })
      const tooling = await spec.connect(url)
      try {
        const recorded = await tooling.query(`SELECT hash FROM ${spec.migrationsTable}`)
        expect(new Set(recorded.rows.map(([hash]) => hash)).size).toBe(2)
      } finally {
        await tooling.close()
      }
      // Both sets are complete: opening without permission to migrate is accepted.
      const db = await openTokenserverDb(url, { runMigrations: false })
      const storage = await openStorage(url, { runMigrations: false })
      await Promise.all([db.close(), storage.close()])
    })

    test('an unmigrated database is refused when migrations are off', async () => {
      const url = await backend.freshDatabaseUrl()
      await migrateStorage(url)
      await expect(openTokenserverDb(url, { runMigrations: false })).rejects.toThrow('pending migration')
    })
  })

  describe(`tokenserver on ${spec.engine} without its server`, () => {
    test('an unreachable database answers unavailable', async () => {
      const db = spec.unreachable()
      try {
        const failure = await db.check().then(
          () => undefined,
          (error: unknown) => error,
        )
        expect(failure).toBeInstanceOf(SyncError)
        expect(failure).toMatchObject({ kind: 'unavailable' })
      } finally {
        await db.close()
      }
    })
  })
}

const tokenFor = (fxaUid: string): Promise<string> => accessToken({ sub: fxaUid })
