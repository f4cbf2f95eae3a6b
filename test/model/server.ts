import type { TestBackend } from '../support/backends.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { SyncClient } from '../support/sync-client.ts'
import { MODEL_LIMITS } from './model.ts'

const { max_post_records, max_post_bytes, max_record_payload_bytes, max_total_records } = MODEL_LIMITS

/**
 * The Spanner emulator never forgets a row: a deleted one stays in its table's map (marked
 * deleted), and a query scans the whole table, so every sequence slowed down each later one on
 * the same database: a read took 13 ms on a fresh database, 66 ms on one where 30,000 records
 * had been written and deleted; the emulator's CPU time per 10 sequences of 200 operations grew
 * from 18 s to 29 s over the first 60 (a 200 × 200 run had not finished after 14 minutes). A
 * new database takes ~0.15 s: with one every 5 sequences, the 10-sequence CPU time stays at 18 s.
 */
export const SEQUENCES_PER_SPANNER_DATABASE = 5

/** One engine's real server for the model and fuzz runs; it can be restarted on its database. */
export class RestartableServer {
  private clients = new Map<number, SyncClient>()
  restarts = 0
  /** Databases used so far (more than one on Spanner: startSequence). */
  databases = 1
  /** Sequences begun on the current database. */
  private sequencesOnDatabase = 0
  /** Spanner aborts transactions without any competing client (see isRetriedAbort in operations.ts). */
  get abortsOnItsOwn(): boolean {
    return this.engine === 'spanner'
  }

  private constructor(
    private readonly backend: TestBackend,
    private databaseUrl: string,
    private readonly settings: Record<string, unknown>,
    /** Set: `dist/syncserver serve` with this many workers, each request on a new connection. */
    private readonly workers: number | undefined,
    private running: TestServer,
  ) {}

  /**
   * With `workers`, the server is the compiled binary with that many worker processes, and every
   * request opens a new connection, so consecutive requests of a sequence reach different workers.
   */
  static async start(backend: TestBackend, options: { workers?: number } = {}): Promise<RestartableServer> {
    const databaseUrl = await backend.freshDatabaseUrl()
    const settings = {
      master_secret: `model-${backend.name}-secret, long enough to be safe`,
      ...(options.workers === undefined ? {} : { workers: options.workers }),
      syncstorage: { limits: { max_post_records, max_post_bytes, max_record_payload_bytes, max_total_records } },
    }
    return new RestartableServer(backend, databaseUrl, settings, options.workers, await serverOn(databaseUrl, settings, options.workers))
  }

  private startServer(): Promise<TestServer> {
    return serverOn(this.databaseUrl, this.settings, this.workers)
  }

  get engine(): string {
    return this.backend.name
  }

  /** The database the server runs on. */
  get database(): string {
    return this.databaseUrl
  }

  get url(): string {
    return this.running.url
  }

  get masterSecret(): string {
    return this.running.masterSecret
  }

  /** A signed client for `uid` on the current process (tokens survive restarts: same secret). */
  client(uid: number): SyncClient {
    let client = this.clients.get(uid)
    if (client === undefined) {
      client = new SyncClient(this.running.url, this.running.masterSecret, uid, { newConnectionPerRequest: this.workers !== undefined })
      this.clients.set(uid, client)
    }
    return client
  }

  /** Stops the process's server and starts a new one on the same database (caches start cold). */
  async restart(): Promise<void> {
    await this.running.stop()
    this.running = await this.startServer()
    this.clients = new Map()
    this.restarts++
  }

  /** Called before each sequence: on Spanner, every few sequences the server moves to a fresh database. */
  async startSequence(): Promise<void> {
    if (this.backend.dropDatabase === undefined || ++this.sequencesOnDatabase <= SEQUENCES_PER_SPANNER_DATABASE) return
    await this.running.stop()
    await this.backend.dropDatabase(this.databaseUrl)
    this.databaseUrl = await this.backend.freshDatabaseUrl()
    this.running = await this.startServer()
    this.clients = new Map()
    this.sequencesOnDatabase = 1
    this.databases++
  }

  stop(): Promise<void> {
    return this.running.stop()
  }
}

/** In this process, or the compiled binary when the run asks for worker processes. */
function serverOn(databaseUrl: string, settings: Record<string, unknown>, workers: number | undefined): Promise<TestServer> {
  return startTestServer(databaseUrl, settings, { binary: workers !== undefined })
}
