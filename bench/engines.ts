import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import { connectPostgres } from '../src/db/postgres/client.ts'
import { openMysqlCeiling } from './ceiling-mysql.ts'
import { openPostgresCeiling } from './ceiling-postgres.ts'
import { openSpannerCeiling } from './ceiling-spanner.ts'
import { openSqliteCeiling } from './ceiling-sqlite.ts'
import type { DbCeiling } from './ceiling-types.ts'
import { emulatorHost, emulatorUnavailable, freshSpannerDatabaseUrl } from '../test/support/spanner-emulator.ts'

export type EngineName = 'sqlite' | 'postgres' | 'mysql' | 'spanner'

/** A database made for one purpose (a server start, a ceiling), removed by `drop`. */
export interface FreshDatabase {
  url: string
  /** SYNC_* settings a server needs besides the URL to use this database. */
  env?: Record<string, string>
  /** The database server's processes serving this database now (PostgreSQL's backends), when they are separate processes on this machine. */
  backendPids?(): Promise<number[]>
  drop(): Promise<void>
}

/** A storage engine the benchmark can create throw-away databases on. */
export interface BenchEngine {
  name: EngineName
  label: string
  /** Why this engine cannot be measured here (its server is unreachable), or undefined. */
  unreachable(): Promise<string | undefined>
  freshDatabase(): Promise<FreshDatabase>
  openCeiling(concurrency: number): Promise<{ ceiling: DbCeiling; database: FreshDatabase }>
  /** Printed with the engine's figures when they need a caveat (e.g. an emulator's). */
  caveat?: string
  /** Why `workers = 2` is not measured on this engine, if it is not. */
  singleWriter?: string
  /** Clients of the storage scenarios and their ceilings, when fewer than the profile's. */
  scenarioConcurrency?: number
}

let sequence = 0
const scratchName = () => `syncbench_${process.pid}_${Date.now().toString(36)}_${sequence++}`

/** A fresh SQLite file in a temporary directory, removed with it. */
const freshSqlite = (): FreshDatabase & { path: string } => {
  const dir = mkdtempSync(join(tmpdir(), 'syncbench-'))
  const path = join(dir, 'sync.db')
  return { url: `sqlite:///${path}`, path, drop: async () => rmSync(dir, { recursive: true, force: true }) }
}

/** SQLite: a fresh file per database. */
function sqliteEngine(): BenchEngine {
  const fresh = freshSqlite
  return {
    name: 'sqlite',
    label: 'SQLite',
    unreachable: async () => undefined,
    freshDatabase: async () => fresh(),
    async openCeiling() {
      const database = fresh()
      return { ceiling: openSqliteCeiling(database.path), database }
    },
  }
}

// The CI services and the dev container expose these; BENCH_*_URL points elsewhere.
const POSTGRES_ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const MYSQL_ADMIN_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/'

