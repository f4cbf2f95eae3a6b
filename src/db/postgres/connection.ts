import postgres from 'postgres'
import { connectPostgres } from './client.ts'
import { pipeTargetOf, StatementPipe, type DriverOptions } from './statement-pipe.ts'
import { PgDialect } from 'drizzle-orm/pg-core'
import { SyncError } from '../../errors.ts'
import type { EmbeddedMigration } from '../migrations/embed.ts'
import type { MigrationTarget } from '../migrations/apply.ts'
import { CONNECTION_LOST_CODES, ConnectionGate } from '../pooled.ts'
import { RenderedStatement, RETRY, StaleConnection, withAnyPooledConnection, withPooledSession, type PoolOptions, type Renderable } from '../pooled-connection.ts'
import type { PoolStatus } from '../types.ts'

export { StaleConnection, type PoolOptions }

const dialect = new PgDialect()

/** How long a connection request may wait before a second one is sent after it (see `reserve`). */
const HEDGE_MS = 500

/** A statement rendered once by Drizzle for PostgreSQL. */
export class PgStatement extends RenderedStatement {
  constructor(query: Renderable) {
    super(dialect, query)
  }
}

/** What postgres.js keeps about the socket behind a reserved connection. */
interface DriverConnection {
  id: number
  reserved: unknown
}

/** Where a transaction's statements go: a reserved connection, or any free one of the pool. */
export interface PgStatements {
  /** False once the connection died under us. */
  readonly usable: boolean
  /** Rows as arrays, in select-list order. */
  run(statement: PgStatement, values: Record<string, unknown>): Promise<unknown[][]>
  raw(text: string, params: unknown[], prepare: boolean): Promise<unknown[][]>
}

/**
 * Statements of work that needs no transaction: each runs on whichever pooled connection is
 * free, with no reservation to make and give back. postgres.js itself rejects the statements
 * of a connection that closes (only those queued behind a reservation are forgotten), so
 * there is nothing to watch.
 */
class PgPoolStatements implements PgStatements {
  readonly usable = true
  private readonly prepared: postgres.UnsafeQueryOptions
  private readonly unprepared: postgres.UnsafeQueryOptions

  constructor(
    private readonly client: postgres.Sql,
    onConnection: (connection: DriverConnection) => void,
  ) {
    // Learns the connections opened for these statements too (lbheartbeat's idle count).
    const onexecute = (connection: DriverConnection) => {
      onConnection(connection)
      return true
    }
    this.prepared = { prepare: true, onexecute } as postgres.UnsafeQueryOptions
    this.unprepared = { prepare: false, onexecute } as postgres.UnsafeQueryOptions
  }

  run(statement: PgStatement, values: Record<string, unknown>): Promise<unknown[][]> {
    return this.raw(statement.text, statement.bind(values), true)
  }

  raw(text: string, params: unknown[], prepare: boolean): Promise<unknown[][]> {
    const query = this.client.unsafe(text, params as postgres.ParameterOrJSON<never>[], prepare ? this.prepared : this.unprepared)
    return query.values() as unknown as Promise<unknown[][]>
  }
}

/**
 * One pooled connection, checked out for one transaction. Every statement runs as a named
 * prepared statement (postgres.js caches them per connection); statements issued without
 * awaiting the previous one are pipelined on the socket.
 *
 * postgres.js must never be handed a statement for a reserved connection whose socket has
 * closed (it would write to a null socket outside any promise), so each statement first
 * checks that the connection is still the one we reserved.
 */
export class PgSession implements PgStatements {
  private driverConnection: DriverConnection | undefined
  private lost = false
  /** Rejects the statements still waiting when the connection closes (see `connectionClosed`). */
  private readonly waiting = new Set<(error: Error) => void>()

  constructor(
    private readonly reserved: postgres.ReservedSql,
    private readonly onConnection: (connection: DriverConnection) => void,
  ) {}

  /** False once the connection died under us; it must then not go back to the pool. */
  get usable(): boolean {
    return !this.lost && (this.driverConnection === undefined || this.driverConnection.reserved !== null)
  }

  /** Rows as arrays, in select-list order. */
  run(statement: PgStatement, values: Record<string, unknown>): Promise<unknown[][]> {
    return this.raw(statement.text, statement.bind(values), true)
  }

