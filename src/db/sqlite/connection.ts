import { Database } from 'bun:sqlite'
import { closeSync, fchmodSync, fchownSync, fstatSync, ftruncateSync, openSync, realpathSync, statSync } from 'node:fs'
import { SyncError } from '../../errors.ts'
import { createParentDirectory } from '../../parent-directory.ts'
import type { EmbeddedMigration } from '../migrations/embed.ts'
import type { MigrationTarget } from '../migrations/apply.ts'

/**
 * A write transaction's part of a group commit (`SqliteConnection.write`). Its promise settles
 * only once the group's COMMIT (or ROLLBACK) is over, so no response goes out before its data is
 * durable, nor a failure computed against another member's writes that are then lost.
 */
export interface GroupMember<T> {
  /** The member's statements: the transaction is open, in a savepoint of its own when it joined a group. */
  run(): Promise<T>
  /**
   * After the group ended, before the member's promise settles: `committed`; `failed` when its own
   * work threw and only it was undone; `lost` when the whole transaction was (COMMIT failed, or
   * SQLite rolled it back by itself), with whatever other members wrote in it.
   */
  ended(outcome: 'committed' | 'failed' | 'lost'): void
}

interface Job<T> {
  resolve(value: T): void
  reject(error: unknown): void
}
interface AloneJob<T> extends Job<T> {
  work: () => Promise<T>
  /** A read: it may run while a write ahead of it waits for another process's write lock (`read`). */
  read: boolean
}
interface WriteJob<T> extends Job<T> {
  member: GroupMember<T>
}
type QueuedJob = AloneJob<unknown> | WriteJob<unknown>

type GroupEnd = { outcome: 'committed' } | { outcome: 'failed' | 'lost'; error: unknown }

/** A member of the open group, with what it will settle with once the group ends. */
interface Joined {
  job: WriteJob<unknown>
  value?: unknown
  /** Set when the member's own work threw (it was rolled back to its savepoint). */
  failure?: { error: unknown }
}

/** How long a statement other than a write's BEGIN IMMEDIATE waits on a lock (a checkpoint, WAL recovery). */
const BUSY_TIMEOUT_MS = 5000

/**
 * A write retries its lock every millisecond (a timer's finest step): the other worker holds it
 * for one group (its statements and a COMMIT with an fsync: 1–10 ms), and then leaves it free
 * for only `HAND_OVER_MS`, which a longer step would miss.
 */
const LOCK_RETRY_MS = 1

/**
 * After its COMMIT, a process that sees another one waiting for the write lock (`LockWaiters`)
 * waits this long before its next BEGIN IMMEDIATE. Without the gap a worker with writes queued
 * takes the lock again microseconds after releasing it, so the other one's retries almost never
 * find it free (waits of up to 200 ms under the mix, 2 workers). Longer than a retry's step, so a
 * waiter whose timer is a little late still finds the lock free; the writes held back meanwhile
 * join one group.
 */
const HAND_OVER_MS = 2

const sqliteCode = (error: unknown): string => (error as { code?: string } | undefined)?.code ?? ''
const isBusy = (error: unknown) => sqliteCode(error).startsWith('SQLITE_BUSY')

