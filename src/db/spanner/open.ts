import type { Engine, OpenOptions } from '../engine.ts'
import type { MigrationReport } from '../migrations/apply.ts'
import type { StorageBackend } from '../types.ts'
import { grpcCode, GrpcCode, grpcDetails, openSpanner } from './client.ts'
import { prepareSpanner } from './prepare.ts'
import { parseSpannerUrl, TOKENSERVER_NOT_ON_SPANNER, type SpannerOptions } from './settings.ts'
import { SpannerStorage } from './storage.ts'

const NO_SPANNER_OPTIONS: SpannerOptions = { routeToLeader: false }

/**
 * Spanner storage. The server never changes a Spanner schema at start (applying DDL takes
 * minutes and admin rights on production Spanner): `prepare-spanner` does that, and `migrate`
 * runs the same work. The tokenserver database is never Spanner.
 */
export const spannerEngine: Engine = {
  openStorage: (url, options) => openSpannerStorage(url, options),
  migrateStorage: (url, options) => prepareAsMigration(url, options?.spanner ?? NO_SPANNER_OPTIONS),
  openTokenserver: () => Promise.reject(new Error(TOKENSERVER_NOT_ON_SPANNER)),
  migrateTokenserver: () => Promise.reject(new Error(TOKENSERVER_NOT_ON_SPANNER)),
}

async function openSpannerStorage(url: string, options: OpenOptions): Promise<StorageBackend> {
  const location = parseSpannerUrl(url)
  const spanner = options.spanner ?? NO_SPANNER_OPTIONS
  const client = await openSpanner(location.project, spanner)
  const database = client.instance(location.instance).database(location.database)
  const storage = new SpannerStorage(client, database, {
    serialiseWrites: spanner.emulatorHost !== undefined,
    quotaTotals: options.quotaTotals === true,
    maxTransactions: options.poolMaxSize,
    timeoutMs: options.connectionTimeoutSeconds * 1000,
  })
  try {
    await storage.requireSchema()
  } catch (error) {
    await storage.close()
    throw new Error(describeOpenFailure(error, location.name), { cause: error })
  }
  return storage
}

function describeOpenFailure(error: unknown, database: string): string {
  const details = grpcDetails(error)
  if (grpcCode(error) === GrpcCode.NOT_FOUND && /database not found/i.test(details)) {
    return `Spanner database ${database} does not exist: run \`syncserver prepare-spanner\` (${details})`
  }
  if (/default credentials/i.test(details)) {
    return `no Google Cloud credentials for Spanner: set GOOGLE_APPLICATION_CREDENTIALS, or spanner_emulator_host for an emulator (${details})`
  }
  return `cannot open Spanner database ${database}: ${details}`
}

async function prepareAsMigration(url: string, options: SpannerOptions): Promise<MigrationReport> {
  const report = await prepareSpanner(parseSpannerUrl(url), options)
  return { applied: [...report.created, ...report.applied.map((statement) => statement.split(' (')[0] as string)] }
}
