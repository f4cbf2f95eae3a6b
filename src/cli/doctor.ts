import { explainDatabaseError, type DatabaseSetting } from '../config/database-errors.ts'
import { resolveSettings, type Settings } from '../config/settings.ts'
import { openStorage, openTokenserverDb } from '../db/open.ts'
import { spannerOptions } from '../db/spanner/settings.ts'
import { SYNC_SERVICE } from '../db/tokenserver-types.ts'
import { parseDatabaseUrl } from '../db/url.ts'
import { describeDatabase } from './banner.ts'
import type { Command } from './command.ts'
import { CONFIG_OPTION } from './command.ts'
import { loadFor, SETTING_FLAGS } from './settings-input.ts'

type Verdict = 'ok' | 'warn' | 'FAIL'

interface Finding {
  verdict: Verdict
  check: string
  detail: string
  /** What to do, for warn and FAIL. */
  fix?: string
}

/** Clocks further apart than this break token expiry and Hawk timestamps (60 s skew allowed). */
const MAX_CLOCK_SKEW_MS = 30_000

/**
 * `syncserver doctor`: checks what would stop Firefox from syncing through this server, with the
 * fix for each problem. Writes nothing: databases are opened without migrating them.
 */
export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check the settings, databases, node, public URL and clock, and print the fix for each problem',
  options: [CONFIG_OPTION, ...SETTING_FLAGS],
  async run(input) {
    const findings: Finding[] = []
    const report = (finding: Finding) => {
      findings.push(finding)
      console.log(`${finding.verdict.padEnd(4)}  ${finding.check}: ${finding.detail}${finding.fix ? `\n      fix: ${finding.fix}` : ''}`)
    }
    let settings: Settings
    try {
      const loaded = await loadFor(input)
      for (const warning of loaded.warnings) report({ verdict: 'warn', check: 'settings', detail: warning })
      settings = await resolveSettings(loaded.settings, { secret: 'read' })
      report({ verdict: 'ok', check: 'settings', detail: `loaded; Firefox is told ${settings.public_url}/1.0/sync/1.5` })
    } catch (error) {
      report({ verdict: 'FAIL', check: 'settings', detail: (error as Error).message })
      return 1
    }
    if (settings.syncstorage.enabled) report(await checkStorage(settings))
    if (settings.tokenserver.enabled) for (const finding of await checkTokenserver(settings)) report(finding)
    for (const finding of await checkPublicUrl(settings)) report(finding)
    report(await checkFxaClock(settings))
    const failed = findings.filter((finding) => finding.verdict === 'FAIL').length
    console.log(failed === 0 ? '\nno problems found' : `\n${failed} problem(s) found`)
    return failed === 0 ? 0 : 1
  },
}

/** SQLite files are not created by a check: a missing one is what a first start creates. */
async function notCreatedYet(url: string): Promise<boolean> {
  const location = parseDatabaseUrl(url)
  return location.engine === 'sqlite' && location.path !== ':memory:' && !(await Bun.file(location.path).exists())
}

async function checkDatabase(
  setting: DatabaseSetting,
  url: string,
  runMigrations: boolean,
  open: () => Promise<{ check(): Promise<boolean>; close(): Promise<void> }>,
): Promise<Finding> {
  const check = setting === 'syncstorage.database_url' ? 'storage database' : 'tokenserver database'
  if (await notCreatedYet(url)) {
    return { verdict: 'ok', check, detail: `${describeDatabase(url)} does not exist yet; serve creates it at first start` }
  }
  try {
    const db = await open()
    try {
      return (await db.check())
        ? { verdict: 'ok', check, detail: `${describeDatabase(url)} answers; schema up to date` }
        : { verdict: 'FAIL', check, detail: `${describeDatabase(url)} does not answer its health query` }
    } finally {
      await db.close()
    }
  } catch (error) {
    const message = (error as Error).message
    if (/pending migration/.test(message)) {
      return runMigrations
        ? { verdict: 'ok', check, detail: `${describeDatabase(url)}: ${message.replace(/; run .*$/, '')}; serve applies them at start` }
        : { verdict: 'FAIL', check, detail: message, fix: 'run `syncserver migrate` (with the same settings)' }
    }
    const explained = explainDatabaseError(setting, url, error).message
    const [detail, fix] = explained.split('. Fix: ')
    return { verdict: 'FAIL', check, detail: detail as string, ...(fix ? { fix } : {}) }
  }
}

