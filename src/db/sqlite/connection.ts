import { Database } from 'bun:sqlite'
import { SyncError } from '../../errors.ts'
import { createParentDirectory } from '../../parent-directory.ts'
import type { EmbeddedMigration } from '../migrations/embed.ts'
import type { MigrationTarget } from '../migrations/apply.ts'

/**
 * One bun:sqlite connection shared by the process. bun:sqlite is synchronous, but transactions
 * span awaits, so `exclusive` queues them: two requests never interleave statements on the
 * connection. Other processes on the same file are kept out by SQLite's own locks
 * (BEGIN IMMEDIATE for writes, busy_timeout for waiting).
 */
export class SqliteConnection {
  private static readonly open = new Map<string, SqliteConnection>()

  /**
   * PRAGMA synchronous of connections opened from now on (`syncstorage.sqlite_synchronous`,
   * set by `serve` before it opens the database). With WAL: NORMAL syncs only at checkpoints,
   * so commits since the last one can vanish on power loss (never on a crash of the process);
   * FULL syncs the WAL at every commit.
   */
  static synchronous: SqliteSynchronous = 'full'

  /** Storage and tokenserver on one file share one connection, so they never lock each other out. */
  static shared(path: string): SqliteConnection {
    const existing = path === ':memory:' ? undefined : SqliteConnection.open.get(path)
    if (existing !== undefined) {
      existing.users++
      return existing
    }
    const connection = new SqliteConnection(path)
    if (path !== ':memory:') SqliteConnection.open.set(path, connection)
    return connection
  }

  readonly client: Database
  private users = 1
  private queue: Promise<unknown> = Promise.resolve()
  private pending = 0

  private constructor(readonly path: string) {
    this.client = openCreatingDirectory(path)
    // A new file's switch to WAL writes its header through a rollback journal: four fsyncs
    // (3–15 ms here, far more on an SD card) that protect no data, as the file holds none. Until
    // the next checkpoint syncs the file, a power cut can leave it unreadable (never a crash of
    // the process); the schema is created after the switch, at the configured durability.
    if (this.isEmpty()) this.client.run('PRAGMA synchronous = OFF')
    this.client.run('PRAGMA journal_mode = WAL')
    this.client.run(`PRAGMA synchronous = ${SqliteConnection.synchronous.toUpperCase()}`)
    this.client.run('PRAGMA busy_timeout = 5000')
    this.client.run('PRAGMA foreign_keys = ON')
  }

  /**
   * Runs `work` with the connection to itself; callers queue in arrival order. A full queue
   * answers 503 at once rather than letting waiting requests pile up without bound.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.pending >= SqliteConnection.QUEUE_LIMIT) {
      return Promise.reject(new SyncError('unavailable', 'too many requests waiting for the database'))
    }
    this.pending++
    // On an idle connection the work starts at once: waiting a turn of the settled queue cost
    // every request promise hops. Nothing else runs then: the last work's `finally` has run.
    const run = (this.pending === 1 ? startNow(work) : this.queue.then(work)).finally(() => this.pending--)
    this.queue = run.catch(() => undefined)
    return run
  }

  static readonly QUEUE_LIMIT = 1000

  private isEmpty(): boolean {
    return (this.client.query('PRAGMA page_count').values()[0]?.[0] ?? 0) === 0
  }

  /** Transactions running or waiting (for lbheartbeat). */
  get inFlight(): number {
    return this.pending
  }

  /** Closes the file once its last user lets go. */
  close(): void {
    if (--this.users > 0) return
    SqliteConnection.open.delete(this.path)
    this.client.close()
  }
}

export type SqliteSynchronous = 'off' | 'normal' | 'full' | 'extra'

/** Opens (creating) the database file, and its directory only when opening failed for want of it. */
function openCreatingDirectory(path: string): Database {
  const open = () => new Database(path, { create: true, strict: true })
  try {
    return open()
  } catch (error) {
    if ((error as { code?: string }).code !== 'SQLITE_CANTOPEN' || !path.includes('/')) throw error
    createParentDirectory(path)
    return open()
  }
}

/** Migration bookkeeping in drizzle's own table, so drizzle-kit sees the same history. */
export function sqliteMigrationTarget(connection: SqliteConnection): MigrationTarget {
  const client = connection.client
  // The bookkeeping table is created in the transaction of the first migration it records, so a
  // new database is set up in one commit (each costs fsyncs) and a refused start writes nothing.
  const recording = (migration: EmbeddedMigration) => {
    client.run(
      'CREATE TABLE IF NOT EXISTS __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL, created_at NUMERIC)',
    )
    client.run('INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)', [migration.hash, migration.when])
  }
  return {
    async appliedHashes() {
      const exists = client.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'").get() !== null
      if (!exists) return new Set()
      const rows = client.query('SELECT hash FROM __drizzle_migrations').all() as { hash: string }[]
      return new Set(rows.map((row) => row.hash))
    },
    async apply(migration: EmbeddedMigration) {
      client.transaction(() => {
        for (const statement of migration.statements) client.run(statement)
        recording(migration)
      })()
    },
    async record(migration: EmbeddedMigration) {
      client.transaction(() => recording(migration))()
    },
    async tableNames() {
      const rows = client.query("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]
      return new Set(rows.map((row) => row.name))
    },
  }
}

/**
 * Another process held the file's write lock longer than busy_timeout: a SyncError of the given
 * kind (503 either way), so the client retries. Anything else passes through unchanged.
 */
export function translateLockError(error: unknown, kind: 'conflict' | 'unavailable'): unknown {
  if (error instanceof SyncError) return error
  const code = (error as { code?: string } | undefined)?.code ?? ''
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new SyncError(kind, 'database is locked', { cause: error })
  }
  return error
}

/** `work()`, with a synchronous throw as a rejection (as `then(work)` would give), so `pending` always goes back down. */
function startNow<T>(work: () => Promise<T>): Promise<T> {
  try {
    return work()
  } catch (error) {
    return Promise.reject(error)
  }
}