  raw(text: string, params: unknown[], prepare: boolean): Promise<unknown[][]> {
    if (!this.usable) return Promise.reject(connectionLost())
    const options = {
      prepare,
      // Learn which driver connection we hold, to notice when it closes.
      onexecute: (connection: DriverConnection) => {
        if (this.driverConnection === undefined) {
          this.driverConnection = connection
          this.onConnection(connection)
        }
        return true
      },
    }
    const pending = this.reserved.unsafe(text, params as postgres.ParameterOrJSON<never>[], options as postgres.UnsafeQueryOptions)
    let abandon: (error: Error) => void = () => {}
    const closed = new Promise<never>((_, reject) => (abandon = reject))
    this.waiting.add(abandon)
    return Promise.race([pending.values(), closed]).then(
      (rows) => {
        this.waiting.delete(abandon)
        return rows as unknown as unknown[][]
      },
      (error: unknown) => {
        this.waiting.delete(abandon)
        if (isConnectionLost(error)) this.lost = true
        throw error
      },
    )
  }

  /** The connection with this driver id closed. */
  holds(id: number): boolean {
    return this.driverConnection?.id === id
  }

  /**
   * postgres.js keeps statements pipelined behind a busy reserved connection in a queue of the
   * reservation, which nobody rejects when the socket resets: they would never settle, and the
   * request would hang. They fail as a lost connection instead.
   */
  connectionClosed(): void {
    this.lost = true
    for (const abandon of this.waiting) abandon(connectionLost())
    this.waiting.clear()
  }

  release(): void {
    if (!this.lost) {
      if (this.usable) this.reserved.release()
      return
    }
    // Given up by its error, but the socket may outlive the error (or the driver may not have
    // seen it close yet). If it is still ours in a moment, it is alive: roll back whatever it
    // was doing and hand it back, so the pool does not shrink.
    const connection = this.driverConnection
    const reservation = connection?.reserved
    if (connection === undefined || reservation === null) return
    setTimeout(() => {
      if (connection.reserved !== reservation) return
      this.reserved.unsafe('ROLLBACK').then(
        () => this.reserved.release(),
        () => {},
      )
    }, 1000)
  }
}

function connectionLost(): Error {
  return Object.assign(new Error('database connection lost'), { code: 'CONNECTION_CLOSED' })
}

function isConnectionLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code
  if (typeof code !== 'string') return false
  return (
    code.startsWith('CONNECTION_') ||
    code === 'CONNECT_TIMEOUT' ||
    CONNECTION_LOST_CODES.has(code) ||
    code.startsWith('08') || // connection exception
    code === '57P01' || // admin_shutdown (pg_terminate_backend)
    code === '57P02' || // crash_shutdown
    code === '57P03' // cannot_connect_now (starting up)
  )
}

function diedWhileIdle(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code
  return code === 'CONNECTION_CLOSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === '57P01'
}

/** Driver errors in protocol terms: lost connections are `unavailable`, lock trouble a `conflict`. */
export function translatePgError(error: unknown): unknown {
  if (error instanceof SyncError) return error
  const code = (error as { code?: unknown } | undefined)?.code
  if (isConnectionLost(error) || code === '53300' /* too_many_connections */) {
    return new SyncError('unavailable', 'database unavailable', { cause: error })
  }
  if (code === '40001' || code === '40P01' || code === '55P03') {
    // serialization_failure, deadlock_detected, lock_not_available
    return new SyncError('conflict', 'database lock conflict', { cause: error })
  }
  return error
}

/** postgres.js behind an admission gate: checkout waits at most the configured timeout. */
export class PostgresPool {
  readonly client: postgres.Sql
  private readonly gate: ConnectionGate
  /** Ids of the driver connections known to be open (for lbheartbeat's idle count). */
  private readonly openConnections = new Set<number>()
  /** Sessions checked out now. */
  private readonly sessions = new Set<PgSession>()

  private readonly timeoutMs: number
  private readonly anyConnection: PgPoolStatements
  /**
   * The shared info/* statements' own connection (see `rows`): absent from a pool that keeps none
   * apart (the tokenserver's, or a pool of one connection), whose statements go to any connection.
   */
  private readonly infoClient: postgres.Sql | undefined
  private readonly infoStatements: PgPoolStatements
  /** The info connection over the wire protocol directly, where the URL allows it (statement-pipe.ts). */
  private readonly infoPipe: StatementPipe | undefined

