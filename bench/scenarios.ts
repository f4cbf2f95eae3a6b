import { makeUsers, type SyncUser } from './client.ts'
import type { Operation } from './load.ts'
import { SEED_CHUNK, uploadBody, userIndexFor, type Workload } from './workloads.ts'

/** Uploads every user's seed records with plain POSTs, a few users at a time. */
async function seed(workload: Workload, users: readonly SyncUser[]): Promise<void> {
  const work = users.flatMap((user) =>
    workload.seed.flatMap(({ collection, records }) =>
      Array.from({ length: Math.ceil(records.length / SEED_CHUNK) }, (_, i) => () =>
        user.expect(200, 'POST', `/storage/${collection}`, uploadBody(records.slice(i * SEED_CHUNK, (i + 1) * SEED_CHUNK))),
      ),
    ),
  )
  let next = 0
  const lane = async () => {
    while (next < work.length) await (work[next++] as () => Promise<string>)()
  }
  await Promise.all(Array.from({ length: 8 }, lane))
}

/** The HTTP requests of one operation; answers the first unexpected status, else the last one. */
function httpOperation(workload: Workload, users: readonly SyncUser[], concurrency: number): Operation {
  const counters = new Array<number>(concurrency).fill(0)
  const userFor = (worker: number) => users[userIndexFor(workload.users, concurrency, worker, counters[worker]!++)] as SyncUser
  const bodies = workload.uploads.map(uploadBody)
  const path = `/storage/${workload.collection}`
  switch (workload.id) {
    case 'info-collections':
      return async (worker) => (await userFor(worker).send('GET', '/info/collections')).status
    case 'post-100':
      return async (worker) => (await userFor(worker).send('POST', `${path}?batch=true&commit=true`, { body: bodies[0] })).status
    case 'get-1000':
      return async (worker) => (await userFor(worker).send('GET', `${path}?full=1&limit=1000`)).status
    case 'batch-3':
      return async (worker) => {
        const user = userFor(worker)
        const created = await user.send('POST', `${path}?batch=true`, { body: bodies[0], keepBody: true })
        if (created.status !== 202) return created.status
        const batch = encodeURIComponent((JSON.parse(created.text ?? '{}') as { batch: string }).batch)
        const appended = await user.send('POST', `${path}?batch=${batch}`, { body: bodies[1] })
        if (appended.status !== 202) return appended.status
        return (await user.send('POST', `${path}?batch=${batch}&commit=true`, { body: bodies[2] })).status
      }
  }
}

/** Fails loudly when the server answers something other than the scenario assumes. */
async function checkShape(workload: Workload, users: readonly SyncUser[]): Promise<void> {
  if (workload.id !== 'get-1000') return
  const response = await (users[0] as SyncUser).send('GET', `/storage/${workload.collection}?full=1&limit=1000`, { keepBody: true })
  const count = (JSON.parse(response.text ?? '[]') as unknown[]).length
  if (response.status !== 200 || count !== 1000) throw new Error(`GET full=1&limit=1000 answered ${response.status} with ${count} records`)
}

/**
 * Seeds the workload's users on the server, checks the server answers what the scenario
 * assumes, and answers the operation to measure.
 */
export async function prepareStorageScenario(
  workload: Workload,
  server: { url: string },
  masterSecret: string,
  concurrency: number,
): Promise<Operation> {
  const users = makeUsers(server.url, masterSecret, workload.firstUid, workload.users)
  await seed(workload, users)
  await checkShape(workload, users)
  return httpOperation(workload, users, concurrency)
}
