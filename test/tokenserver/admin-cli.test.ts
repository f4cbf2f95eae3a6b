import { afterEach, beforeEach, describe, expect, spyOn, test, type Mock } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, type Command } from '../../src/cli/command.ts'
import { nodesCommand } from '../../src/cli/nodes.ts'
import { usersCommand } from '../../src/cli/users.ts'
import { openStorage, openTokenserverDb } from '../../src/db/open.ts'
import { SYNC_SERVICE, type TokenserverDb } from '../../src/db/tokenserver-types.ts'
import type { StorageUser } from '../../src/db/types.ts'
import { backends, openTestStorage } from '../support/backends.ts'
import { emulatorHost } from '../support/spanner-emulator.ts'
import { EMAIL_DOMAIN, emailOf, newFxaUid } from './harness.ts'

/** `syncserver nodes …` and `syncserver users …` against a SQLite file named in a config file. */
describe('admin commands', () => {
  let databaseUrl: string
  let configFile: string
  let stdout: Mock<typeof console.log>
  let stderr: Mock<typeof console.error>

  beforeEach(() => {
    const dir = mkdtempSync(join(tmpdir(), 'syncserver-admin-'))
    databaseUrl = `sqlite:///${join(dir, 'sync.db')}`
    configFile = join(dir, 'syncserver.toml')
    writeFileSync(
      configFile,
      `[syncstorage]\ndatabase_url = "${databaseUrl}"\n[tokenserver]\nfxa_email_domain = "${EMAIL_DOMAIN}"\ninit_node_capacity = 500\n`,
    )
    stdout = spyOn(console, 'log').mockImplementation(() => {})
    stderr = spyOn(console, 'error').mockImplementation(() => {})
  })
  afterEach(() => {
    stdout.mockRestore()
    stderr.mockRestore()
  })

  const run = (command: Command, ...argv: string[]) => command.run(parseArgs(['--config', configFile, ...argv], command.options))
  const printed = () => stdout.mock.calls.map((call) => call.join(' ')).join('\n')
  const printedJson = () => JSON.parse(String(stdout.mock.calls.at(-1)?.[0]))
  const errors = () => stderr.mock.calls.map((call) => call.join(' ')).join('\n')
  const withDb = async <T>(work: (db: TokenserverDb, service: number) => Promise<T>): Promise<T> => {
    const db = await openTokenserverDb(databaseUrl, { runMigrations: true })
    try {
      return await work(db, (await db.serviceId(SYNC_SERVICE)) as number)
    } finally {
      await db.close()
    }
  }

  describe('nodes', () => {
    test('add inserts a node with capacity and released slots, list shows it', async () => {
      expect(await run(nodesCommand, 'add', 'https://sync.example.com/', '--capacity', '1000')).toBe(0)
      expect(await run(nodesCommand, 'list', '--json')).toBe(0)
      expect(printedJson()).toMatchObject([
        { node: 'https://sync.example.com', capacity: 1000, available: 100, current_load: 0, downed: 0, backoff: 0 },
      ])
      expect(await run(nodesCommand, 'list')).toBe(0)
      expect(printed()).toContain('https://sync.example.com  100        0             1000')
    })

    test('add defaults the capacity to init_node_capacity', async () => {
      await run(nodesCommand, 'add', 'https://sync.example.com', '--json')
      expect(printedJson()).toMatchObject({ capacity: 500, available: 50 })
    })

    test('adding an existing node fails with exit 1', async () => {
      await run(nodesCommand, 'add', 'https://sync.example.com')
      expect(await run(nodesCommand, 'add', 'https://sync.example.com')).toBe(1)
      expect(errors()).toContain('already exists')
    })

    test('update changes only the given columns', async () => {
      await run(nodesCommand, 'add', 'https://sync.example.com', '--capacity', '100', '--available', '10')
      expect(await run(nodesCommand, 'update', 'https://sync.example.com', '--downed', '1', '--current-load', '7')).toBe(0)
      await run(nodesCommand, 'list', '--json')
      expect(printedJson()).toMatchObject([{ capacity: 100, available: 10, current_load: 7, downed: 1, backoff: 0 }])
    })

    test('JSON keys are the table columns', async () => {
      await run(nodesCommand, 'add', 'https://sync.example.com')
      await run(nodesCommand, 'list', '--json')
      const [json] = printedJson() as Record<string, unknown>[]
      await run(nodesCommand, 'list')
      const header = printed().split('\n').at(-2) as string
      expect(Object.keys(json ?? {})).toEqual(header.split(/\s+/))
    })

    test('update --move-to gives a node a new URL in place; its users keep their uid', async () => {
      await run(nodesCommand, 'add', 'http://127.0.0.1:8000')
      const email = emailOf(newFxaUid())
      const user = await withDb((db, service) =>
        db.allocateUser({ service, email, generation: 1n, clientState: '', keysChangedAt: null, createdAt: 1n }, { releaseRate: 0.1 }),
      )
      expect(await run(nodesCommand, 'update', 'http://127.0.0.1:8000', '--move-to', 'http://127.0.0.1:18100')).toBe(0)
      const [users] = await withDb(async (db, service) => [await db.listUsers({ service, email })] as const)
      expect(users).toMatchObject([{ uid: user.uid, node: 'http://127.0.0.1:18100' }])
    })

    test('options an action does not use, and more available slots than capacity, are refused', async () => {
      expect(await run(nodesCommand, 'list', '--capacity', '5')).toBe(2)
      expect(errors()).toContain('nodes list does not take --capacity')
      expect(await run(nodesCommand, 'add', 'https://sync.example.com', '--capacity', '5', '--available', '10')).toBe(2)
      expect(errors()).toContain('--available 10 exceeds the capacity 5')
      await run(nodesCommand, 'add', 'https://sync.example.com', '--capacity', '5', '--available', '1')
      expect(await run(nodesCommand, 'update', 'https://sync.example.com', '--available', '6')).toBe(2)
    })

    test('remove deletes the node and unassigns its users', async () => {
      await run(nodesCommand, 'add', 'https://sync.example.com')
      const email = emailOf(newFxaUid())
      await withDb((db, service) =>
        db.allocateUser({ service, email, generation: 1n, clientState: '', keysChangedAt: null, createdAt: 1n }, { releaseRate: 0.1 }),
      )
      expect(await run(nodesCommand, 'remove', 'https://sync.example.com')).toBe(0)
      const [nodes, users] = await withDb(async (db, service) => [await db.listNodes(service), await db.listUsers({ service, email })] as const)
      expect(nodes).toEqual([])
      expect(users[0]?.replacedAt).not.toBeNull()
      expect(users[0]?.node).toBeNull()
    })

    test('unknown nodes, bad URLs and bad values are refused', async () => {
      expect(await run(nodesCommand, 'remove', 'https://nowhere.example')).toBe(1)
      expect(await run(nodesCommand, 'add', 'ftp://sync.example.com')).toBe(2)
      expect(await run(nodesCommand, 'update', 'https://sync.example.com', '--downed', 'yes')).toBe(2)
      expect(await run(nodesCommand, 'update', 'https://sync.example.com')).toBe(2)
      expect(await run(nodesCommand, 'add', 'https://sync.example.com', '--backoff', '1')).toBe(2)
      expect(await run(nodesCommand, 'explode')).toBe(2)
      expect(errors()).toContain('expected one of list, add, update, remove')
    })

    test('a missing config file fails with exit 1', async () => {
      expect(await nodesCommand.run(parseArgs(['list', '--config', '/nonexistent/syncserver.toml'], nodesCommand.options))).toBe(1)
      expect(errors()).toContain('does not exist')
    })
  })

  describe('users', () => {
    const fxaUid = newFxaUid()
    const email = emailOf(fxaUid)

    const signUp = () =>
      withDb(async (db, service) => {
        await db.insertNode({ service, node: 'https://sync.example.com', available: 10, currentLoad: 0, capacity: 10, downed: false, backoff: false })
        const values = { service, email, clientState: 'aaaa', keysChangedAt: 1234n, createdAt: BigInt(Date.now()) }
        return db.allocateUser({ ...values, generation: 9_223_372_036_854_775_807n }, { releaseRate: 0.1 })
      })

    test('list prints every row, 64-bit values exact in JSON', async () => {
      const user = await signUp()
      expect(await run(usersCommand, 'list', '--json')).toBe(0)
      expect(String(stdout.mock.calls.at(-1)?.[0])).toContain('"generation": 9223372036854775807')
      expect(printedJson()).toMatchObject([{ uid: user.uid, fxa_uid: fxaUid, email, client_state: 'aaaa', node: 'https://sync.example.com' }])
    })

    test('list shows the FxA uid, node, last write and what the user stores', async () => {
      const user = await signUp()
      const storage = await openStorage(databaseUrl, { runMigrations: true })
      const owner = { uid: user.uid, fxaUid, fxaKid: '' }
      await storage.withTransaction({ user: owner, mode: 'write', collection: 'tabs' }, (tx) =>
        tx.putBsos([{ id: 'a', payload: 'xyz' }, { id: 'b', payload: 'hello' }]),
      )
      await storage.close()
      await run(usersCommand, 'list', '--json')
      const [row] = printedJson() as { last_seen: number; records: number; bytes: number }[]
      expect(row).toMatchObject({ fxa_uid: fxaUid, node: 'https://sync.example.com', records: 2, bytes: 8 })
      expect(Math.abs((row?.last_seen ?? 0) - Date.now())).toBeLessThan(60_000)
      await run(usersCommand, 'list')
      const [header, line] = printed().split('\n').slice(-2) as [string, string]
      expect(header).toMatch(/^uid\s+fxa_uid\s+node\s+last_seen\s+records\s+bytes/)
      expect(line).toMatch(new RegExp(`^${user.uid}\\s+${fxaUid}\\s+https://sync.example.com\\s+\\d{4}-\\d\\d-\\d\\dT\\S+\\s+2\\s+8\\s`))
    })

    test('list --email takes an FxA uid or an email', async () => {
      await signUp()
      await run(usersCommand, 'list', '--json', '--email', fxaUid)
      expect(printedJson()).toHaveLength(1)
      await run(usersCommand, 'list', '--json', '--email', 'someone@else.example')
      expect(printedJson()).toEqual([])
    })

    test('delete-data wipes the stored data of the user and marks its rows replaced', async () => {
      const user = await signUp()
      const storage = await openStorage(databaseUrl, { runMigrations: true })
      const owner = { uid: user.uid, fxaUid, fxaKid: '' }
      await storage.withTransaction({ user: owner, mode: 'write', collection: 'tabs' }, (tx) => tx.putBsos([{ id: 'a', payload: 'x' }]))
      expect(await run(usersCommand, 'delete-data', fxaUid)).toBe(0)
      const left = await storage.withTransaction({ user: owner, mode: 'read', collection: 'tabs' }, (tx) => tx.getBsos({ sort: 'none', skip: 0 }))
      await storage.close()
      expect(left).toEqual([])
      const [row] = await withDb((db, service) => db.listUsers({ service, email }))
      expect(row?.replacedAt).not.toBeNull()
      expect(printed()).toContain(`uids ${user.uid}`)
    })

    test('delete-data of an unknown user fails with exit 1', async () => {
      expect(await run(usersCommand, 'delete-data', 'nobody@example.com')).toBe(1)
      expect(errors()).toContain('no user nobody@example.com')
    })

    test('delete-data without an argument is a usage error', async () => {
      expect(await run(usersCommand, 'delete-data')).toBe(2)
    })
  })
})

