import mysql from 'mysql2/promise'
import { MySqlDialect } from 'drizzle-orm/mysql-core'
import { SyncError } from '../../errors.ts'
import type { EmbeddedMigration } from '../migrations/embed.ts'
import type { MigrationTarget } from '../migrations/apply.ts'
import { CONNECTION_LOST_CODES, ConnectionGate } from '../pooled.ts'
import { RenderedStatement, StaleConnection, withAnyPooledConnection, withPooledSession, type PoolOptions, type Renderable } from '../pooled-connection.ts'
import type { PoolStatus } from '../types.ts'

export { StaleConnection, type PoolOptions }

const dialect = new MySqlDialect()

/** A statement rendered once by Drizzle for MySQL. */
export class MysqlStatement extends RenderedStatement {
  constructor(query: Renderable) {
    super(dialect, query)
  }
}

/** The OK packet of a data-changing statement. */
export interface Changed {
  affectedRows: number
  insertId: number
}

/**
 * One pooled connection, checked out for one transaction, or (without `checkedOut`) the pool
 * itself, for work that needs no transaction: each statement then runs on whichever connection
 * is free. Statements go over the text protocol with the values escaped by mysql2: one round
 * trip each, whatever their shape (multi-row inserts, IN lists), and no per-connection
 * statement cache to fill.
 */
export class MysqlSession {
  private lost = false

  constructor(
    private readonly connection: Pick<mysql.Pool, 'query'>,
    private readonly checkedOut?: mysql.PoolConnection,
  ) {}

  get usable(): boolean {
    return !this.lost
  }

  /** Closes the connection at the end instead of returning it to the pool. */
  discard(): void {
    this.lost = true
  }

  /** Rows as arrays, in select-list order. */
  async rows(text: string, params: readonly unknown[]): Promise<unknown[][]> {
    const [rows] = await this.send(text, params, true)
    return rows as unknown[][]
  }

  async change(text: string, params: readonly unknown[]): Promise<Changed> {
    const [result] = await this.send(text, params, false)
    const header = result as mysql.ResultSetHeader
    return { affectedRows: header.affectedRows, insertId: Number(header.insertId) }
  }

  run(statement: MysqlStatement, values: Record<string, unknown>): Promise<unknown[][]> {
    return this.rows(statement.text, statement.bind(values))
  }

  exec(statement: MysqlStatement, values: Record<string, unknown>): Promise<Changed> {
    return this.change(statement.text, statement.bind(values))
  }

  private async send(text: string, params: readonly unknown[], rowsAsArray: boolean): Promise<[unknown, unknown]> {
    if (this.lost) throw connectionLost()
    try {
      return (await this.connection.query({ sql: text, rowsAsArray }, params as unknown[])) as [unknown, unknown]
    } catch (error) {
      if (isConnectionLost(error)) this.lost = true
      throw error
    }
  }

  /** Back to the pool, or closed for good when it broke. */
  finish(): void {
    if (this.lost) this.checkedOut?.destroy()
    else this.checkedOut?.release()
  }
}

function connectionLost(): Error {
  return Object.assign(new Error('database connection lost'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true })
}

const LOST_CODES = new Set([
  ...CONNECTION_LOST_CODES,
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CONNECTION_KILLED',
  'ER_SERVER_SHUTDOWN',
  'ER_NORMAL_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'CR_SERVER_GONE_ERROR',
  'CR_SERVER_LOST',
])

export function isConnectionLost(error: unknown): boolean {
  const { code, fatal } = (error ?? {}) as { code?: unknown; fatal?: unknown }
  return fatal === true || (typeof code === 'string' && LOST_CODES.has(code))
}

/** Driver errors in protocol terms: lost connections are `unavailable`, lock trouble a `conflict`. */
export function translateMysqlError(error: unknown): unknown {
  if (error instanceof SyncError) return error
  const code = (error as { code?: unknown } | undefined)?.code
  if (isConnectionLost(error)) return new SyncError('unavailable', 'database unavailable', { cause: error })
  if (code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT') {
    return new SyncError('conflict', 'database lock conflict', { cause: error })
  }
  return error
}

interface PoolInternals {
  _allConnections?: { length: number }
  _freeConnections?: { length: number }
}

/** mysql2's pool behind an admission gate: checkout waits at most the configured timeout. */
export class MysqlPool {
  private readonly pool: mysql.Pool
  private readonly gate: ConnectionGate
  private readonly timeoutMs: number

