import type { TestBackend } from '../support/backends.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { SyncClient } from '../support/sync-client.ts'
import { MODEL_LIMITS } from './model.ts'

const { max_post_records, max_post_bytes, max_record_payload_bytes, max_total_records } = MODEL_LIMITS

/** One engine's real server for the model and fuzz runs; it can be restarted on its database. */
export class RestartableServer {
  private clients = new Map<number, SyncClient>()
  restarts = 0
  /** Spanner aborts transactions without any competing client (see isRetriedAbort in operations.ts). */
  get abortsOnItsOwn(): boolean {
    return this.engine === 'spanner'
  }

  private constructor(
    readonly engine: string,
    private readonly databaseUrl: string,
    private readonly settings: Record<string, unknown>,
    private running: TestServer,
  ) {}

  static async start(backend: TestBackend): Promise<RestartableServer> {
    const databaseUrl = await backend.freshDatabaseUrl()
    const settings = {
      master_secret: `model-${backend.name}-secret, long enough to be safe`,
      syncstorage: { limits: { max_post_records, max_post_bytes, max_record_payload_bytes, max_total_records } },
    }
    return new RestartableServer(backend.name, databaseUrl, settings, await startTestServer(databaseUrl, settings))
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
      client = new SyncClient(this.running.url, this.running.masterSecret, uid)
      this.clients.set(uid, client)
    }
    return client
  }

  /** Stops the process's server and starts a new one on the same database (caches start cold). */
  async restart(): Promise<void> {
    await this.running.stop()
    this.running = await startTestServer(this.databaseUrl, this.settings)
    this.clients = new Map()
    this.restarts++
  }

  stop(): Promise<void> {
    return this.running.stop()
  }
}