/**
 * One bun:sqlite connection shared by the process. bun:sqlite is synchronous, but transactions
 * span awaits, so jobs run one at a time, in arrival order: two requests never interleave
 * statements on the connection. Other processes on the same file are kept out by SQLite's own
 * locks: BEGIN IMMEDIATE for writes, busy_timeout for the rest.
 *
 * A write whose BEGIN IMMEDIATE finds the file's write lock held by another process (another
 * worker of `serve`) does not wait in SQLite's busy handler: that sleeps on the only JavaScript
 * thread (1, 2, 5, 10… ms steps, oversleeping the lock's release), so the process would serve
 * nothing meanwhile. It tries again on a short timer, and the reads queued behind it run in
 * between (a WAL reader needs no write lock); writes keep their order.
 *
 * Group commit: with synchronous = FULL every COMMIT waits for an fsync of the WAL, and that wait
 * blocks the only JavaScript thread. When a write's work is done and the next job in line is
 * also a write, it runs in the same transaction, in a savepoint, and the group commits once.
 * With nothing in line, the write gives the event loop one turn (no timer) before its COMMIT,
 * so that requests already received can queue behind it.
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

  /**
   * A group stops taking members at 16, or once it has run 10 ms: a COMMIT's fsync costs
   * 0.4–2 ms here, so past that its share of the group is small, and more members would only
   * hold the write lock (other processes wait on it) and the first members' responses longer.
   * The time bound is a variable so that tests of grouping do not depend on the machine's speed.
   */
  static readonly MAX_GROUP_MEMBERS = 16
  static maxGroupMs = 10

  /**
   * How long a write waits for another process's write lock before it fails as a `conflict`
   * (503, the client retries): busy_timeout's 5 s, as for every other statement. A variable so
   * that tests of the deadline need not wait that long.
   */
  static lockTimeoutMs = BUSY_TIMEOUT_MS

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
  /** Transaction control, prepared once; a read's transaction is run by its caller with these. */
  readonly transaction: TransactionStatements
  private users = 1
  /** Jobs waiting their turn, oldest first; the running one (or group) is not in it. */
  private readonly waiting: QueuedJob[] = []
  private running = false
  private pending = 0
  /** Set while the write at the head of the queue waits for the write lock (or its hand-over). */
  private lockWait: { deadline: number; retry?: Timer } | undefined
  /** Until when this process leaves the write lock to the others after its last COMMIT. */
  private handOverUntil = 0
  private readonly waiters: LockWaiters | undefined

  private constructor(readonly path: string) {
    this.client = openCreatingDirectory(path)
    // A new file's switch to WAL writes its header through a rollback journal: four fsyncs
    // (3–15 ms here, far more on an SD card) that protect no data, as the file holds none. Until
    // the next checkpoint syncs the file, a power cut can leave it unreadable (never a crash of
    // the process); the schema is created after the switch, at the configured durability.
    if (this.isEmpty()) this.client.run('PRAGMA synchronous = OFF')
    this.client.run('PRAGMA journal_mode = WAL')
    this.client.run(`PRAGMA synchronous = ${SqliteConnection.synchronous.toUpperCase()}`)
    this.client.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
    this.client.run('PRAGMA foreign_keys = ON')
    this.transaction = prepareTransactionStatements(this.client)
    this.waiters = path === ':memory:' ? undefined : LockWaiters.of(path)
  }

  /**
   * Runs `work` with the connection to itself; callers queue in arrival order. A full queue
   * answers 503 at once rather than letting waiting requests pile up without bound.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.enqueue<T>({ work, read: false })
  }

  /**
   * Runs `work`, which only reads, like `exclusive`, except that it may run before writes queued
   * ahead of it while they wait for another process's write lock: they have not begun, so it
   * sees none of their work, as if it had arrived before them.
   */
  read<T>(work: () => Promise<T>): Promise<T> {
    return this.enqueue<T>({ work, read: true })
  }

  /**
   * Runs `member` in a write transaction (BEGIN IMMEDIATE), queued like `exclusive`, committed
   * together with the writes that were waiting behind it (see the class).
   */
  write<T>(member: GroupMember<T>): Promise<T> {
    return this.enqueue<T>({ member })
  }

  /** No job runs or waits: work done now, in this call, has the connection to itself, as a read queued now would. */
  get idle(): boolean {
    return !this.running && this.waiting.length === 0
  }

  static readonly QUEUE_LIMIT = 1000

  private enqueue<T>(task: { work: () => Promise<T>; read: boolean } | { member: GroupMember<T> }): Promise<T> {
    if (this.pending >= SqliteConnection.QUEUE_LIMIT) {
      return Promise.reject(new SyncError('unavailable', 'too many requests waiting for the database'))
    }
    this.pending++
    // On an idle connection a job that needs no lock starts at once, in this call: nothing else
    // runs then, and nothing is queued for it (most reads come to an idle connection).
    if (this.idle && 'work' in task) return this.runNow(task.work)
    const { promise, resolve, reject } = Promise.withResolvers<T>()
    const job = { ...task, resolve, reject } as QueuedJob
    this.waiting.push(job)
    // A connection not running (idle, or waiting to retry the write lock) decides at once, in
    // this call, what starts: a write once it has the lock, or a read while the lock is held.
    if (!this.running) this.next()
    return promise
  }

  /** Runs `work` with the connection to itself; when it ends, the next job in line starts. */
  private async runNow<T>(work: () => Promise<T>): Promise<T> {
    this.running = true
    try {
      return await work()
    } finally {
      this.pending--
      this.next()
    }
  }

  /** Starts the job in line (a write once it has the write lock), or the connection goes idle. */
  private next(): void {
    clearTimeout(this.lockWait?.retry)
    const head = this.waiting[0]
    this.running = head !== undefined
    if (head === undefined) return
    if (!('member' in head)) {
      this.waiting.shift()
      this.runAlone(head)
    } else if (this.lockForWrite(head)) {
      this.waiting.shift()
      void this.runGroup(head)
    } else if (this.lockWait === undefined) {
      this.next()
    } else {
      this.whileTheLockIsHeld(this.lockWait)
    }
  }

  /**
   * BEGIN IMMEDIATE for `head` without waiting: true when the transaction began. During the
   * hand-over gap, or busy before the deadline, it leaves `lockWait` set; any other failure (the
   * deadline passed included) takes `head` out of the queue, failed with that error.
   */
  private lockForWrite(head: WriteJob<unknown>): boolean {
    const now = performance.now()
    if (now < this.handOverUntil) {
      this.lockWait ??= { deadline: now + SqliteConnection.lockTimeoutMs }
      return false
    }
    const error = this.tryBeginImmediate()
    if (error === undefined) {
      if (this.lockWait !== undefined) this.waiters?.stopWaiting()
      this.lockWait = undefined
      return true
    }
    if (isBusy(error)) {
      this.waiters?.wait()
      this.lockWait ??= { deadline: now + SqliteConnection.lockTimeoutMs }
      if (now < this.lockWait.deadline) return false
    }
    this.lockWait = undefined
    this.waiting.shift()
    this.settle([{ job: head }], { outcome: 'failed', error })
    return false
  }

  /**
   * Runs the first read that has only writes ahead of it (a job that is neither keeps its
   * place), or else goes idle until the next retry of the lock.
   */
  private whileTheLockIsHeld(lockWait: { retry?: Timer }): void {
    const index = this.waiting.findIndex((job) => !('member' in job))
    const job = this.waiting[index]
    if (job !== undefined && !('member' in job) && job.read) {
      this.waiting.splice(index, 1)
      this.runAlone(job)
      return
    }
    this.running = false
    lockWait.retry = setTimeout(() => this.next(), Math.max(LOCK_RETRY_MS, this.handOverUntil - performance.now()))
  }

  /** The error of a BEGIN IMMEDIATE run with busy_timeout 0, or undefined when it began. */
  private tryBeginImmediate(): unknown {
    this.transaction.noBusyWait()
    try {
      this.transaction.beginImmediate()
      return undefined
    } catch (error) {
      return error
    } finally {
      this.transaction.busyWait()
    }
  }

  /** Runs a queued job that takes no lock, settling its caller's promise. */
  private runAlone(job: AloneJob<unknown>): void {
    this.runNow(job.work).then(job.resolve, job.reject)
  }

  /** Runs the group `first` begins, once BEGIN IMMEDIATE succeeded. */
  private async runGroup(first: WriteJob<unknown>): Promise<void> {
    const members: Joined[] = []
    const end = await this.groupTransaction(first, members)
    if (this.waiters?.anyWaiting()) this.handOverUntil = performance.now() + HAND_OVER_MS
    try {
      this.settle(members, end)
    } finally {
      this.next()
    }
  }

  /**
   * One write transaction: `first`, then, while the group has room and the next job in line
   * (after a turn of the event loop when there was none) is a write, that write in a savepoint.
   * A member whose work throws is rolled back to its savepoint and fails alone (the first, having
   * no savepoint, rolls back the transaction, which holds only its work). If the transaction
   * itself is lost, so is every member's work.
   */
  private async groupTransaction(first: WriteJob<unknown>, members: Joined[]): Promise<GroupEnd> {
    const started = performance.now()
    try {
      for (let job: WriteJob<unknown> | undefined = first; job !== undefined; job = this.nextMember(members.length, started)) {
        const joined: Joined = { job }
        members.push(joined)
        const grouped = members.length > 1
        if (grouped) this.transaction.savepoint()
        try {
          joined.value = await job.member.run()
        } catch (error) {
          // SQLite undoes the whole transaction by itself after some errors (SQLITE_FULL, IOERR).
          if (!this.client.inTransaction) throw error
          if (!grouped) {
            this.transaction.rollback()
            return { outcome: 'failed', error }
          }
          this.transaction.rollbackToSavepoint()
          joined.failure = { error }
        }
        if (grouped) this.transaction.release()
        if (!this.client.inTransaction) throw new Error('the write transaction ended before its commit')
        if (this.waiting.length === 0 && this.hasRoom(members.length, started)) await oneTurnOfTheEventLoop()
      }
      this.transaction.commit()
      return { outcome: 'committed' }
    } catch (error) {
      try {
        if (this.client.inTransaction) this.transaction.rollback()
      } catch {
        // The error that lost the transaction is the one to report.
      }
      return { outcome: 'lost', error }
    }
  }

  /** The write next in line, taken out of the queue, when the open group may take it. */
  private nextMember(size: number, started: number): WriteJob<unknown> | undefined {
    const head = this.waiting[0]
    if (head === undefined || !('member' in head) || !this.hasRoom(size, started)) return undefined
    this.waiting.shift()
    return head
  }

  private hasRoom(size: number, started: number): boolean {
    return size < SqliteConnection.MAX_GROUP_MEMBERS && performance.now() - started < SqliteConnection.maxGroupMs
  }

  /**
   * Ends each member and settles its promise: when the group committed, those whose work
   * succeeded resolve and the others fail with their own error; otherwise all fail with the
   * group's. A lock held elsewhere past busy_timeout is a `conflict` (503), as for any write.
   */
  private settle(members: readonly Joined[], end: GroupEnd): void {
    for (const { job, value, failure } of members) {
      this.pending--
      const outcome = end.outcome === 'committed' && failure !== undefined ? 'failed' : end.outcome
      try {
        job.member.ended(outcome)
      } catch (error) {
        job.reject(error)
        continue
      }
      if (end.outcome !== 'committed') job.reject(translateLockError(end.error, 'conflict'))
      else if (failure !== undefined) job.reject(translateLockError(failure.error, 'conflict'))
      else job.resolve(value)
    }
  }

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

