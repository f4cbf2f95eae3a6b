#!/usr/bin/env bun
/**
 * `bun run release [--targets linux-arm64,…] [--out DIR]`: compiles the release binaries, one per
 * target, and writes SHA256SUMS beside them (the format `sha256sum -c` reads).
 *
 * Every binary is built with exactly the flags of `bun run build`, the binary the tests run,
 * plus the cross-compilation target; Bun fetches each target's runtime from the npm registry on
 * first use. The target is baked into the binary, so `--version` names it.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import packageJson from '../package.json' with { type: 'json' }

export const TARGETS = [
  'linux-x64',
  'linux-x64-musl',
  // For x86-64 CPUs without AVX2 (many NAS boxes, Atom and Celeron machines).
  'linux-x64-baseline',
  'linux-arm64',
  'linux-arm64-musl',
  'darwin-arm64',
  'darwin-x64',
  'windows-x64',
] as const

export type Target = (typeof TARGETS)[number]

export interface BuiltBinary {
  target: Target
  file: string
  bytes: number
  seconds: number
}

const ROOT = resolve(import.meta.dir, '..')

/** The `bun build` arguments of package.json's build script, without its output file. */
export function buildFlags(script: string = packageJson.scripts.build): string[] {
  const words = script.trim().split(/\s+/)
  if (words[0] !== 'bun' || words[1] !== 'build') throw new Error(`the build script is not a plain "bun build …": ${script}`)
  const flags = words.slice(2)
  const outfile = flags.findIndex((word) => word === '--outfile' || word.startsWith('--outfile='))
  if (outfile === -1) throw new Error(`the build script names no --outfile: ${script}`)
  flags.splice(outfile, flags[outfile] === '--outfile' ? 2 : 1)
  return flags
}

export const binaryName = (target: Target): string => `syncserver-${target}${target.startsWith('windows') ? '.exe' : ''}`

export async function buildTarget(target: Target, outDir: string): Promise<BuiltBinary> {
  const file = join(outDir, binaryName(target))
  const started = performance.now()
  const args = ['build', ...buildFlags(), `--target=bun-${target}`, `--define=SYNCSERVER_TARGET=${JSON.stringify(target)}`, '--outfile', file]
  const child = Bun.spawn([process.execPath, ...args], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  if (code !== 0) throw new Error(`building ${target} failed (exit ${code}):\n${stdout}${stderr}`)
  return { target, file, bytes: statSync(file).size, seconds: (performance.now() - started) / 1000 }
}

/** One `<sha256>  <name>` line per binary, sorted by name. */
export async function checksums(files: readonly string[]): Promise<string> {
  const sorted = [...files].sort((a, b) => basename(a).localeCompare(basename(b)))
  const lines = await Promise.all(
    sorted.map(async (file) => `${new Bun.CryptoHasher('sha256').update(await Bun.file(file).arrayBuffer()).digest('hex')}  ${basename(file)}`),
  )
  return `${lines.join('\n')}\n`
}

function parseTargets(list: string | undefined): Target[] {
  if (list === undefined) return [...TARGETS]
  const wanted = list.split(',').map((item) => item.trim())
  const unknown = wanted.filter((item) => !(TARGETS as readonly string[]).includes(item))
  if (unknown.length > 0) throw new Error(`unknown target ${unknown.join(', ')}; known: ${TARGETS.join(', ')}`)
  return wanted as Target[]
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { targets: { type: 'string' }, out: { type: 'string' } } })
  const targets = parseTargets(values.targets)
  const outDir = resolve(ROOT, values.out ?? 'dist/release')
  mkdirSync(outDir, { recursive: true })
  const started = performance.now()
  const built: BuiltBinary[] = []
  // One at a time: each build already uses every core, and a failure should stop the release.
  for (const target of targets) {
    const binary = await buildTarget(target, outDir)
    console.log(`${target.padEnd(18)} ${(binary.bytes / 1e6).toFixed(1).padStart(6)} MB  ${binary.seconds.toFixed(1).padStart(5)} s  ${binary.file}`)
    built.push(binary)
  }
  writeFileSync(join(outDir, 'SHA256SUMS'), await checksums(built.map((binary) => binary.file)))
  const total = (performance.now() - started) / 1000
  console.log(`syncserver ${packageJson.version}: ${built.length} binaries and SHA256SUMS in ${outDir} (${total.toFixed(1)} s)`)
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(`release: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  })
}
