import type { RawSettings } from '../../config/schema.ts'
import type { BackendLimits } from '../types.ts'

/**
 * Limits Spanner imposes (spanner.md §4.7): one commit may write at most 80,000 mutations (8 per
 * record, plus a few per transaction), and carry at most 100 MB.
 */
export const SPANNER_LIMITS: BackendLimits = { maxTotalRecords: 9_984, maxTotalBytes: 100_000_000 }

/** Where a Spanner database is, from `spanner://projects/P/instances/I/databases/D`. */
export interface SpannerLocation {
  project: string
  instance: string
  database: string
  /** The resource name, `projects/P/instances/I/databases/D`. */
  name: string
}

const URL_SHAPE = /^spanner:\/\/projects\/([^/]+)\/instances\/([^/]+)\/databases\/([^/?#]+)$/

export function parseSpannerUrl(url: string): SpannerLocation {
  const match = URL_SHAPE.exec(url)
  if (match === null) {
    throw new Error(`invalid Spanner database URL "${url}": expected spanner://projects/PROJECT/instances/INSTANCE/databases/DATABASE`)
  }
  const [, project, instance, database] = match as unknown as [string, string, string, string]
  return { project, instance, database, name: `projects/${project}/instances/${instance}/databases/${database}` }
}

/** The Spanner settings of syncstorage-rs, as the Spanner backend takes them. */
export interface SpannerOptions {
  /** gRPC `host:port` of an emulator: plaintext, no credentials, and the emulator's workarounds. */
  emulatorHost?: string
  /** Sends `x-goog-spanner-route-to-leader: true` (database_spanner_route_to_leader). */
  routeToLeader: boolean
}

export function spannerOptions(storage: RawSettings['syncstorage']): SpannerOptions {
  return {
    emulatorHost: storage.spanner_emulator_host,
    routeToLeader: storage.database_spanner_route_to_leader,
  }
}

export const TOKENSERVER_NOT_ON_SPANNER =
  'the tokenserver database cannot be Spanner: set tokenserver.database_url (SYNC_TOKENSERVER__DATABASE_URL) to a sqlite:///, postgres:// or mysql:// URL'