function checkStorage(settings: Settings): Promise<Finding> {
  const { database_url: url, run_migrations: runMigrations } = settings.syncstorage
  return checkDatabase('syncstorage.database_url', url, runMigrations, () =>
    openStorage(url, { runMigrations: false, spanner: spannerOptions(settings.syncstorage) }),
  )
}

async function checkTokenserver(settings: Settings): Promise<Finding[]> {
  const { database_url: url, run_migrations: runMigrations } = settings.tokenserver
  const findings = [await checkDatabase('tokenserver.database_url', url, runMigrations, () => openTokenserverDb(url, { runMigrations: false }))]
  if (findings[0]?.verdict !== 'ok' || (await notCreatedYet(url))) return findings
  const db = await openTokenserverDb(url, { runMigrations: false }).catch(() => undefined)
  if (db === undefined) return findings
  try {
    const service = await db.serviceId(SYNC_SERVICE)
    const nodes = service === null ? [] : await db.listNodes(service)
    const expected = settings.tokenserver.init_node_url
    if (!settings.syncstorage.enabled) return findings
    if (nodes.length === 0) {
      findings.push({ verdict: 'ok', check: 'storage node', detail: `none yet; serve registers ${expected} at start` })
    } else if (nodes.some((node) => node.node === expected)) {
      findings.push({ verdict: 'ok', check: 'storage node', detail: `Firefox is sent to ${expected}` })
    } else {
      findings.push({
        verdict: 'FAIL',
        check: 'storage node',
        detail: `Firefox is sent to ${nodes.map((node) => node.node).join(', ')}, not to this server's ${expected}`,
        fix: nodes.map((node) => `syncserver nodes update ${node.node} --move-to ${expected}`).join('  or  '),
      })
    }
  } finally {
    await db.close()
  }
  return findings
}

async function checkPublicUrl(settings: Settings): Promise<Finding[]> {
  const url = `${settings.public_url}/__heartbeat__`
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
    const body = (await response.json().catch(() => null)) as { status?: string } | null
    if (body === null || body.status === undefined) {
      return [{ verdict: 'FAIL', check: 'public URL', detail: `${url} answered ${response.status}, but not as a syncserver`, fix: 'point public_url (or your proxy) at this server' }]
    }
    const findings: Finding[] = [
      response.ok
        ? { verdict: 'ok', check: 'public URL', detail: `${url} answers ${response.status} (${body.status})` }
        : { verdict: 'FAIL', check: 'public URL', detail: `${url} answers ${response.status}: ${JSON.stringify(body)}`, fix: 'see the server log for the failing database' },
    ]
    const date = Date.parse(response.headers.get('date') ?? '')
    if (!Number.isNaN(date) && Math.abs(date - Date.now()) > MAX_CLOCK_SKEW_MS + 1000) {
      findings.push({ verdict: 'FAIL', check: 'clock', detail: `the server at ${settings.public_url} is ${Math.round((date - Date.now()) / 1000)} s off this machine`, fix: 'enable time synchronisation (NTP) on both machines' })
    }
    return findings
  } catch (error) {
    return [
      {
        verdict: 'FAIL',
        check: 'public URL',
        detail: `nothing answers at ${url} (${(error as Error).message})`,
        fix: 'start the server (syncserver serve); if it runs, make public_url the address your devices use, and check the proxy or firewall in between',
      },
    ]
  }
}

/** Tokens carry times; a clock far from Firefox Accounts' makes every sign-in fail. */
async function checkFxaClock(settings: Settings): Promise<Finding> {
  const url = settings.tokenserver.fxa_oauth_server_url
  const sent = Date.now()
  try {
    const response = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(5000) })
    const date = Date.parse(response.headers.get('date') ?? '')
    if (Number.isNaN(date)) return { verdict: 'warn', check: 'clock', detail: `${url} sent no Date header to compare with` }
    const skew = date - (sent + Date.now()) / 2
    return Math.abs(skew) <= MAX_CLOCK_SKEW_MS
      ? { verdict: 'ok', check: 'clock', detail: `within ${Math.ceil(Math.abs(skew) / 1000)} s of ${url}` }
      : { verdict: 'FAIL', check: 'clock', detail: `${Math.round(skew / 1000)} s off ${url}`, fix: 'enable time synchronisation: timedatectl set-ntp true (or install chrony)' }
  } catch (error) {
    return {
      verdict: 'warn',
      check: 'clock',
      detail: `could not reach ${url} to compare clocks (${(error as Error).message})`,
      fix: 'the server must reach Firefox Accounts to verify sign-ins: check DNS and outbound HTTPS',
    }
  }
}
