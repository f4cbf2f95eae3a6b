import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

/** Running the compiled `dist/syncserver` the way an operator does. */

export const ROOT = resolve(import.meta.dir, '../..')
export const BINARY = join(ROOT, 'dist/syncserver')

export const emptyDir = () => mkdtempSync(join(tmpdir(), 'syncserver-bin-'))
/** Only PATH: no SYNC_* from the developer's shell may leak into "no configuration at all". */
export const cleanEnv = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra })

export async function freePort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port as number
  await probe.stop(true)
  return port
}

export interface Ran {
  stdout: string
  stderr: string
  code: number
}

/** Runs the binary to its end. */
export async function run(args: string[], cwd = emptyDir(), env: Record<string, string> = {}, prefix: string[] = []): Promise<Ran> {
  const child = Bun.spawn([...prefix, BINARY, ...args], { cwd, env: cleanEnv(env), stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { stdout, stderr, code }
}

export async function waitFor(url: string, deadline: number): Promise<Response> {
  for (;;) {
    try {
      return await fetch(url)
    } catch (error) {
      if (Date.now() > deadline) throw error
      await Bun.sleep(25)
    }
  }
}

/** Builds the binary of the code under test (once per test file). */
export async function buildBinary(): Promise<void> {
  const build = Bun.spawn(['bun', 'run', 'build'], { cwd: ROOT, stdout: 'ignore', stderr: 'pipe' })
  if ((await build.exited) !== 0) throw new Error(`bun run build failed: ${await new Response(build.stderr).text()}`)
}
