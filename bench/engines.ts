import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import { openMysqlCeiling } from './ceiling-mysql.ts'
import { openPostgresCeiling } from './ceiling-postgres.ts'
import { openSqliteCeiling } from './ceiling-sqlite.ts'
import type { DbCeiling } from './ceiling-types.ts'

export type EngineName = 'sqlite' | 'postgres' | 'mysql'

/** A database made for one purpose (a server start, a ceiling), removed by `drop`. */
export interface FreshDatabase {
  url: string
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
}

let sequence = 0
const scratchName = () => `syncbench_${process.pid}_${Date.now().toString(36)}_${sequence++}`

/** SQLite: a fresh file in a temporary directory per database, removed with it. */
function sqliteEngine(): BenchEngine {
  const fresh = (): FreshDatabase & { path: string } => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbench-'))
    const path = join(dir, 'sync.db')
    return { url: `sqlite:///${path}`, path, drop: async () => rmSync(dir, { recursive: true, force: true }) }
  }
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
  const admin = () => postgres(POSTGRES_ADMIN_URL, { max: 1, connect_timeout: 3, onnotice: () => {} })
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
}
