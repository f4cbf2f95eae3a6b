import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { adminClients } from '../../src/db/spanner/client.ts'
import { parseSpannerUrl } from '../../src/db/spanner/settings.ts'
import { backends, SETUP_TIMEOUT_MS } from '../support/backends.ts'
import { emulatorHost, PROJECT } from '../support/spanner-emulator.ts'
import { RestartableServer, SEQUENCES_PER_SPANNER_DATABASE } from './server.ts'

/** Whether the emulator still has the database of a test URL. */
async function spannerDatabaseExists(url: string): Promise<boolean> {
  const { databases, close } = await adminClients(PROJECT, { emulatorHost: await emulatorHost(), routeToLeader: false })
  try {
    await databases.getDatabase({ name: parseSpannerUrl(url).name })
    return true
  } catch (error) {
    if ((error as { code?: number }).code === 5) return false
    throw error
  } finally {
    await close()
  }
}

describe.each(backends)('the model server on $name', (backend) => {
  let server: RestartableServer
  beforeAll(async () => {
    server = await RestartableServer.start(backend)
  }, SETUP_TIMEOUT_MS)
  afterAll(() => server?.stop(), SETUP_TIMEOUT_MS)

  const moves = backend.name === 'spanner'
  test(moves ? `moves to a fresh database after ${SEQUENCES_PER_SPANNER_DATABASE} sequences and drops the old one` : 'keeps its database for every sequence', async () => {
    const first = server.database
    const uid = 4_200_000 + Math.floor(Math.random() * 100_000)
    for (let sequence = 1; sequence <= SEQUENCES_PER_SPANNER_DATABASE; sequence++) await server.startSequence()
    expect((await server.client(uid).put('/storage/tabs/a', { payload: 'kept?' })).status).toBe(200)
    expect(server.database).toBe(first)

    await server.startSequence()
    expect(server.database === first).toBe(!moves)
    expect(server.databases).toBe(moves ? 2 : 1)
    expect((await server.client(uid).get('/storage/tabs/a')).status).toBe(moves ? 404 : 200)
    expect((await server.client(uid).put('/storage/tabs/b', { payload: 'new' })).status).toBe(200)
    if (moves) expect(await spannerDatabaseExists(first)).toBe(false)
  })
})
