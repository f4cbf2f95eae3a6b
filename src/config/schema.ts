import * as v from 'valibot'

/**
 * The settings schema, key for key the names of syncstorage-rs (../shared/spec/config.md), so the
 * same TOML file and SYNC_* environment work for both servers. Values from the environment
 * arrive as strings; the field helpers below coerce them, as the reference does.
 * Defaults that differ from syncstorage-rs are marked "ours" and listed in the README.
 */

const expects = (form: string) => `expected ${form}`

const integer = (form: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  v.pipe(
    v.union([v.number(), v.pipe(v.string(), v.trim(), v.regex(/^-?\d+$/, expects(form)))], expects(form)),
    v.transform(Number),
    v.integer(expects(form)),
    v.minValue(min, expects(form)),
    v.maxValue(max, expects(form)),
  )

const positiveInt = integer('a positive integer', 1)
const nonNegativeInt = integer('a non-negative integer', 0)
const port = integer('a port number (0-65535; 0 picks a free one)', 0, 65535)

/**
 * The longest idle timeout Bun can keep: its connection timer takes at most 255 s and moves in
 * 4 s steps, and src/server.ts arms it one step beyond the setting so it never closes early.
 */
export const MAX_KEEP_ALIVE_SECONDS = 248

const decimal = (form: string) =>
  v.pipe(
    v.union([v.number(), v.pipe(v.string(), v.trim(), v.regex(/^-?\d+(\.\d+)?$/, expects(form)))], expects(form)),
    v.transform(Number),
  )

const flag = v.pipe(
  v.union(
    [v.boolean(), v.picklist(['true', 'false', '1', '0', 'True', 'False', 'TRUE', 'FALSE']), v.picklist([0, 1])],
    expects('true or false'),
  ),
  v.transform((value) => value === true || value === 1 || String(value).toLowerCase() === 'true' || value === '1'),
)

const text = v.string(expects('a string'))

const httpUrl = v.pipe(
  v.string(expects('an http:// or https:// URL')),
  v.url(expects('an http:// or https:// URL')),
  v.regex(/^https?:\/\//i, expects('an http:// or https:// URL')),
  // Clients append paths to it; a query or fragment would end up in the middle of every URL.
  v.regex(/^[^?#]*$/, expects('an http:// or https:// URL without ?query or #fragment')),
  v.transform((url) => url.replace(/\/+$/, '')),
)

/**
 * A database URL whose form is checked at start, so `mysql:/x` or `postgres:db` fail with the
 * forms we accept instead of a driver error later. (db/url.ts decides what each form means.)
 */
const databaseUrl = v.pipe(
  text,
  v.check(
    (url) => url === '' || /^sqlite:./i.test(url) || /^(postgres|postgresql|mysql|mariadb|spanner):\/\/[^/]/i.test(url),
    expects('sqlite:///relative.db, sqlite:////absolute.db, postgres://user@host/db, mysql://user@host/db or spanner://projects/…'),
  ),
)

const logLevel = v.picklist(['debug', 'info', 'warn', 'error'], expects('debug, info, warn or error'))

const stringList = v.union(
  [
    v.array(v.string()),
    v.pipe(
      v.string(),
      v.transform((value) =>
        value
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item !== ''),
      ),
    ),
  ],
  expects('a list of strings (comma-separated in the environment)'),
)

const COLLECTION_NAME = /^[a-zA-Z0-9._-]{1,32}$/

const collectionLimits = v.pipe(
  v.union([v.string(), v.record(v.string(), v.unknown())], expects('a JSON object string')),
  v.transform((value, ) => (typeof value === 'string' ? safeJson(value) : value)),
  v.record(
    v.pipe(v.string(), v.regex(COLLECTION_NAME, expects('collection names matching [a-zA-Z0-9._-]{1,32}'))),
    v.strictObject(
      {
        max_record_payload_bytes: v.optional(positiveInt),
        max_post_bytes: v.optional(positiveInt),
        max_request_bytes: v.optional(positiveInt),
      },
      expects('only max_record_payload_bytes, max_post_bytes, max_request_bytes (each > 0)'),
    ),
    expects('a JSON object {"<collection>": {"max_post_bytes": n, ...}}'),
  ),
)

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value)
  } catch {
    return value
  }
}

