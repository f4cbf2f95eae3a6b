/**
 * The info/* timestamp reads (outside any transaction) of one event-loop turn and the next,
 * answered by one statement for all their users (MySQL, PostgreSQL). Each statement costs the
 * server a socket write, a wake-up of the database and a reply to read, and the database a
 * statement to run: most of a GET info/collections' database cost. Concurrent requests arriving
 * together share them. One statement reads one snapshot, and it is sent after every read it
 * answers was asked for, so each caller sees at least what was committed before it asked.
 *
 * The statement runs on a connection outside the pool's admission gate: its callers were
 * admitted already, and a slot of its own could wait forever for theirs.
 */
export class TimestampReads {
  private pending = new Map<number, PromiseWithResolvers<unknown[][]>>()

  /** `query` answers rows whose last column is their user id, for all `uids` in one statement. */
  constructor(private readonly query: (uids: number[]) => Promise<unknown[][]>) {}

  /** The rows of `uid`, without the user id column. */
  read(uid: number): Promise<unknown[][]> {
    const waiting = this.pending.get(uid)
    if (waiting !== undefined) return waiting.promise
    // A macrotask, not a microtask: the requests of one turn arrive in callbacks of their own,
    // each followed by a microtask checkpoint. Two of them: an immediate queued now runs before
    // the loop next polls for requests, one queued from it runs after, so the reads of requests
    // that arrive in between share the statement too. Measured at 8 clients (paired rounds):
    // server CPU per info/collections ×0.90 on PostgreSQL and MariaDB, req/s ×1.05, and no
    // change at 1 client, where the extra turn finds nothing to wait for.
    if (this.pending.size === 0) setImmediate(() => setImmediate(() => this.flush()))
    const reply = Promise.withResolvers<unknown[][]>()
    this.pending.set(uid, reply)
    return reply.promise
  }

  private async flush(): Promise<void> {
    const batch = this.pending
    this.pending = new Map()
    try {
      const byUser = new Map<number, unknown[][]>(Array.from(batch.keys(), (uid) => [uid, []]))
      for (const row of await this.query([...batch.keys()])) byUser.get(Number(row.pop()))?.push(row)
      for (const [uid, reply] of batch) reply.resolve(byUser.get(uid) ?? [])
    } catch (error) {
      for (const reply of batch.values()) reply.reject(error)
    }
  }
}