  constructor(url: string, options: PoolOptions) {
    this.timeoutMs = options.connectionTimeoutSeconds * 1000
    this.gate = new ConnectionGate(options.poolMaxSize, this.timeoutMs)
    this.pool = mysql.createPool({
      uri: url,
      connectionLimit: options.poolMaxSize,
      maxIdle: options.poolMaxSize,
      waitForConnections: true,
      connectTimeout: options.connectionTimeoutSeconds * 1000,
      enableKeepAlive: true,
      charset: 'utf8mb4',
      supportBigNumbers: true,
      decimalNumbers: true,
      // Otherwise every statement captures the caller's stack in case it fails (6 % of the
      // server's profile samples for info/collections). Errors keep the driver's own stack.
      trace: false,
    })
  }

  /** Runs `work` on a connection of its own (see `withPooledSession`). */
  withSession<T>(work: (session: MysqlSession, mayRetry: boolean) => Promise<T>): Promise<T> {
    return withPooledSession(
      {
        gate: this.gate,
        checkout: async () => {
          try {
            return await this.pool.getConnection()
          } catch (error) {
            throw translateMysqlError(error)
          }
        },
        open: (connection) => new MysqlSession(connection, connection),
        finish: (session) => session.finish(),
        translate: translateMysqlError,
      },
      work,
    )
  }

  /**
   * Runs `work`, which needs no transaction, on any free connection (see `withAnyPooledConnection`):
   * mysql2 checks one out and back per statement, and drops one that broke.
   */
  withAnyConnection<T>(work: (session: MysqlSession, mayRetry: boolean) => Promise<T>): Promise<T> {
    return withAnyPooledConnection({ gate: this.gate, timeoutMs: this.timeoutMs, open: () => new MysqlSession(this.pool), translate: translateMysqlError }, work)
  }

  /**
   * One statement outside any transaction on whichever connection is free, on behalf of callers
   * already admitted by the gate (TimestampReads): taking a slot of its own could wait forever
   * for theirs.
   */
  rows(text: string, params: readonly unknown[]): Promise<unknown[][]> {
    return new MysqlSession(this.pool).rows(text, params)
  }

  /** Connections in transactions, and open ones waiting for work. */
  status(): PoolStatus {
    const internals = (this.pool as unknown as { pool?: PoolInternals }).pool
    const active = this.gate.inUse
    const open = internals?._allConnections?.length ?? active
    const free = internals?._freeConnections?.length ?? Math.max(0, open - active)
    return { active, idle: Math.min(free, Math.max(0, open - active)), max: this.gate.max }
  }

  async close(): Promise<void> {
    await this.gate.drained(5000)
    await this.pool.end()
  }
}

/**
 * Migration bookkeeping where drizzle's own MySQL migrator keeps it, `__drizzle_migrations` in
 * the same database, so drizzle-kit sees the same history (declared with an explicit BIGINT
 * AUTO_INCREMENT instead of drizzle's SERIAL). MySQL DDL is not transactional: each migration
 * is written to be re-runnable (IF NOT EXISTS, INSERT IGNORE) and is recorded only after all
 * its statements succeeded. A named lock keeps two starting servers from interleaving.
 */
export function mysqlMigrationTarget(connection: mysql.Connection): MigrationTarget {
  const LOCK = 'syncserver.storage.migrations'
  return {
    async appliedHashes() {
      await connection.query(
        'CREATE TABLE IF NOT EXISTS `__drizzle_migrations` (`id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, `hash` TEXT NOT NULL, `created_at` BIGINT)',
      )
      const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT `hash` FROM `__drizzle_migrations`')
      return new Set(rows.map((row) => row.hash as string))
    },
    async apply(migration: EmbeddedMigration) {
      const [[lock]] = await connection.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, 60) AS acquired', [LOCK])
      if (lock?.acquired !== 1) throw new Error('timed out waiting for another process to finish migrating')
      try {
        const [done] = await connection.query<mysql.RowDataPacket[]>('SELECT 1 FROM `__drizzle_migrations` WHERE `hash` = ?', [
          migration.hash,
        ])
        if (done.length > 0) return
        for (const statement of migration.statements) await connection.query(statement)
        await connection.query('INSERT INTO `__drizzle_migrations` (`hash`, `created_at`) VALUES (?, ?)', [
          migration.hash,
          migration.when,
        ])
      } finally {
        await connection.query('SELECT RELEASE_LOCK(?)', [LOCK])
      }
    },
    async record(migration: EmbeddedMigration) {
      await connection.query('INSERT INTO `__drizzle_migrations` (`hash`, `created_at`) VALUES (?, ?)', [migration.hash, migration.when])
    },
    async tableNames() {
      const [rows] = await connection.query<mysql.RowDataPacket[]>(
        'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()',
      )
      return new Set(rows.map((row) => row.name as string))
    },
  }
}
