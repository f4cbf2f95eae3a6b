import { expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { createApp } from '../../src/app.ts'
import { parseSettings } from '../../src/config/load.ts'
import { resolveSettings } from '../../src/config/settings.ts'
import { openStorage } from '../../src/db/open.ts'
import type { BackendLimits, StorageBackend } from '../../src/db/types.ts'
import { silentLogger } from '../../src/http/logger.ts'
import { withinBackend } from '../../src/storage/limits.ts'
import { backendNamed } from '../support/backends.ts'

/** A real backend that declares limits, as an engine with a per-commit cap (Spanner) does. */
function declaring(backend: StorageBackend, limits: BackendLimits): StorageBackend {
  return Object.create(backend, { limits: { value: limits } }) as StorageBackend
}

test('a backend limit lowers the configured one, and info/configuration publishes the lower value', async () => {
  const url = await backendNamed('sqlite')!.freshDatabaseUrl()
  const backend = await openStorage(url, { runMigrations: true })
  try {
    const settings = await resolveSettings(
      parseSettings({
        master_secret: randomBytes(16).toString('hex'),
        syncstorage: { database_url: url, limits: { max_total_bytes: 200_000_000, max_total_records: 5_000 } },
        tokenserver: { enabled: false },
      }),
    )
    const app = createApp({ settings, logger: silentLogger, storage: declaring(backend, { maxTotalBytes: 100_000_000, maxTotalRecords: 9_984 }) })
    const published = (await (await app.fetch(new Request('http://localhost/1.5/1/info/configuration'))).json()) as Record<string, number>
    expect(published.max_total_bytes).toBe(100_000_000)
    // A configured value already below the backend's stays.
    expect(published.max_total_records).toBe(5_000)
  } finally {
    await backend.close()
  }
})

test('a backend without limits leaves the configuration as it is', () => {
  const limits = { max_total_bytes: 1, max_total_records: 2 } as Parameters<typeof withinBackend>[0]
  expect(withinBackend(limits, undefined)).toBe(limits)
  expect(withinBackend(limits, {})).toEqual(limits)
})
