import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * The storage engines the HTTP suites run against. Every suite calls `describe.each(backends)`,
 * so one assertion covers every engine; an engine whose server is unreachable is listed with
 * `skip` and its reason, so the skip shows in the output.
 */
export interface TestBackend {
  name: string
  /** A database URL for a fresh, empty database. */
  freshDatabaseUrl(): Promise<string>
  /** Why the suites skip this backend here, if they do. */
  skip?: string
}

const sqlite: TestBackend = {
  name: 'sqlite',
  async freshDatabaseUrl() {
    return `sqlite:///${join(mkdtempSync(join(tmpdir(), 'syncserver-test-')), 'sync.db')}`
  },
}

export const backends: TestBackend[] = [sqlite]
