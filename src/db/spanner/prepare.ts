import schemaDdl from '../../../schema.ddl' with { type: 'text' }
import { adminClients, grpcCode, GrpcCode, grpcDetails } from './client.ts'
import { isAccessControl, missingStatements, splitStatements } from './ddl.ts'
import type { SpannerLocation, SpannerOptions } from './settings.ts'

/** The statements of the repository's `schema.ddl`, embedded in the binary. */
export const schemaStatements = (): string[] => splitStatements(schemaDdl)

export interface PrepareReport {
  /** What was created: the instance and/or database (emulator), empty when both existed. */
  created: string[]
  applied: string[]
  /** Statements the database refused that the server does not need, with its words. */
  skipped: { statement: string; reason: string }[]
}

/** A few retries of an unreachable server, not the client library's ten minutes. */
const RETRIES = { maxRetries: 3 }

/** The instance configuration every emulator offers. */
const EMULATOR_CONFIG = 'emulator-config'

/**
 * Readies a Spanner database for the server: on an emulator, creates the instance and database
 * when missing; everywhere, applies the statements of schema.ddl the database lacks. Running it
 * again changes nothing.
 */
export async function prepareSpanner(location: SpannerLocation, options: SpannerOptions): Promise<PrepareReport> {
  const { instances, databases, close } = await adminClients(location.project, options)
  const report: PrepareReport = { created: [], applied: [], skipped: [] }
  try {
    const instanceName = `projects/${location.project}/instances/${location.instance}`
    if (options.emulatorHost !== undefined && !(await exists(() => instances.getInstance({ name: instanceName }, RETRIES)))) {
      const [operation] = await instances.createInstance({
        parent: `projects/${location.project}`,
        instanceId: location.instance,
        instance: { config: `projects/${location.project}/instanceConfigs/${EMULATOR_CONFIG}`, nodeCount: 1, displayName: location.instance },
      }, RETRIES)
      await operation.promise()
      report.created.push(`instance ${instanceName}`)
    }
    if (!(await exists(() => databases.getDatabase({ name: location.name }, RETRIES)))) {
      const [operation] = await databases.createDatabase({ parent: instanceName, createStatement: `CREATE DATABASE \`${location.database}\`` }, RETRIES)
      await operation.promise()
      report.created.push(`database ${location.name}`)
    }
    const [{ statements: current }] = await databases.getDatabaseDdl({ database: location.name }, RETRIES)
    const missing = missingStatements(schemaStatements(), current ?? [])
    const required = missing.filter((statement) => !isAccessControl(statement))
    if (required.length > 0) {
      const [operation] = await databases.updateDatabaseDdl({ database: location.name, statements: required }, RETRIES)
      await operation.promise()
      report.applied.push(...required)
    }
    // One at a time: emulators before 1.5.41 refuse them, and the server works without them.
    for (const statement of missing.filter(isAccessControl)) {
      try {
        const [operation] = await databases.updateDatabaseDdl({ database: location.name, statements: [statement] }, RETRIES)
        await operation.promise()
        report.applied.push(statement)
      } catch (error) {
        if (options.emulatorHost === undefined || !/Unsupported ddl statement/i.test(grpcDetails(error))) throw error
        report.skipped.push({ statement, reason: grpcDetails(error) })
      }
    }
    return report
  } catch (error) {
    throw new Error(explain(error, location, options))
  } finally {
    await close()
  }
}

async function exists(get: () => Promise<unknown>): Promise<boolean> {
  try {
    await get()
    return true
  } catch (error) {
    if (grpcCode(error) === GrpcCode.NOT_FOUND) return false
    throw error
  }
}

/** A failure as a sentence that names the fix. */
function explain(error: unknown, location: SpannerLocation, options: SpannerOptions): string {
  const details = grpcDetails(error)
  const code = grpcCode(error)
  const where = options.emulatorHost === undefined ? 'Cloud Spanner' : `the Spanner emulator at ${options.emulatorHost}`
  if (/Could not load the default credentials|default credentials/i.test(details)) {
    return `no Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service account key file (or run \`gcloud auth application-default login\`), or set spanner_emulator_host (SYNC_SYNCSTORAGE__SPANNER_EMULATOR_HOST) for an emulator (${details})`
  }
  if (code === GrpcCode.UNAUTHENTICATED) {
    return `${where} rejected the credentials: check GOOGLE_APPLICATION_CREDENTIALS (${details})`
  }
  if (code === GrpcCode.PERMISSION_DENIED) {
    return `permission denied on ${location.name}: the account of GOOGLE_APPLICATION_CREDENTIALS needs the Cloud Spanner Database Admin role (roles/spanner.databaseAdmin) (${details})`
  }
  if (code === GrpcCode.NOT_FOUND && /instance/i.test(details)) {
    return `no Spanner instance projects/${location.project}/instances/${location.instance}: create it first (gcloud spanner instances create ${location.instance} --config=… --description=…) or correct the database URL (${details})`
  }
  // After its retries the client reports the last UNAVAILABLE inside its own message.
  if (code === GrpcCode.UNAVAILABLE || /\b14 UNAVAILABLE\b/.test(details)) {
    const check = options.emulatorHost === undefined ? 'check the network' : 'is the emulator running, and is that its gRPC port (not the REST one)?'
    return `cannot reach ${where}: ${check} (${/Last error: ([^.]*)/.exec(details)?.[1] ?? details})`
  }
  return `preparing ${location.name} failed: ${details}`
}
