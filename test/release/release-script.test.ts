/**
 * scripts/release.ts without cross-compiling every target (the arm64 smoke test builds one):
 * the flags come from the build script the tests run, and SHA256SUMS is what `sha256sum -c` reads.
 */
import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binaryName, buildFlags, checksums, TARGETS } from '../../scripts/release.ts'

describe('bun run release', () => {
  test('builds with the flags of `bun run build`, less its output file', () => {
    expect(buildFlags('bun build --compile --minify src/main.ts --outfile dist/syncserver')).toEqual(['--compile', '--minify', 'src/main.ts'])
    expect(buildFlags('bun build --compile src/main.ts --outfile=dist/syncserver')).toEqual(['--compile', 'src/main.ts'])
    expect(buildFlags()).toContain('--compile')
    expect(buildFlags().some((flag) => flag.startsWith('--outfile'))).toBe(false)
    expect(() => buildFlags('tsc && bun build src/main.ts --outfile x')).toThrow('plain')
  })

  test('names one binary per platform, with .exe on Windows', () => {
    expect(TARGETS.map(binaryName)).toEqual([
      'syncserver-linux-x64',
      'syncserver-linux-x64-musl',
      'syncserver-linux-x64-baseline',
      'syncserver-linux-arm64',
      'syncserver-linux-arm64-musl',
      'syncserver-darwin-arm64',
      'syncserver-darwin-x64',
      'syncserver-windows-x64.exe',
    ])
  })

  test.skipIf(Bun.which('sha256sum') === null)('writes SHA256SUMS that sha256sum --check accepts, and that catches a changed file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncserver-sums-'))
    const files = ['syncserver-b', 'syncserver-a'].map((name) => join(dir, name))
    files.forEach((file, i) => writeFileSync(file, `binary ${i}`))
    const sums = await checksums(files)
    expect(sums.split('\n')[0]).toEndWith('  syncserver-a')
    writeFileSync(join(dir, 'SHA256SUMS'), sums)
    const check = () => Bun.spawnSync(['sha256sum', '--check', 'SHA256SUMS'], { cwd: dir, stdout: 'pipe', stderr: 'pipe' }).exitCode
    expect(check()).toBe(0)
    writeFileSync(files[0] as string, 'tampered')
    expect(check()).toBe(1)
  })
})
