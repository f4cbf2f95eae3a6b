import type { Spanner } from '@google-cloud/spanner'
import type { SpannerOptions } from './settings.ts'

/**
 * A client of Google's `@google-cloud/spanner`, loaded only when a Spanner URL is used (its
 * import takes ~200 ms and ~18 MB); a compiled binary needs the bun patch in patches/, which
 * also drops the SIGINT/SIGTERM handlers its import would install (see the README).
 */
export async function openSpanner(project: string, options: SpannerOptions): Promise<Spanner> {
  const [{ Spanner }, emulator] = await Promise.all([import('@google-cloud/spanner'), emulatorOptions(options)])
  return new Spanner({
    ...emulator,
    // The project of the database URL, not the credentials' default one.
    projectId: project,
    routeToLeaderEnabled: options.routeToLeader,
    // The library would export its own metrics to Cloud Monitoring (another permission, another
    // API); the server reports its own.
    disableBuiltInMetrics: true,
    // Handed to the library's gRPC clients (ClientOptions), though its own type does not say so.
    ...{ clientConfig: FEW_RETRIES_OF_CREATE_SESSION },
  })
}

/**
 * The library creates its multiplexed session with no call options of ours, and Google's
 * defaults retry an unreachable Spanner for 30 s: ten seconds of retries, then the server
 * says it cannot open the database (at start) or answers 503.
 */
const FEW_RETRIES_OF_CREATE_SESSION = {
  interfaces: {
    'google.spanner.v1.Spanner': {
      retry_codes: { unavailable: ['UNAVAILABLE'] },
      retry_params: {
        few: {
          initial_retry_delay_millis: 250,
          retry_delay_multiplier: 2,
          max_retry_delay_millis: 2_000,
          initial_rpc_timeout_millis: 10_000,
          rpc_timeout_multiplier: 1,
          max_rpc_timeout_millis: 10_000,
          total_timeout_millis: 10_000,
        },
      },
      methods: { CreateSession: { timeout_millis: 10_000, retry_codes_name: 'unavailable', retry_params_name: 'few' } },
    },
  },
}

/** The library's clients for instances and schemas, and what closes them. */
export async function adminClients(project: string, options: SpannerOptions) {
  const spanner = await openSpanner(project, options)
  return { instances: spanner.getInstanceAdminClient(), databases: spanner.getDatabaseAdminClient(), close: () => spanner.close() }
}

/**
 * The emulator's address as client options, rather than the library's process-wide
 * SPANNER_EMULATOR_HOST: plaintext, and a universe domain so the auth library does not probe
 * for Google Cloud metadata (a warning and a delay). The insecure credentials must come from the
 * gRPC library the client uses, the one google-gax carries.
 */
async function emulatorOptions(options: SpannerOptions): Promise<object> {
  if (options.emulatorHost === undefined) return {}
  const { grpc } = await import('google-gax')
  const { host, port } = emulatorAddress(options.emulatorHost)
  return { servicePath: host, port, sslCreds: grpc.credentials.createInsecure(), universeDomain: 'googleapis.com' }
}

/** `host:port` of spanner_emulator_host; a URL (the emulator's REST address) is a mistake. */
export function emulatorAddress(value: string): { host: string; port: number } {
  if (/^[a-z]+:\/\//i.test(value)) {
    throw new Error(
      `spanner_emulator_host must be the emulator's gRPC host:port (e.g. 127.0.0.1:9010), not a URL: "${value}"`,
    )
  }
  const at = value.lastIndexOf(':')
  const port = Number(value.slice(at + 1))
  if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`spanner_emulator_host must be host:port (e.g. 127.0.0.1:9010), got "${value}"`)
  }
  return { host: value.slice(0, at), port }
}

/** gRPC status codes this backend tells apart. */
export const GrpcCode = {
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const

export const grpcCode = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'number' ? code : undefined
}

/** The server's own words, without gRPC's "5 NOT_FOUND: " prefix. */
export const grpcDetails = (error: unknown): string =>
  String((error as { details?: unknown } | null)?.details ?? (error as Error)?.message ?? error)
