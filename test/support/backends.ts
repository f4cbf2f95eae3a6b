import { describe, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import type { StorageOptions } from '../../src/db/engine.ts'
import { openStorage } from '../../src/db/open.ts'
import type { StorageBackend } from '../../src/db/types.ts'
import { dropSpannerDatabase, emulatorHost, emulatorUnavailable, freshSpannerDatabaseUrl, warmUp } from './spanner-emulator.ts'

/**
 * The storage engines the HTTP suites run against. Every suite calls `describe.each(backends)`,
 * so one assertion covers every engine. PostgreSQL and MySQL/MariaDB are used when their
 * servers answer on 127.0.0.1 (or at SYNCSERVER_TEST_POSTGRES_URL / SYNCSERVER_TEST_MYSQL_URL,
 * admin URLs); an engine that does not answer is left out of `backends` and reported as a
 * skipped suite with the reason. SYNCSERVER_TEST_BACKENDS=sqlite,postgres narrows the list.
 */
/**
 * Room for a hook that opens a database or starts a server: bun applies bunfig's [test] timeout
 * to tests only, and a hook still times out after 5 s, which a fresh Spanner database on a busy
 * machine can take.
 */
export const SETUP_TIMEOUT_MS = 60_000

export interface TestBackend {
  name: string
  /** A database URL for a fresh, empty database. */
  freshDatabaseUrl(): Promise<string>
  /** A fresh tokenserver database, for an engine that cannot hold one (Spanner); others use freshDatabaseUrl. */
  tokenserverDatabaseUrl?(): Promise<string>
  /** Drops a database of freshDatabaseUrl, for an engine whose long runs move to fresh ones (Spanner). */
  dropDatabase?(url: string): Promise<void>
  /** Why the suites skip this backend here, if they do. */
  skip?: string
}

const POSTGRES_ADMIN_URL = process.env.SYNCSERVER_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const MYSQL_ADMIN_URL = process.env.SYNCSERVER_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'

/** Test databases are named after the process, so later runs can drop those of finished ones. */
const PREFIX = 'syncserver_test_'
let databaseCount = 0
const freshDatabaseName = () => `${PREFIX}${process.pid}_${++databaseCount}_${randomBytes(3).toString('hex')}`

function isLeftover(name: string): boolean {
  const pid = Number(name.slice(PREFIX.length).split('_')[0])
  if (!Number.isInteger(pid) || pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return false
  } catch {
    return true
  }
}

/** `url` with its path replaced by `database`. */
function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

const sqlite: TestBackend = {
  name: 'sqlite',
  async freshDatabaseUrl() {
    return `sqlite:///${join(mkdtempSync(join(tmpdir(), 'syncserver-test-')), 'sync.db')}`
  },
}

const postgresBackend: TestBackend = {
  name: 'postgres',
  async freshDatabaseUrl() {
    const admin = postgres(POSTGRES_ADMIN_URL, { max: 1, onnotice: () => {} })
    try {
      const name = freshDatabaseName()
      await admin.unsafe(`CREATE DATABASE "${name}"`)
      return withDatabase(POSTGRES_ADMIN_URL, name)
    } finally {
      await admin.end()
    }
  },
}

const mysqlBackend: TestBackend = {
  name: 'mysql',
  async freshDatabaseUrl() {
    const admin = await mysql.createConnection({ uri: MYSQL_ADMIN_URL })
    try {
      const name = freshDatabaseName()
      await admin.query(`CREATE DATABASE \`${name}\``)
      return withDatabase(MYSQL_ADMIN_URL, name)
    } finally {
      await admin.end()
    }
  },
}

/** A database on this process's Spanner emulator (spanner-emulator.ts), prepared with schema.ddl. */
const spannerBackend: TestBackend = {
  name: 'spanner',
  freshDatabaseUrl: freshSpannerDatabaseUrl,
  dropDatabase: dropSpannerDatabase,
  // The tokenserver stays on SQL beside Spanner storage, as with syncstorage-rs.
  tokenserverDatabaseUrl: () => sqlite.freshDatabaseUrl(),
}

/** Why an engine's server cannot be used here, or undefined when it answers. */
async function unreachable(probe: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await probe()
    return undefined
  } catch (error) {
    return `server unreachable (${(error as Error).message || String(error)})`
  }
}

/** Reachable? Then also drop the databases earlier, finished test processes left behind. */
async function probePostgres(): Promise<void> {
  const admin = postgres(POSTGRES_ADMIN_URL, { max: 1, connect_timeout: 3, onnotice: () => {} })
  try {
    const rows = await admin<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE ${`${PREFIX}%`}`
    for (const { datname } of rows.filter((row) => isLeftover(row.datname))) {
      await admin.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {})
    }
  } finally {
    await admin.end({ timeout: 1 })
  }
}

async function probeMysql(): Promise<void> {
  const admin = await mysql.createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 3000 })
  try {
    const [rows] = await admin.query<mysql.RowDataPacket[]>('SHOW DATABASES LIKE ?', [`${PREFIX}%`])
    for (const row of rows) {
      const name = Object.values(row)[0] as string
      if (isLeftover(name)) await admin.query(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => {})
    }
  } finally {
    await admin.end()
  }
}

const wanted = process.env.SYNCSERVER_TEST_BACKENDS?.split(',').map((name) => name.trim())

async function availability(backend: TestBackend, probe?: () => Promise<unknown>): Promise<TestBackend> {
  if (wanted !== undefined && !wanted.includes(backend.name)) return { ...backend, skip: 'not in SYNCSERVER_TEST_BACKENDS' }
  const reason = probe === undefined ? undefined : await unreachable(probe)
  return reason === undefined ? backend : { ...backend, skip: reason }
}

/** Every engine, with `skip` set on those not usable here. */
export const allBackends: TestBackend[] = await Promise.all([
  availability(sqlite),
  availability(postgresBackend, probePostgres),
  availability(mysqlBackend, probeMysql),
  // Started here rather than in the first suite's hook, whose time limit a loaded machine exceeds.
  availability(spannerBackend, async () => {
    const reason = emulatorUnavailable()
    if (reason !== undefined) throw new Error(reason)
    await warmUp()
  }),
])

/** The engines the suites run against. */
export const backends: TestBackend[] = allBackends.filter((backend) => backend.skip === undefined)

/** The SQL engines: schemas from Drizzle migrations, and able to hold the tokenserver's tables (all but Spanner). */
export const sqlBackends: TestBackend[] = backends.filter((backend) => backend.name !== 'spanner')

/** Opens storage on a test database as the server would, with the settings its engine needs here. */
export async function openTestStorage(url: string, options: StorageOptions = {}): Promise<StorageBackend> {
  const spanner = url.startsWith('spanner:') ? { emulatorHost: await emulatorHost(), routeToLeader: false } : undefined
  return openStorage(url, { runMigrations: true, spanner, ...options })
}

/** One backend by name, when it is usable here (for engine-specific suites). */
export function backendNamed(name: string): TestBackend | undefined {
  return backends.find((backend) => backend.name === name)
}

// Each skipped engine shows up in the report of every suite file, with its reason.
for (const backend of allBackends) {
  if (backend.skip !== undefined) describe.skip(`${backend.name} backend (${backend.skip})`, () => test('skipped', () => {}))
}