/**
 * Whether a write of another process waits for the file's write lock: the wall-clock time of the
 * last failed BEGIN IMMEDIATE of any process on the file, in 8 bytes of a file of our own beside
 * the database (`<database>-lockwait`; SQLite's files are not ours to write) that every process
 * on it maps, set to 0 by the waiter that gets the lock. Unsynchronised: two waiters writing at
 * once leave one of their times, and either says that one waits.
 *
 * The file lives as long as the database: never removed (8 bytes), so a process killed by
 * SIGKILL leaves nothing behind that the database's folder does not hold, and a process opening
 * the database later always maps the very file the running ones do. Removing it when the last
 * process closes would need a lock to know that it is the last (SQLite takes one on the
 * database for its -shm file).
 */
class LockWaiters {
  /**
   * A waiter retries every millisecond, but only when its thread is free: a read it runs
   * meanwhile, a descheduled process or a COMMIT's slow fsync on a loaded machine can leave its
   * time tens of milliseconds old while it still waits. At 5 ms, two connections writing
   * continuously on a loaded machine (lock-wait.test.ts) saw writes wait through up to 148 of the
   * other's commits, 600 ms; at 1 s, through at most 22. So only a time this old is taken for a
   * waiter that died or gave up (at lockTimeoutMs, 5 s), and until then the holder's only cost
   * is a HAND_OVER_MS pause after each commit.
   */
  private static readonly FRESH_MS = 1000

