import mysql from 'mysql2/promise'
import postgres from 'postgres'

/**
 * Side doors into a test database of a server engine, for the engine suites: raw SQL as an
 * operator would run it, and killing the backend's connections as a crash or restart would.
 */
export interface DatabaseAdmin {
  /** Rows as objects. */
  query(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>
  /** Connections (other than this admin's) waiting for the lock on a collection row. */
  connectionsWaitingForLock(): Promise<number[]>
  /** Every connection to the database other than this admin's. */
  connections(): Promise<number[]>
  kill(id: number): Promise<void>
  close(): Promise<void>
}

export function postgresAdmin(url: string): DatabaseAdmin {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  const ids = async (where: string) => {
    const rows = await sql.unsafe<{ pid: number }[]>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND ${where}`,
    )
    return rows.map((row) => row.pid)
  }
  return {
    query: async (text, params = []) => [...(await sql.unsafe(text, params as never[]))] as Record<string, unknown>[],
    connectionsWaitingForLock: () => ids(`wait_event_type = 'Lock' AND query LIKE '%user_collections%'`),
    connections: () => ids('true'),
    async kill(pid) {
      await sql`SELECT pg_terminate_backend(${pid})`
    },
    close: () => sql.end(),
  }
}

export function mysqlAdmin(url: string): DatabaseAdmin {
  const pending = mysql.createConnection({ uri: url })
  const rows = async (text: string, params: unknown[] = []) => {
    const [result] = await (await pending).query(text, params)
    return result as Record<string, unknown>[]
  }
  const ids = async (where = 'true') =>
    (
      await rows(`SELECT p.ID AS id FROM information_schema.PROCESSLIST p WHERE p.DB = DATABASE() AND p.ID <> CONNECTION_ID() AND ${where}`)
    ).map((row) => Number(row.id))
  return {
    query: rows,
    // (INNODB_TRX would say so directly, but MariaDB refreshes it lazily: it can lag by seconds.)
    connectionsWaitingForLock: () => ids(`p.COMMAND = 'Query' AND p.INFO LIKE '%user_collections%LAST_INSERT_ID%'`),
    connections: () => ids(),
    async kill(id) {
      await rows(`KILL ${Number(id)}`)
    },
    close: async () => (await pending).end(),
  }
}

/** Polls until `probe` returns a non-empty list. */
export async function eventually<T>(probe: () => Promise<T[]>, timeoutMs = 5000): Promise<T[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await probe()
    if (found.length > 0 || Date.now() > deadline) return found
    await Bun.sleep(20)
  }
}