  /** `infoConnection`: keep one of the connections for the shared info/* statements (see `rows`). */
  constructor(url: string, options: PoolOptions, { infoConnection = false } = {}) {
    this.timeoutMs = options.connectionTimeoutSeconds * 1000
    const ownInfoConnection = infoConnection && options.poolMaxSize > 1
    const transactionsMax = ownInfoConnection ? options.poolMaxSize - 1 : options.poolMaxSize
    this.gate = new ConnectionGate(transactionsMax, this.timeoutMs)
    const common = {
      connect_timeout: options.connectionTimeoutSeconds,
      // postgres.js delays reconnecting by a backoff that grows with every connection that
      // closed with an error (all of them, after a server restart) and only resets on success:
      // keep it short, so the pool comes back right after the server does. Each checkout makes
      // at most one attempt, so a server that is down is not hammered either.
      backoff: () => 0.05,
      onnotice: () => {},
      connection: { application_name: 'syncserver' },
    }
    this.client = connectPostgres(url, { ...common, max: transactionsMax, onclose: (id: number) => this.connectionClosed(id) })
    this.anyConnection = new PgPoolStatements(this.client, (connection) => this.openConnections.add(connection.id))
    const pipeTarget = ownInfoConnection ? pipeTargetOf(this.client.options as unknown as DriverOptions) : undefined
    this.infoClient = ownInfoConnection && pipeTarget === undefined ? connectPostgres(url, { ...common, max: 1 }) : undefined
    this.infoStatements = this.infoClient === undefined ? this.anyConnection : new PgPoolStatements(this.infoClient, () => {})
    this.infoPipe = pipeTarget === undefined ? undefined : new StatementPipe(pipeTarget)
  }

  /** Runs `work`, which needs no transaction, on any free connection (see `withAnyPooledConnection`). */
  withAnyConnection<T>(work: (statements: PgStatements, mayRetry: boolean) => Promise<T>): Promise<T> {
    return withAnyPooledConnection({ gate: this.gate, timeoutMs: this.timeoutMs, open: () => this.anyConnection, translate: translatePgError }, work)
  }

  /**
   * One shared info/* statement (TimestampReads), outside any transaction and outside the gate:
   * its callers were admitted already, and a slot of its own could wait forever for theirs.
   * They all go to one connection of their own, one of the pool's `poolMaxSize`, queued behind
   * each other on its socket: one database process, kept busy, answers them, where spread over
   * the idle connections in turn each woke a process of its own. Measured on two cores, 8
   * clients: server CPU per info/collections -19 %, database CPU per request -38 %, req/s +43 %.
   */
  rows(statement: PgStatement, values: Record<string, unknown>): Promise<unknown[][]> {
    return this.infoPipe?.rows(statement.text, statement.bind(values)) ?? this.infoStatements.run(statement, values)
  }

  /** Runs `work` on a connection of its own (see `withPooledSession`). */
  withSession<T>(work: (session: PgSession, mayRetry: boolean) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.timeoutMs
    return withPooledSession(
      {
        gate: this.gate,
        checkout: async (mayRetry) => {
          try {
            return await this.reserve(deadline)
          } catch (error) {
            // A connection that died while idle can surface here too (but a refused or
            // timed-out connect means the server is down: no point in asking again).
            if (mayRetry && diedWhileIdle(error) && Date.now() < deadline) return RETRY
            throw translatePgError(error)
          }
        },
        open: (reserved) => {
          const session = new PgSession(reserved, (connection) => this.openConnections.add(connection.id))
          this.sessions.add(session)
          return session
        },
        finish: (session) => {
          this.sessions.delete(session)
          session.release()
        },
        translate: translatePgError,
      },
      work,
    )
  }