  /**
   * The mapping for the database at `path`, or undefined where the file cannot be made or mapped
   * (a read-only folder or file system, another user's file, no shared mappings): no hand-over
   * then, never a database that fails to open.
   */
  static of(path: string): LockWaiters | undefined {
    try {
      // Named like SQLite names the -shm file, after the path with symbolic links resolved, so
      // that every path to the database shares one file. SQLite gives each hard link its own
      // -wal and -shm, and so two processes on two links corrupt the database anyway
      // (sqlite.org/howtocorrupt.html, multiple links to the same file).
      const database = realpathSync(path)
      const name = `${database}-lockwait`
      createBeside(database, name)
      const bytes = Bun.mmap(name)
      return new LockWaiters(new Float64Array(bytes.buffer, bytes.byteOffset, 1))
    } catch {
      return undefined
    }
  }

  private constructor(private readonly lastWait: Float64Array) {}

  wait(): void {
    this.lastWait[0] = Date.now()
  }

  /** This process got the lock; another still waiting writes its time again within a millisecond. */
  stopWaiting(): void {
    this.lastWait[0] = 0
  }

  anyWaiting(): boolean {
    return Date.now() - (this.lastWait[0] ?? 0) < LockWaiters.FRESH_MS
  }
}

/**
 * Makes the 8-byte file `name` unless it exists: 8 bytes of zeroes (no waiter), with the
 * database's mode and, when made by root (`sudo syncserver migrate`), its owner, as SQLite does
 * for -wal and -shm, so that the server's own user can map it too.
 */