/**
 * `users list` and `users delete-data` reach each user's storage as its tokens do: by uid on the
 * SQL engines, by the token's fxa_uid and fxa_kid on Spanner (tokenserver rows on SQLite beside it).
 */
describe.each(backends)('users list and delete-data on $name storage', (backend) => {
  let configFile: string
  let storageUrl: string
  let tokenserverUrl: string
  let stdout: Mock<typeof console.log>

  beforeEach(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncserver-admin-'))
    storageUrl = await backend.freshDatabaseUrl()
    tokenserverUrl = backend.tokenserverDatabaseUrl === undefined ? storageUrl : await backend.tokenserverDatabaseUrl()
    const emulator = storageUrl.startsWith('spanner:') ? `spanner_emulator_host = "${await emulatorHost()}"\n` : ''
    configFile = join(dir, 'syncserver.toml')
    writeFileSync(
      configFile,
      `[syncstorage]\ndatabase_url = "${storageUrl}"\n${emulator}[tokenserver]\ndatabase_url = "${tokenserverUrl}"\nfxa_email_domain = "${EMAIL_DOMAIN}"\n`,
    )
    stdout = spyOn(console, 'log').mockImplementation(() => {})
  })
  afterEach(() => stdout.mockRestore())

  const run = (...argv: string[]) => usersCommand.run(parseArgs(['--config', configFile, ...argv], usersCommand.options))

  /** Two signed-up users (keys_changed_at 1234, client state aaaa) and the storage keys their tokens carry. */
  async function signUpTwo(): Promise<[StorageUser, StorageUser]> {
    const db = await openTokenserverDb(tokenserverUrl, { runMigrations: true })
    try {
      const service = (await db.serviceId(SYNC_SERVICE)) as number
      await db.insertNode({ service, node: 'https://sync.example.com', available: 10, currentLoad: 0, capacity: 10, downed: false, backoff: false })
      const signUp = async (): Promise<StorageUser> => {
        const fxaUid = newFxaUid()
        const values = { service, email: emailOf(fxaUid), clientState: 'aaaa', keysChangedAt: 1234n, createdAt: BigInt(Date.now()) }
        const { uid } = await db.allocateUser({ ...values, generation: 5678n }, { releaseRate: 0.1 })
        // tokenserver.md §10: keys_changed_at to 13 digits, '-', the client state in base64url.
        return { uid, fxaUid, fxaKid: '0000000001234-qqo' }
      }
      return [await signUp(), await signUp()]
    } finally {
      await db.close()
    }
  }

  async function store(user: StorageUser, payloads: string[]): Promise<void> {
    const storage = await openTestStorage(storageUrl)
    try {
      await storage.withTransaction({ user, mode: 'write', collection: 'tabs' }, (tx) => tx.putBsos(payloads.map((payload, i) => ({ id: `r${i}`, payload }))))
    } finally {
      await storage.close()
    }
  }

  test("list counts each user's own records and bytes; delete-data wipes them", async () => {
    const [one, two] = await signUpTwo()
    await store(one, ['xyz', 'hello'])
    await store(two, ['a', 'b', 'c'])
    expect(await run('list', '--json')).toBe(0)
    const listed = JSON.parse(String(stdout.mock.calls.at(-1)?.[0])) as { uid: number; records: number; bytes: number }[]
    expect(listed.map(({ uid, records, bytes }) => ({ uid, records, bytes })).sort((a, b) => a.uid - b.uid)).toEqual([
      { uid: one.uid, records: 2, bytes: 8 },
      { uid: two.uid, records: 3, bytes: 3 },
    ])
    expect(await run('delete-data', one.fxaUid)).toBe(0)
    const storage = await openTestStorage(storageUrl)
    try {
      const left = (user: StorageUser) => storage.withTransaction({ user, mode: 'read' }, (tx) => tx.storageUsage())
      expect([await left(one), await left(two)]).toEqual([0, 3])
    } finally {
      await storage.close()
    }
  }, 60_000)
})
