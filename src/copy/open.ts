import type { CopyEndpoint } from '../db/copy-types.ts'
import { parseDatabaseUrl, redact } from '../db/url.ts'

/** Bulk access to the database at `url`; drivers load lazily, as for the server. */
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
      throw new Error(`copy does not support Spanner yet (${redact(url)}): the Spanner backend is not part of this build`)
  }
}