function createBeside(database: string, name: string): void {
  const { mode, uid, gid } = statSync(database)
  // Appending creates it without truncating what another process wrote.
  const fd = openSync(name, 'a', mode & 0o666)
  try {
    if (fstatSync(fd).size >= 8) return
    fchmodSync(fd, mode & 0o666)
    if (process.getuid?.() === 0) fchownSync(fd, uid, gid)
    ftruncateSync(fd, 8)
  } finally {
    closeSync(fd)
  }
}

/**
 * Lets the requests this process has already received run up to their transaction. A request's
 * transaction runs in microtasks, so without this turn none of them could reach the queue before
 * the COMMIT, and groups would almost never form (1.01 writes per commit under 8 concurrent
 * POSTs, 5.8 with it). No timer: on an idle server the turn costs microseconds.
 */
const oneTurnOfTheEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/** BEGIN, COMMIT and the rest, as prepared statements (a `run()` each). */
export interface TransactionStatements {
  begin(): void
  beginImmediate(): void
  /** busy_timeout 0, for a write's BEGIN IMMEDIATE, and back. */
  noBusyWait(): void
  busyWait(): void
  commit(): void
  rollback(): void
  /** The savepoint of a group member; members run one after another, so one name serves all. */
  savepoint(): void
  release(): void
  rollbackToSavepoint(): void
}

function prepareTransactionStatements(client: Database): TransactionStatements {
  const statement = (text: string) => {
    const prepared = client.prepare(text)
    return () => void prepared.run()
  }
  return {
    begin: statement('BEGIN'),
    beginImmediate: statement('BEGIN IMMEDIATE'),
    // Not prepared: SQLite sets busy_timeout when it compiles the PRAGMA, not when it runs it.
    noBusyWait: () => void client.run('PRAGMA busy_timeout = 0'),
    busyWait: () => void client.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`),
    commit: statement('COMMIT'),
    rollback: statement('ROLLBACK'),
    savepoint: statement('SAVEPOINT member'),
    release: statement('RELEASE member'),
    rollbackToSavepoint: statement('ROLLBACK TO member'),
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
 * Another process held the file's lock past the deadline (busy_timeout, or a write's
 * `lockTimeoutMs`): a SyncError of the given kind (503 either way), so the client retries.
 * Anything else passes through unchanged.
 */
export function translateLockError(error: unknown, kind: 'conflict' | 'unavailable'): unknown {
  if (error instanceof SyncError) return error
  if (isBusy(error) || sqliteCode(error).startsWith('SQLITE_LOCKED')) {
    return new SyncError(kind, 'database is locked', { cause: error })
  }
  return error
}
