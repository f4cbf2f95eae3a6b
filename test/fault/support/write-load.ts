import type { ServerProcess } from './server-process.ts'
import type { SyncClient } from '../../support/sync-client.ts'

/**
 * Writers that record every write the server acknowledged, so a test can check after a fault
 * that each one is stored and that no batch is half visible. Each writer is its own user and
 * alternates plain POSTs with two-request batches (create + commit).
 */
export interface WriteLoad {
  /** Status → count of every answer (0: no answer, the connection failed). */
  statuses: Map<number, number>
  /** Responses that were 503 without a Retry-After header. */
  bare503: number
  acknowledged(): number
  /** Stops the writers and waits for requests in flight. */
  stop(): Promise<void>
  /** Fetches every writer's collection and checks it; `lost` lists acknowledged ids missing. */
  verify(reader: (uid: number) => SyncClient): Promise<Verification>
}

export interface Verification {
  checked: number
  lost: string[]
  /** Batches whose commit got no clear answer and are visible only in part. */
  halfBatches: string[]
}

interface Writer {
  client: SyncClient
  acked: Map<string, string>
  /** Committed-or-unknown batches: all their ids must be visible, or (when unknown) none. */
  batches: { ids: string[]; acked: boolean }[]
}

const COLLECTION = 'history'

export function startWriteLoad(clients: SyncClient[], options: { pauseMs?: number } = {}): WriteLoad {
  const statuses = new Map<number, number>()
  let bare503 = 0
  let running = true
  const writers: Writer[] = clients.map((client) => ({ client, acked: new Map(), batches: [] }))

  const send = async (writer: Writer, path: string, records: { id: string; payload: string }[]) => {
    let status = 0
    let body: { success?: string[]; batch?: string } = {}
    try {
      const response = await writer.client.post(`/storage/${COLLECTION}${path}`, records)
      status = response.status
      if (status === 503 && response.headers.get('retry-after') === null) bare503++
      body = status === 200 || status === 202 ? ((await response.json()) as typeof body) : (await response.arrayBuffer(), {})
    } catch {
      status = 0
      await Bun.sleep(20) // the server is down: do not spin
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    return { status, body }
  }

  const loop = async (writer: Writer, index: number) => {
    for (let n = 0; running; n++) {
      const record = (suffix: string) => ({ id: `w${index}-${n}${suffix}`, payload: `p${n}${suffix}` })
      if (n % 3 === 2) {
        const first = [record('a'), record('b')]
        const created = await send(writer, '?batch=true', first)
        if (created.status === 202 && created.body.batch !== undefined) {
          const second = [record('c'), record('d')]
          const ids = [...first, ...second].map((r) => r.id)
          const committed = await send(writer, `?batch=${encodeURIComponent(created.body.batch)}&commit=true`, second)
          const acked = committed.status === 200 && (committed.body.success?.length ?? 0) === 2
          writer.batches.push({ ids, acked })
          if (acked) for (const r of [...first, ...second]) writer.acked.set(r.id, r.payload)
        }
      } else {
        const records = [record('')]
        const { status, body } = await send(writer, '', records)
        if (status === 200) for (const id of body.success ?? []) writer.acked.set(id, records[0]!.payload)
      }
      if (options.pauseMs) await Bun.sleep(options.pauseMs)
    }
  }
  const done = Promise.all(writers.map((writer, index) => loop(writer, index)))

  return {
    statuses,
    get bare503() {
      return bare503
    },
    acknowledged: () => writers.reduce((sum, writer) => sum + writer.acked.size, 0),
    async stop() {
      running = false
      await done
    },
    async verify(reader) {
      const result: Verification = { checked: 0, lost: [], halfBatches: [] }
      for (const writer of writers) {
        const stored = new Map<string, string>()
        const response = await reader(writer.client.uid).get(`/storage/${COLLECTION}?full=1`)
        if (response.status !== 200 && response.status !== 404) throw new Error(`verification read answered ${response.status}`)
        if (response.status === 200) for (const bso of (await response.json()) as { id: string; payload: string }[]) stored.set(bso.id, bso.payload)
        for (const [id, payload] of writer.acked) {
          result.checked++
          if (stored.get(id) !== payload) result.lost.push(id)
        }
        for (const batch of writer.batches) {
          const visible = batch.ids.filter((id) => stored.has(id)).length
          if (visible !== 0 && visible !== batch.ids.length) result.halfBatches.push(batch.ids.join(','))
        }
      }
      return result
    },
  }
}

/** Status counts as `200×812 503×12 0×3`, for the test's figures. */
export function formatStatuses(statuses: Map<number, number>): string {
  return [...statuses.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, count]) => `${status}×${count}`)
    .join(' ')
}

/** Milliseconds until `probe` first succeeds (polling every 20 ms), or -1 after `timeoutMs`. */
export async function timeUntil(probe: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now()
  while (Date.now() - start < timeoutMs) {
    if (await probe().catch(() => false)) return Date.now() - start
    await Bun.sleep(20)
  }
  return -1
}

/** Milliseconds until a new user's POST through `server` succeeds (-1 after `timeoutMs`). */
export function firstWriteWithin(server: ServerProcess, timeoutMs: number): Promise<number> {
  const probe = server.client()
  return timeUntil(async () => (await probe.post('/storage/probe', [{ id: 'p', payload: 'x' }])).status === 200, timeoutMs)
}

/** Lets the load run a moment longer, stops it and reads every write back through `server`. */
export async function settle(load: WriteLoad, server: ServerProcess): Promise<{ verdict: Verification; figures: string }> {
  await Bun.sleep(300)
  await load.stop()
  const verdict = await load.verify((uid) => server.client(uid))
  const figures =
    `acknowledged ${load.acknowledged()}, checked ${verdict.checked}, lost ${verdict.lost.length}, ` +
    `half batches ${verdict.halfBatches.length}`
  return { verdict, figures }
}
