import type { SpannerClient } from '@google-cloud/spanner-api/build/src/v1/spanner_client.js'
import { ConnectionGate } from '../pooled.ts'
import type { PoolStatus } from '../types.ts'
import { grpcCode, GrpcCode } from './client.ts'

interface Session {
  name: string
  created: number
  lastUsed: number
}

/** Spanner deletes a session left idle for an hour; one idle this long is replaced first. */
const DEFAULT_MAX_IDLE_MS = 50 * 60_000

export interface SessionPoolOptions {
  database: string
  max: number
  timeoutMs: number
  lifespanMs?: number
  maxIdleMs?: number
  /** Options of every call (retries, routing headers). */
  callOptions: object
}

/**
 * Regular (not multiplexed) Spanner sessions, one per transaction in flight, reused last-in
 * first-out as syncstorage-rs does: at most `max` exist, and a transaction waits at most
 * `timeoutMs` for one (then 503). Sessions past their lifespan or idle too long are replaced.
 */
export class SessionPool {
  private readonly idle: Session[] = []
  private readonly gate: ConnectionGate
  private closed = false

  constructor(
    private readonly client: SpannerClient,
    private readonly options: SessionPoolOptions,
  ) {
    this.gate = new ConnectionGate(options.max, options.timeoutMs)
  }

  /**
   * Runs `work` on a session. When Spanner no longer knows the session (deleted after an hour
   * idle, or by a restart), its transaction cannot have committed: `work` runs again on a new one.
   */
  async withSession<T>(work: (session: string) => Promise<T>): Promise<T> {
    await this.gate.acquire()
    try {
      for (let attempt = 0; ; attempt++) {
        const session = await this.take()
        try {
          const result = await work(session.name)
          this.give(session)
          return result
        } catch (error) {
          if (!isSessionGone(error)) this.give(session)
          else if (attempt === 0) continue
          throw error
        }
      }
    } finally {
      this.gate.release()
    }
  }

  private async take(): Promise<Session> {
    const now = Date.now()
    while (this.idle.length > 0) {
      const session = this.idle.pop() as Session
      if (!this.isStale(session, now)) return session
      this.discard(session)
    }
    const [created] = await this.client.createSession({ database: this.options.database }, this.options.callOptions)
    return { name: created.name as string, created: now, lastUsed: now }
  }

  private isStale(session: Session, now: number): boolean {
    const { lifespanMs, maxIdleMs = DEFAULT_MAX_IDLE_MS } = this.options
    return (lifespanMs !== undefined && now - session.created > lifespanMs) || now - session.lastUsed > maxIdleMs
  }

  private give(session: Session): void {
    if (this.closed) return this.discard(session)
    session.lastUsed = Date.now()
    this.idle.push(session)
  }

  private discard(session: Session): void {
    this.client.deleteSession({ name: session.name }).catch(() => {})
  }

  status(): PoolStatus {
    return { active: this.gate.inUse, idle: this.idle.length, max: this.options.max }
  }

  async close(): Promise<void> {
    this.closed = true
    await this.gate.drained(5_000)
    const sessions = this.idle.splice(0)
    await Promise.all(sessions.map((session) => this.client.deleteSession({ name: session.name }).catch(() => {})))
    await this.client.close()
  }
}

const isSessionGone = (error: unknown): boolean =>
  grpcCode(error) === GrpcCode.NOT_FOUND && /session not found/i.test(String((error as Error).message))
