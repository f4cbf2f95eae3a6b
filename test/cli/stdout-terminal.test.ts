import { describe, expect, test } from 'bun:test'
import { resolve } from 'node:path'

// The log format follows stdout: text for a person at a terminal, mozlog JSON everywhere else.
const logger = resolve(import.meta.dir, '../../src/http/logger.ts')
const probe = `import { stdoutIsTerminal } from ${JSON.stringify(logger)}; process.stderr.write(String(await stdoutIsTerminal()))`

async function answer(command: string[], stdout: 'ignore' | 'pipe'): Promise<string> {
  const child = Bun.spawn(command, { stdout, stderr: 'pipe', stdin: 'ignore' })
  const [text] = await Promise.all([new Response(child.stderr).text(), child.exited])
  return text.trim()
}

describe('stdoutIsTerminal', () => {
  test('/dev/null is a character device but not a terminal', async () => {
    expect(await answer([process.execPath, '-e', probe], 'ignore')).toBe('false')
  })

  test('a pipe is not a terminal', async () => {
    expect(await answer([process.execPath, '-e', probe], 'pipe')).toBe('false')
  })

  const script = Bun.which('script')
  test.skipIf(script === null)('a pseudo-terminal is a terminal', async () => {
    // script(1) runs the probe on a new pty and copies what the pty shows to its own stdout.
    const command = `${process.execPath} -e '${probe.replaceAll("'", "'\\''")}' 2>&1`
    const child = Bun.spawn([script as string, '-qec', command, '/dev/null'], { stdout: 'pipe', stdin: 'ignore' })
    const [shown] = await Promise.all([new Response(child.stdout).text(), child.exited])
    expect(shown.trim()).toBe('true')
  })
})
