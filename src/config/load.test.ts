import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadSettings, settingsFromEnv } from './load.ts'
import { resolveSettings } from './settings.ts'

const tomlFile = (text: string) => {
  const path = join(mkdtempSync(join(tmpdir(), 'syncserver-config-')), 'config.toml')
  writeFileSync(path, text)
  return path
}

describe('settings loading', () => {
  test('SYNC_ variables nest on double underscores, case-insensitively', () => {
    expect(settingsFromEnv({ SYNC_SYNCSTORAGE__LIMITS__MAX_POST_BYTES: '5', sync_host: 'h', OTHER: 'x' })).toEqual({
      syncstorage: { limits: { max_post_bytes: '5' } },
      host: 'h',
    })
  })

  test('with nothing configured the defaults of the spec apply', async () => {
    const settings = await loadSettings({ env: {} })
    expect(settings.host).toBe('127.0.0.1')
    expect(settings.port).toBe(8000)
    expect(settings.syncstorage.limits.max_request_bytes).toBe(2_625_536)
    expect(settings.syncstorage.limits.max_total_bytes).toBe(262_144_000)
    expect(settings.syncstorage.limits.max_quota_limit).toBe(2_097_152_000)
    expect(settings.tokenserver.token_duration).toBe(3600)
  })

  test('environment values are coerced and override the TOML file', async () => {
    const configFile = tomlFile('port = 9000\nhuman_logs = true\n[syncstorage]\nenable_quota = 1\n[syncstorage.limits]\nmax_post_records = 50\n')
    const settings = await loadSettings({ configFile, env: { SYNC_SYNCSTORAGE__LIMITS__MAX_POST_RECORDS: '20', SYNC_HUMAN_LOGS: 'false' } })
    expect(settings.port).toBe(9000)
    expect(settings.human_logs).toBe(false)
    expect(settings.syncstorage.enable_quota).toBe(true)
    expect(settings.syncstorage.limits.max_post_records).toBe(20)
  })

  test('limits.collections is a JSON string whose names and values are checked', async () => {
    const ok = await loadSettings({ env: { SYNC_SYNCSTORAGE__LIMITS__COLLECTIONS: '{"history":{"max_post_bytes":10}}' } })
    expect(ok.syncstorage.limits.collections).toEqual({ history: { max_post_bytes: 10 } })
    await expect(loadSettings({ env: { SYNC_SYNCSTORAGE__LIMITS__COLLECTIONS: '{"bad name!":{"max_post_bytes":10}}' } })).rejects.toThrow(ConfigError)
    await expect(loadSettings({ env: { SYNC_SYNCSTORAGE__LIMITS__COLLECTIONS: '{"history":{"max_post_bytes":0}}' } })).rejects.toThrow(ConfigError)
  })

  test('JWKs are read from nested variables and FXA_CREATED_AT is accepted', async () => {
    const settings = await loadSettings({
      env: {
        SYNC_TOKENSERVER__FXA_OAUTH_PRIMARY_JWK__KTY: 'RSA',
        SYNC_TOKENSERVER__FXA_OAUTH_PRIMARY_JWK__N: 'abc',
        SYNC_TOKENSERVER__FXA_OAUTH_PRIMARY_JWK__E: 'AQAB',
        SYNC_TOKENSERVER__FXA_OAUTH_PRIMARY_JWK__FXA_CREATED_AT: '1234',
      },
    })
    expect(settings.tokenserver.fxa_oauth_primary_jwk).toMatchObject({ kty: 'RSA', n: 'abc', e: 'AQAB' })
  })

  test('a bad value names the setting, its variable and the expected form', async () => {
    const error = await loadSettings({ env: { SYNC_PORT: 'eighty' } }).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toBe('invalid setting port (SYNC_PORT): expected a port number (0-65535; 0 picks a free one), got "eighty"')
  })

  test('a missing config file is a clear error', async () => {
    await expect(loadSettings({ configFile: '/nonexistent/syncserver.toml', env: {} })).rejects.toThrow('does not exist')
  })
})

describe('derived settings', () => {
  test('the tokenserver uses the storage database and the public URL as its node by default', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncserver-settings-'))
    const raw = await loadSettings({ env: { SYNC_SYNCSTORAGE__DATABASE_URL: `sqlite:///${dir}/s.db`, SYNC_PORT: '8123' } })
    const settings = await resolveSettings(raw)
    expect(settings.tokenserver.database_url).toBe(`sqlite:///${dir}/s.db`)
    expect(settings.tokenserver.init_node_url).toBe('http://127.0.0.1:8123')
    expect(settings.tokenserver.node_type).toBe('sqlite')
  })

  test('without master_secret on SQLite a secret is generated once and kept beside the database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncserver-secret-'))
    const raw = await loadSettings({ env: { SYNC_SYNCSTORAGE__DATABASE_URL: `sqlite:///${dir}/s.db` } })
    const first = await resolveSettings(raw)
    const second = await resolveSettings(raw)
    expect(first.masterSecretSource).toBe('generated')
    expect(second.masterSecretSource).toBe('stored')
    expect(second.master_secret).toBe(first.master_secret)
    expect((await Bun.file(`${dir}/s.db.secret`).stat()).mode & 0o777).toBe(0o600)
  })

  test('a server database other than SQLite requires master_secret', async () => {
    const raw = await loadSettings({ env: { SYNC_SYNCSTORAGE__DATABASE_URL: 'postgres://localhost/sync' } })
    await expect(resolveSettings(raw)).rejects.toThrow('master_secret')
  })
})