  /**
   * A connection, within the checkout deadline (postgres.js may delay reconnecting, after
   * failures, with no limit of its own); one that arrives too late goes straight back.
   *
   * postgres.js 3.4 can drop a waiting `reserve()`: when a connection closes while reserve
   * requests wait for one, it reconnects that connection for the oldest request and, once
   * connected, forgets to hand it over, so that promise never settles. So: when a connection
   * closes, the oldest outstanding attempt of this pool is presumed dropped and replaced at
   * once; and any attempt still waiting after HEDGE_MS gets a sibling. Whichever attempt
   * delivers first wins; later deliveries go straight back to the pool.
   */
  private reserve(deadline: number): Promise<postgres.ReservedSql> {
    return new Promise((resolve, reject) => {
      let settled = false
      let outstanding = 0
      const timer = setTimeout(() => {
        settled = true
        reject(new SyncError('unavailable', 'no database connection could be opened in time'))
      }, Math.max(0, deadline - Date.now()))
      const launch = () => {
        if (settled) return
        outstanding++
        const attempt = { replace: launch }
        this.reserveAttempts.push(attempt)
        const hedge = setTimeout(launch, HEDGE_MS)
        const done = () => {
          outstanding--
          clearTimeout(hedge)
          const index = this.reserveAttempts.indexOf(attempt)
          if (index >= 0) this.reserveAttempts.splice(index, 1)
        }
        this.client.reserve().then(
          (reserved) => {
            done()
            if (settled) return reserved.release()
            settled = true
            clearTimeout(timer)
            resolve(reserved)
          },
          (error: unknown) => {
            done()
            if (settled || outstanding > 0) return
            settled = true
            clearTimeout(timer)
            reject(error)
          },
        )
      }
      launch()
    })
  }

  /** Reserve attempts waiting in the driver's queue, oldest first. */
  private readonly reserveAttempts: { replace(): void }[] = []

  private connectionClosed(id: number): void {
    this.openConnections.delete(id)
    for (const session of this.sessions) if (session.holds(id)) session.connectionClosed()
    const dropped = this.reserveAttempts.shift()
    // Not from inside the driver's close handler: a reserve() made there takes the closed
    // connection, and the handler then hands the same connection to its next waiting query,
    // so it gets connected twice over one socket, whose second failure is an 'error' event
    // nobody listens to any more, which kills the process (ECONNREFUSED … emitErrorCloseNT).
    if (dropped !== undefined) setTimeout(dropped.replace, 0)
  }

  /** Connections in transactions, and open ones waiting for work. */
  status(): PoolStatus {
    const active = this.gate.inUse
    return { active, idle: Math.max(0, this.openConnections.size - active), max: this.gate.max }
  }

  /**
   * After the last transaction: postgres.js waits for connections it still believes busy,
   * which after a connection error can be forever, so stragglers are cut off quickly.
   */
  async close(): Promise<void> {
    await this.gate.drained(5000)
    await Promise.all([this.client.end({ timeout: 0.1 }), this.infoClient?.end({ timeout: 0.1 }), this.infoPipe?.close()])
  }
}

export { isConnectionLost }

/**
 * Migration bookkeeping where drizzle's own PostgreSQL migrator keeps it, `drizzle`.`__drizzle_migrations`,
 * so drizzle-kit sees the same history. An advisory lock keeps two starting servers from
 * applying the same migration twice; each migration runs in one transaction.
 */
export function postgresMigrationTarget(client: postgres.Sql): MigrationTarget {
  const LOCK = 4_216_051_966 // arbitrary, constant: "syncserver storage migrations"
  return {
    async appliedHashes() {
      const rows = await client.begin(async (tx) => {
        // Two servers starting at once would otherwise race to create the schema.
        await tx.unsafe('SELECT pg_advisory_xact_lock($1)', [LOCK])
        await tx.unsafe('CREATE SCHEMA IF NOT EXISTS "drizzle"')
        await tx.unsafe(
          'CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)',
        )
        return tx.unsafe<{ hash: string }[]>('SELECT hash FROM "drizzle"."__drizzle_migrations"')
      })
      return new Set(rows.map((row) => row.hash))
    },
    async apply(migration: EmbeddedMigration) {
      await client.begin(async (tx) => {
        await tx.unsafe('SELECT pg_advisory_xact_lock($1)', [LOCK])
        const done = await tx.unsafe('SELECT 1 FROM "drizzle"."__drizzle_migrations" WHERE hash = $1', [migration.hash])
        if (done.length > 0) return
        for (const statement of migration.statements) await tx.unsafe(statement)
        await tx.unsafe('INSERT INTO "drizzle"."__drizzle_migrations" (hash, created_at) VALUES ($1, $2)', [
          migration.hash,
          migration.when,
        ])
      })
    },
    async record(migration: EmbeddedMigration) {
      await client.unsafe('INSERT INTO "drizzle"."__drizzle_migrations" (hash, created_at) VALUES ($1, $2)', [
        migration.hash,
        migration.when,
      ])
    },
    async tableNames() {
      const rows = await client.unsafe<{ name: string }[]>(
        'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()',
      )
      return new Set(rows.map((row) => row.name))
    },
  }
}
