/**
 * docs/systemd/syncserver.service: systemd itself parses it (`systemd-analyze verify` prints
 * nothing for a sound unit) and rates its exposure; the hardening the README promises is there.
 */
import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const UNIT = resolve(import.meta.dir, '../../docs/systemd/syncserver.service')
const ANALYZE = Bun.which('systemd-analyze')
if (ANALYZE === null) console.warn('systemd unit check skipped: systemd-analyze is not installed')

/** The unit as installed, except that ExecStart names an executable that exists here. */
function installedCopy(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'syncserver-unit-')), 'syncserver.service')
  writeFileSync(file, text.replaceAll('/usr/local/bin/syncserver', process.execPath))
  return file
}

function analyze(...args: string[]) {
  const result = Bun.spawnSync([ANALYZE as string, ...args], { stdout: 'pipe', stderr: 'pipe' })
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() }
}

describe.skipIf(ANALYZE === null)('systemd unit docs/systemd/syncserver.service', () => {
  const text = readFileSync(UNIT, 'utf8')

  test('passes systemd-analyze verify without a warning', () => {
    expect(analyze('verify', installedCopy(text))).toMatchObject({ code: 0, stderr: '' })
    // The check is real: a misspelt value is reported.
    expect(analyze('verify', installedCopy(text.replace('ProtectSystem=strict', 'ProtectSystem=strictt'))).stderr).toContain('strictt')
  })

  test('is rated at most 2.0 by systemd-analyze security', () => {
    const { stdout } = analyze('security', '--offline=true', '--no-pager', installedCopy(text))
    const level = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(stdout)?.[1])
    console.log(`systemd-analyze security: exposure ${level} (0 = fully locked down, 10 = unprotected)`)
    expect(level).toBeLessThanOrEqual(2)
  })

  test('runs as a dedicated user in its state directory, read-only elsewhere, restarting after a crash', () => {
    for (const line of [
      'User=syncserver',
      'StateDirectory=syncserver',
      'WorkingDirectory=/var/lib/syncserver',
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
      'Restart=on-failure',
      'ExecStart=/usr/local/bin/syncserver serve',
    ]) {
      expect(text.split('\n')).toContain(line)
    }
  })
})