const jwk = v.object({
  kty: v.literal('RSA', expects('kty "RSA"')),
  alg: v.optional(text, 'RS256'),
  kid: v.optional(text),
  use: v.optional(text),
  n: text,
  e: text,
  // FxA publishes it; the reference accepts and ignores it.
  fxa_created_at: v.optional(v.unknown()),
})

const DEFAULT_MAX_POST_BYTES = 2_621_440

const limits = v.pipe(
  v.object({
    max_post_bytes: v.optional(positiveInt, DEFAULT_MAX_POST_BYTES),
    max_post_records: v.optional(positiveInt, 100),
    max_record_payload_bytes: v.optional(positiveInt, DEFAULT_MAX_POST_BYTES),
    max_request_bytes: v.optional(positiveInt),
    max_total_bytes: v.optional(positiveInt),
    max_total_records: v.optional(positiveInt, 10_000),
    max_quota_limit: v.optional(positiveInt, 2_097_152_000),
    collections: v.optional(collectionLimits),
  }),
  // The reference derives these two from max_post_bytes when they are not set.
  v.transform((l) => ({
    ...l,
    max_request_bytes: l.max_request_bytes ?? l.max_post_bytes + 4096,
    max_total_bytes: l.max_total_bytes ?? l.max_post_bytes * 100,
  })),
)

const syncstorage = v.object({
  enabled: v.optional(flag, true),
  // ours: SQLite's durability level (PRAGMA synchronous); see the README for what each risks.
  sqlite_synchronous: v.optional(
    v.pipe(
      v.string(),
      v.toLowerCase(),
      v.picklist(['off', 'normal', 'full', 'extra'], expects('one of off, normal, full, extra')),
    ),
    'full',
  ),
  // ours: the reference requires a URL; we default to an embedded SQLite file.
  database_url: v.optional(databaseUrl, 'sqlite:///syncserver.db'),
  database_pool_max_size: v.optional(positiveInt, 10),
  database_pool_connection_timeout: v.optional(positiveInt, 30),
  database_pool_connection_lifespan: v.optional(positiveInt),
  database_pool_connection_max_idle: v.optional(positiveInt),
  database_pool_sweeper_task_interval: v.optional(positiveInt, 30),
  database_spanner_route_to_leader: v.optional(flag, false),
  database_use_test_transactions: v.optional(flag, false),
  spanner_emulator_host: v.optional(text),
  // ours: the reference always migrates storage at start; this lets an operator forbid it.
  run_migrations: v.optional(flag, true),
  statsd_label: v.optional(text, 'syncstorage'),
  enable_quota: v.optional(flag, false),
  enforce_quota: v.optional(flag, false),
  glean_enabled: v.optional(flag, true),
  lbheartbeat_ttl: v.optional(positiveInt),
  lbheartbeat_ttl_jitter: v.optional(nonNegativeInt, 25),
  gcs_payload_bucket: v.optional(text),
  gcs_payload_offload_collections: v.optional(stringList, []),
  gcs_payload_max_concurrency: v.optional(positiveInt, 4),
  gcs_endpoint: v.optional(text),
  limits: v.optional(limits, {}),
  // ours: the background purge of expired records and batches (seconds between runs; 0 = off).
  purge_ttl_interval: v.optional(nonNegativeInt, 3600),
  // ours: rows one purge statement deletes at most.
  purge_ttl_chunk_size: v.optional(positiveInt, 1000),
})

