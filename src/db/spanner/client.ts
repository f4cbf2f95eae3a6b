import type { ClientOptions } from 'google-gax'
import type { SpannerOptions } from './settings.ts'

/**
 * The Spanner API through Google's generated gRPC clients (`@google-cloud/spanner-api`, the
 * layer `@google-cloud/spanner` itself is built on). Its high-level `Database` API does not fit:
 * it always uses one multiplexed session (which emulator 1.5.28 does not support: overlapping
 * transactions invalidate each other), retries aborted transactions where syncstorage-rs
 * answers 503, installs signal handlers that keep the process alive, and reads files at import
 * time that a compiled binary does not have. Loaded only when a Spanner URL is used (~200 ms).
 */
export async function clientOptions(options: SpannerOptions): Promise<ClientOptions> {
  if (options.emulatorHost === undefined) return { 'grpc.keepalive_time_ms': 120_000 } as ClientOptions
  const { grpc } = await import('google-gax')
  const { host, port } = emulatorAddress(options.emulatorHost)
  return {
    servicePath: host,
    port,
    sslCreds: grpc.credentials.createInsecure(),
    // Without these the auth library probes for Google Cloud metadata (a warning and a delay).
    projectId: 'emulator',
    universeDomain: 'googleapis.com',
  }
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

export async function spannerClient(options: SpannerOptions) {
  const { SpannerClient } = await import('@google-cloud/spanner-api/build/src/v1/spanner_client.js')
  return new SpannerClient(await clientOptions(options))
}

export async function adminClients(options: SpannerOptions) {
  const [{ InstanceAdminClient }, { DatabaseAdminClient }, settings] = await Promise.all([
    import('@google-cloud/spanner-api/build/src/v1/instance_admin_client.js'),
    import('@google-cloud/spanner-api/build/src/v1/database_admin_client.js'),
    clientOptions(options),
  ])
  return { instances: new InstanceAdminClient(settings), databases: new DatabaseAdminClient(settings) }
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