/** PostgreSQL: `CREATE DATABASE` per use on the admin connection, `DROP … WITH (FORCE)` after. */
function postgresEngine(): BenchEngine {
  const admin = () => connectPostgres(POSTGRES_ADMIN_URL, { max: 1, connect_timeout: 3, onnotice: () => {} })
  const fresh = async (): Promise<FreshDatabase> => {
    const name = scratchName()
    const sql = admin()
    try {
      await sql.unsafe(`CREATE DATABASE ${name}`)
    } finally {
      await sql.end({ timeout: 5 })
    }
    const url = new URL(POSTGRES_ADMIN_URL)
    url.pathname = `/${name}`
    return {
      url: url.toString(),
      async backendPids() {
        const sql = admin()
        try {
          return (await sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = ${name}`).map((row) => row.pid)
        } finally {
          await sql.end({ timeout: 5 })
        }
      },
      async drop() {
        const sql = admin()
        try {
          await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        } finally {
          await sql.end({ timeout: 5 })
        }
      },
    }
  }
  return {
    name: 'postgres',
    label: 'PostgreSQL',
    unreachable: () => probe(async () => {
      const sql = admin()
      try {
        await sql`SELECT 1`
      } finally {
        await sql.end({ timeout: 5 })
      }
    }, POSTGRES_ADMIN_URL),
    freshDatabase: fresh,
    async openCeiling(concurrency) {
      const database = await fresh()
      return { ceiling: await openPostgresCeiling(database.url, concurrency), database }
    },
  }
}

/** MariaDB/MySQL: `CREATE DATABASE` per use, `DROP DATABASE` after. */
function mysqlEngine(): BenchEngine {
  const admin = () => mysql.createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 3000 })
  const fresh = async (): Promise<FreshDatabase> => {
    const name = scratchName()
    const conn = await admin()
    try {
      await conn.query(`CREATE DATABASE ${name}`)
    } finally {
      await conn.end()
    }
    const url = new URL(MYSQL_ADMIN_URL)
    url.pathname = `/${name}`
    return {
      url: url.toString(),
      async drop() {
        const conn = await admin()
        try {
          await conn.query(`DROP DATABASE IF EXISTS ${name}`)
        } finally {
          await conn.end()
        }
      },
    }
  }
  return {
    name: 'mysql',
    label: 'MariaDB',
    unreachable: () => probe(async () => {
      const conn = await admin()
      await conn.end()
    }, MYSQL_ADMIN_URL),
    freshDatabase: fresh,
    async openCeiling(concurrency) {
      const database = await fresh()
      return { ceiling: await openMysqlCeiling(database.url, concurrency), database }
    },
  }
}

/**
 * Spanner on a Cloud Spanner emulator this process starts on free ports (the tests' one,
 * test/support/spanner-emulator.ts, stopped at exit), a database prepared with schema.ddl per
 * use. The emulator keeps everything in memory and dies with the benchmark, so `drop` only
 * removes the SQLite tokenserver database that stays beside Spanner storage (as in
 * syncstorage-rs). Its figures are the emulator's, not production Spanner's.
 */
function spannerEngine(): BenchEngine {
  const fresh = async (): Promise<FreshDatabase> => {
    const [url, host] = [await freshSpannerDatabaseUrl(), await emulatorHost()]
    const tokenserver = freshSqlite()
    return {
      url,
      env: { SYNC_SYNCSTORAGE__SPANNER_EMULATOR_HOST: host, SYNC_TOKENSERVER__DATABASE_URL: tokenserver.url },
      drop: tokenserver.drop,
    }
  }
  return {
    name: 'spanner',
    label: 'Spanner emulator',
    caveat:
      'These are figures of the Cloud Spanner emulator (in memory, on this machine), not of production Spanner: ' +
      'no network round trips to Google, no replication, and one read-write transaction at a time for the whole emulator, ' +
      'so the server (and its ceiling) queue writes one behind the other while reads run concurrently; the storage scenarios ' +
      'therefore run with 2 concurrent clients here, not 8. They compare the server ' +
      'with its raw-driver ceiling on the same emulator; they say nothing of Spanner latency or write concurrency in production.',
    // Writes queue one behind the other: more clients would only lengthen the queue (and each
    // latency) without adding throughput; two still overlap a read with a write.
    scenarioConcurrency: 2,
    singleWriter: 'not measured: the emulator runs one read-write transaction at a time, so a second process only adds aborted (503) writes',
    unreachable: async () => emulatorUnavailable(),
    freshDatabase: fresh,
    async openCeiling() {
      const database = await fresh()
      return { ceiling: await openSpannerCeiling(database.url, await emulatorHost()), database }
    },
  }
}

async function probe(connect: () => Promise<void>, url: string): Promise<string | undefined> {
  try {
    await connect()
    return undefined
  } catch (error) {
    return `not reachable at ${redactUrl(url)}: ${error instanceof Error ? error.message : String(error)}`
  }
}

const redactUrl = (url: string) => url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@')

export const engines: Record<EngineName, () => BenchEngine> = {
  sqlite: sqliteEngine,
  postgres: postgresEngine,
  mysql: mysqlEngine,
  spanner: spannerEngine,
}
