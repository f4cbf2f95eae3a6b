import { afterAll, beforeAll, describe } from 'bun:test'
import type { StorageOptions } from '../../../src/db/engine.ts'
import type { BsoQuery, StorageBackend, StorageTx, StorageUser } from '../../../src/db/types.ts'
import { backends, openTestStorage, SETUP_TIMEOUT_MS } from '../../support/backends.ts'
import { freshUid } from '../../support/sync-client.ts'

/** One engine the contract suite runs on: `open` gives a backend on a fresh, empty database. */
export interface ContractEngine {
  name: string
  open(options: StorageOptions): Promise<StorageBackend>
}

/**
 * THE HOOK: every engine the backend contract suite (this folder) checks. A new engine joins
 * with one line here, e.g. `spannerContractEngine` started on its own emulator; its `open`
 * may wrap `close()` to stop what it started.
 */
export const contractEngines: ContractEngine[] = [
  ...backends.map((backend) => ({
    name: backend.name,
    open: async (options: StorageOptions) => openTestStorage(await backend.freshDatabaseUrl(), options),
  })),
]

/** What a contract test works with: the backend and shorthands for its transactions. */
export interface Contract {
  /** The engine's name, for the rare check one engine cannot run yet (skipped, with the reason). */
  readonly engine: string
  readonly backend: StorageBackend
  /** A new user, so tests never see each other's data. */
  user(): StorageUser
  write<T>(user: StorageUser, collection: string, work: (tx: StorageTx) => Promise<T>): Promise<T>
  read<T>(user: StorageUser, collection: string | undefined, work: (tx: StorageTx) => Promise<T>): Promise<T>
  wipe<T>(user: StorageUser, work: (tx: StorageTx) => Promise<T>): Promise<T>
}

export const EVERYTHING: BsoQuery = { sort: 'oldest', skip: 0 }

/** `describe.each(contractEngines)` with one backend per engine, opened before and closed after. */
export function describeContract(title: string, body: (contract: Contract) => void): void {
  describe.each(contractEngines)(`${title} ($name)`, (engine) => {
    let backend: StorageBackend | undefined
    beforeAll(async () => {
      // Quota totals on: the suite checks the bookkeeping too.
      backend = await engine.open({ quotaTotals: true })
    }, SETUP_TIMEOUT_MS)
    afterAll(() => backend?.close(), SETUP_TIMEOUT_MS)
    const current = (): StorageBackend => {
      if (backend === undefined) throw new Error(`the ${engine.name} backend is not open`)
      return backend
    }
    body({
      engine: engine.name,
      get backend() {
        return current()
      },
      user: () => ({ uid: freshUid(), fxaUid: crypto.randomUUID().replaceAll('-', ''), fxaKid: `0000000001234-${crypto.randomUUID()}` }),
      write: (user, collection, work) => current().withTransaction({ user, mode: 'write', collection }, work),
      read: (user, collection, work) => current().withTransaction({ user, mode: 'read', collection }, work),
      wipe: (user, work) => current().withTransaction({ user, mode: 'wipe' }, work),
    })
  })
}