const tokenserver = v.object({
  // ours: the reference defaults to false; a self-hosted Firefox needs it.
  enabled: v.optional(flag, true),
  // ours: empty means "the storage database".
  database_url: v.optional(databaseUrl, ''),
  database_pool_max_size: v.optional(positiveInt, 10),
  database_pool_connection_timeout: v.optional(positiveInt, 30),
  database_request_timeout: v.optional(positiveInt),
  // ours: the reference defaults to false; zero-config needs the tables created.
  run_migrations: v.optional(flag, true),
  // ours: production Firefox Accounts, which a self-hoster's Firefox uses.
  fxa_email_domain: v.optional(text, 'api.accounts.firefox.com'),
  fxa_oauth_server_url: v.optional(httpUrl, 'https://oauth.accounts.firefox.com'),
  fxa_oauth_request_timeout: v.optional(positiveInt, 10),
  fxa_oauth_primary_jwk: v.optional(jwk),
  fxa_oauth_secondary_jwk: v.optional(jwk),
  fxa_metrics_hash_secret: v.optional(text, 'secret'),
  // ours: derived from the storage database URL when unset.
  node_type: v.optional(v.picklist(['mysql', 'postgres', 'spanner', 'sqlite'], expects('mysql, postgres, spanner or sqlite'))),
  node_capacity_release_rate: v.optional(decimal('a number between 0 and 1'), 0.1),
  spanner_node_id: v.optional(nonNegativeInt),
  // ours: defaults to public_url so a fresh server assigns users to itself.
  init_node_url: v.optional(httpUrl),
  init_node_capacity: v.optional(positiveInt, 100_000),
  token_duration: v.optional(positiveInt, 3600),
  allow_new_users: v.optional(flag, true),
  // ours: access control beyond allow_new_users; empty lists allow everyone.
  allowed_emails: v.optional(stringList, []),
  allowed_fxa_uids: v.optional(stringList, []),
  additional_blocking_threads_for_fxa_requests: v.optional(nonNegativeInt, 1),
  statsd_label: v.optional(text, 'syncstorage.tokenserver'),
  fxa_webhook_enabled: v.optional(flag, false),
  fxa_webhook_metrics_only: v.optional(flag, false),
  fxa_webhook_set_client_id: v.optional(text),
  fxa_webhook_set_issuer: v.optional(text),
})

export const settingsSchema = v.object({
  host: v.optional(text, '127.0.0.1'),
  port: v.optional(port, 8000),
  // ours: the origin clients reach this server at (behind a proxy: the proxy's origin).
  public_url: v.optional(httpUrl),
  // ours: unset on SQLite means "generate once and keep it beside the database".
  master_secret: v.optional(v.pipe(text, v.minLength(1, expects('a non-empty string')))),
  // ours: older secrets whose tokens still verify after a rotation; master_secret signs new ones.
  previous_master_secrets: v.optional(v.pipe(stringList, v.everyItem((item) => item !== '', expects('non-empty strings'))), []),
  actix_keep_alive: v.optional(integer(`a whole number of seconds from 1 to ${MAX_KEEP_ALIVE_SECONDS}`, 1, MAX_KEEP_ALIVE_SECONDS)),
  // ours: unset means human-readable on a terminal, mozlog JSON otherwise.
  human_logs: v.optional(flag),
  // ours: the reference reads RUST_LOG.
  log_level: v.optional(logLevel, 'info'),
  // ours: one line per request (method, path, status, duration) at level info.
  log_requests: v.optional(flag, true),
  // ours: the longest an upload may take in all, however steadily its body arrives.
  upload_timeout: v.optional(positiveInt, 600),
  // ours: unset (the reference: localhost), so a server without a StatsD agent sends nothing.
  statsd_host: v.optional(text),
  statsd_port: v.optional(port, 8125),
  include_hostname_tag: v.optional(flag, false),
  // ours: a Prometheus /metrics endpoint on its own listener, off unless a port is set.
  prometheus_port: v.optional(port),
  prometheus_host: v.optional(text, '127.0.0.1'),
  environment: v.optional(text, 'dev'),
  cors_allowed_origin: v.optional(text, '*'),
  cors_max_age: v.optional(positiveInt, 1_728_000),
  cors_allowed_methods: v.optional(stringList, ['DELETE', 'GET', 'POST', 'PUT']),
  cors_allowed_headers: v.optional(stringList, [
    'Authorization',
    'Content-Type',
    'User-Agent',
    'x-last-modified',
    'x-weave-timestamp',
    'x-weave-next-offset',
    'x-weave-records',
    'x-weave-bytes',
    'x-weave-total-records',
    'x-weave-total-bytes',
    'x-verify-code',
    'TEST_IDLES',
  ]),
  worker_max_blocking_threads: v.optional(nonNegativeInt, 512),
  // ours: processes serving the port together; unset means one per CPU.
  workers: v.optional(positiveInt),
  syncstorage: v.optional(syncstorage, {}),
  tokenserver: v.optional(tokenserver, {}),
})

export type RawSettings = v.InferOutput<typeof settingsSchema>
export type StorageLimits = RawSettings['syncstorage']['limits']
export type CollectionLimitOverrides = NonNullable<StorageLimits['collections']>
export type Jwk = v.InferOutput<typeof jwk>
