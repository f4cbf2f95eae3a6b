import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfiguration, loadSettings, settingsFromEnv } from './load.ts'
import { resolveSettings, settingWarnings } from './settings.ts'

const tomlFile = (text: string) => {
  const path = join(mkdtempSync(join(tmpdir(), 'syncserver-config-')), 'config.toml')
  writeFileSync(path, text)
  return path
}

describe('settings loading', () => {
  test('SYNC_ variables nest on double underscores, case-insensitively', () => {
    expect(settingsFromEnv({ SYNC_SYNCSTORAGE__LIMITS__MAX_POST_BYTES: '5', sync_host: 'h', OTHER: 'x' }).tree).toEqual({
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

  test('actix_keep_alive above what Bun can time is refused with the range, not left to Bun.serve', async () => {
    expect((await loadSettings({ env: { SYNC_ACTIX_KEEP_ALIVE: '248' } })).actix_keep_alive).toBe(248)
    await expect(loadSettings({ env: { SYNC_ACTIX_KEEP_ALIVE: '300' } })).rejects.toThrow(
      'invalid setting actix_keep_alive (SYNC_ACTIX_KEEP_ALIVE): expected a whole number of seconds from 1 to 248, got 300',
    )
  })

  test('a missing config file is a clear error', async () => {
    await expect(loadSettings({ configFile: '/nonexistent/syncserver.toml', env: {} })).rejects.toThrow('does not exist')
  })
})

describe('misspelled and unknown settings', () => {
  const refusal = (text: string) => loadSettings({ configFile: tomlFile(text), env: {} }).catch((error: unknown) => (error as Error).message)

  test('an unknown TOML key is an error naming its line and the closest setting', async () => {
    expect(await refusal('prot = 9\n')).toMatch(/^unknown setting prot; did you mean port\? \(.*config\.toml line 1\)$/)
    expect(await refusal('port = 8000\n[syncstorage]\ndatabse_url = "sqlite:///x.db"\n')).toContain(
      'unknown setting syncstorage.databse_url; did you mean syncstorage.database_url?',
    )
    expect(await refusal('port = 8000\n[syncstorage]\ndatabse_url = "x"\n')).toContain('line 3')
    expect(await refusal('[tokenserver]\nallowed_email = ["me@example.com"]\n')).toContain('did you mean tokenserver.allowed_emails?')
    // The right name in the wrong table.
    expect(await refusal('database_url = "sqlite:///x.db"\n')).toContain('did you mean syncstorage.database_url?')
  })

  test('[[tokenserver]] (an array of tables) is refused with the spelling that works', async () => {
    expect(await refusal('[[tokenserver]]\nallowed_fxa_uids = ["abc"]\n')).toContain('write [tokenserver], not [[tokenserver]]')
  })

  test('a TOML syntax error names its line', async () => {
    expect(await refusal('port = 8000\nhost = \n')).toMatch(/line 2 is not valid TOML/)
  })

  test('an unknown SYNC_* variable is a warning naming the closest variable, and is ignored', async () => {
    const loaded = await loadConfiguration({
      env: { SYNC_SYNCSTORAGE_DATABASE_URL: 'postgres://x/y', SYNC_TOKENSERVER__ALLOWED_EMAIL: 'me@example.com', SYNC_PORT: '9000' },
    })
    expect(loaded.warnings).toEqual([
      'environment variable SYNC_SYNCSTORAGE_DATABASE_URL is not a setting and is ignored; did you mean SYNC_SYNCSTORAGE__DATABASE_URL?',
      'environment variable SYNC_TOKENSERVER__ALLOWED_EMAIL is not a setting and is ignored; did you mean SYNC_TOKENSERVER__ALLOWED_EMAILS?',
    ])
    expect(loaded.settings.port).toBe(9000)
    expect(loaded.settings.syncstorage.database_url).toBe('sqlite:///syncserver.db')
  })

  test('each setting knows where it came from: file line, variable or flag', async () => {
    const configFile = tomlFile('port = 9000\n[tokenserver]\nallow_new_users = false\n')
    const loaded = await loadConfiguration({
      configFile,
      env: { SYNC_HOST: '::1' },
      overrides: { values: { port: '9001' }, sources: new Map([['port', '--port']]) },
    })
    expect(loaded.settings.port).toBe(9001)
    expect(Object.fromEntries(loaded.sources)).toEqual({ port: '--port', 'tokenserver.allow_new_users': `${configFile} line 3`, host: 'SYNC_HOST' })
  })

  test('database URLs of no accepted form and public URLs with a query are refused at start', async () => {
    await expect(loadSettings({ env: { SYNC_SYNCSTORAGE__DATABASE_URL: 'mysql:/x' } })).rejects.toThrow(
      'invalid setting syncstorage.database_url (SYNC_SYNCSTORAGE__DATABASE_URL): expected sqlite:///relative.db',
    )
    await expect(loadSettings({ env: { SYNC_TOKENSERVER__DATABASE_URL: 'postgres:sync' } })).rejects.toThrow('tokenserver.database_url')
    await expect(loadSettings({ env: { SYNC_PUBLIC_URL: 'https://sync.example.com/?x=1' } })).rejects.toThrow('without ?query')
  })

  test('settings that load but mislead are warned about: sqlite:///var/…, 0.0.0.0 without public_url', async () => {
    const raw = await loadSettings({ env: { SYNC_SYNCSTORAGE__DATABASE_URL: 'sqlite:///var/lib/sync.db', SYNC_HOST: '0.0.0.0' } })
    const [sqlite, host] = settingWarnings(raw, '/srv/app')
    expect(sqlite).toContain('the database is /srv/app/var/lib/sync.db')
    expect(sqlite).toContain('write sqlite:////var/lib/sync.db')
    expect(host).toContain('set public_url (SYNC_PUBLIC_URL)')
    expect(settingWarnings(await loadSettings({ env: {} }))).toEqual([])
  })

  test('log_level and log_requests are settings; human_logs is unset unless given', async () => {
    const settings = await loadSettings({ env: { SYNC_LOG_LEVEL: 'warn', SYNC_LOG_REQUESTS: 'false' } })
    expect([settings.log_level, settings.log_requests, settings.human_logs]).toEqual(['warn', false, undefined])
    await expect(loadSettings({ env: { SYNC_LOG_LEVEL: 'loud' } })).rejects.toThrow('expected debug, info, warn or error')
  })
})

describe('derived settings', () => {
  test('an IPv6 bind address gives a bracketed public URL', async () => {
    const settings = await resolveSettings(await loadSettings({ env: { SYNC_HOST: '::1', SYNC_MASTER_SECRET: 'a secret of some length, long enough' } }))
    expect(settings.public_url).toBe('http://[::1]:8000')
  })

  test('a master secret shorter than 32 characters is refused, whatever the command, and so is a short previous one', async () => {
    const long = 'z'.repeat(32)
    for (const secret of ['none', 'read', 'create'] as const) {
      const raw = await loadSettings({ env: { SYNC_SYNCSTORAGE__DATABASE_URL: 'sqlite://:memory:', SYNC_MASTER_SECRET: 'z'.repeat(31) } })
      await expect(resolveSettings(raw, { secret })).rejects.toThrow('setting master_secret (SYNC_MASTER_SECRET) has 31 characters, too few to be safe')
    }
    const rotated = await loadSettings({ env: { SYNC_SYNCSTORAGE__DATABASE_URL: 'sqlite://:memory:', SYNC_MASTER_SECRET: long, SYNC_PREVIOUS_MASTER_SECRETS: `${long},secret0` } })
    await expect(resolveSettings(rotated)).rejects.toThrow('a secret in previous_master_secrets (SYNC_PREVIOUS_MASTER_SECRETS) has 7 characters')
    const raw = await loadSettings({ env: { SYNC_SYNCSTORAGE__DATABASE_URL: 'sqlite://:memory:', SYNC_MASTER_SECRET: long } })
    expect((await resolveSettings(raw)).master_secret).toBe(long)
  })

  test('commands that do not sign tokens run without master_secret on PostgreSQL', async () => {
    const raw = await loadSettings({ env: { SYNC_SYNCSTORAGE__DATABASE_URL: 'postgres://localhost/sync' } })
    expect((await resolveSettings(raw, { secret: 'none' })).masterSecretSource).toBe('unneeded')
  })

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
    expect(first.masterSecretFile).toBe(`${dir}/s.db.secret`)
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
