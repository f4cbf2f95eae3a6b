import type { CopyEndpoint, StorageCopyEndpoint } from '../db/copy-types.ts'
import type { SpannerOptions } from '../db/spanner/settings.ts'
import { parseDatabaseUrl } from '../db/url.ts'

/** Bulk access to the SQL database at `url` (storage and tokenserver tables); drivers load lazily, as for the server. */
export async function openCopyEndpoint(url: string): Promise<CopyEndpoint> {
  const location = parseDatabaseUrl(url)
  switch (location.engine) {
    case 'sqlite':
      if (location.path === ':memory:') throw new Error('copy needs a database on disk, not sqlite::memory:')
      return new (await import('../db/sqlite/copy.ts')).SqliteCopyEndpoint(location.path)
    case 'postgres':
      return new (await import('../db/postgres/copy.ts')).PostgresCopyEndpoint(location.url)
    case 'mysql':
      return (await import('../db/mysql/copy.ts')).MysqlCopyEndpoint.open(location.url)
    case 'spanner':
      throw new Error((await import('../db/spanner/settings.ts')).TOKENSERVER_NOT_ON_SPANNER)
  }
}

/** Bulk access to the storage tables at `url`, Spanner included (with the emulator and routing settings given). */
export async function openStorageCopyEndpoint(url: string, spanner: SpannerOptions): Promise<StorageCopyEndpoint> {
  if (parseDatabaseUrl(url).engine !== 'spanner') return openCopyEndpoint(url)
  return (await import('../db/spanner/copy.ts')).SpannerCopyEndpoint.open(url, spanner)
}
