import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildCommit } from '../../src/build-info.ts'
import { healthcheckCommand, servingProcessInput } from '../../src/cli/healthcheck.ts'
import { parseArgs } from '../../src/cli/command.ts'
import { loadConfiguration } from '../../src/config/load.ts'
import { BINARY, ROOT, buildBinary, cleanEnv } from '../support/binary.ts'

/**
 * The container image (issue 12, finding 6). No Docker engine runs here, so the Dockerfile is
 * read, and what it runs (the image's config file, the health check) is run directly.
 */
const dockerfile = await Bun.file(join(ROOT, 'Dockerfile')).text()
const dockerignore = await Bun.file(join(ROOT, '.dockerignore')).text()
const instructions = dockerfile.split('\n').filter((line) => /^[A-Z]+\s/.test(line))

describe('Dockerfile', () => {
  test('sets no SYNC_* environment, which would override a mounted config file', () => {
    expect(instructions.filter((line) => line.startsWith('ENV'))).toEqual([])
  })

  test('pins the Bun release the binary is built with', () => {
    expect(dockerfile).toMatch(/^ARG BUN_VERSION=\d+\.\d+\.\d+$/m)
    expect(dockerfile).toContain('FROM oven/bun:${BUN_VERSION} AS build')
  })

  test('takes the uid/gid and the commit as build arguments', () => {
    expect(dockerfile).toMatch(/^ARG UID=10001$/m)
    expect(dockerfile).toMatch(/^ARG GID=10001$/m)
    expect(dockerfile).toMatch(/^USER \$\{UID\}:\$\{GID\}$/m)
    expect(dockerfile).toMatch(/^ARG COMMIT=unknown$/m)
    expect(dockerfile).toContain('SYNCSERVER_COMMIT=${COMMIT} bun run build')
  })

  test('.dockerignore keeps databases, secrets, builds, packages and .git out of COPY . .', () => {
    const ignored = new Set(dockerignore.split('\n').map((line) => line.trim()))
    for (const pattern of ['.git', 'node_modules', 'dist', '*.db', '*.db-wal', '*.db-shm', '*.db.secret']) expect(ignored).toContain(pattern)
  })

  test("the image's config file loads, listens on every address and keeps the database in /data", async () => {
    const { settings, warnings } = await loadConfiguration({ configFile: join(ROOT, 'docker/syncserver.toml'), env: {} })
    expect(settings).toMatchObject({ host: '0.0.0.0', port: 8000, syncstorage: { database_url: 'sqlite:////data/syncserver.db' } })
    expect(dockerfile).toContain('CMD ["serve", "--config", "/etc/syncserver/syncserver.toml"]')
    expect(dockerfile).toContain('COPY docker/syncserver.toml /etc/syncserver/syncserver.toml')
    expect(warnings).toEqual([])
  })

  test('the commit comes from SYNCSERVER_COMMIT when the build has no repository', () => {
    const saved = process.env.SYNCSERVER_COMMIT
    process.env.SYNCSERVER_COMMIT = '0123abc'
    try {
      expect(buildCommit()).toBe('0123abc')
    } finally {
      if (saved === undefined) delete process.env.SYNCSERVER_COMMIT
      else process.env.SYNCSERVER_COMMIT = saved
    }
  })
})

describe('healthcheck follows the configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncserver-health-'))

  const serverOn = () => Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => Response.json({}) })

  test('--config: the port of the file is asked', async () => {
    const server = serverOn()
    writeFileSync(join(dir, 'a.toml'), `port = ${server.port}\n`)
    try {
      expect(await healthcheckCommand.run(parseArgs(['--config', join(dir, 'a.toml')], healthcheckCommand.options))).toBe(0)
    } finally {
      await server.stop(true)
    }
  })

  test("without --config it reads the serving process's --config and flags (PID 1 of a container)", async () => {
    const server = serverOn()
    writeFileSync(join(dir, 'b.toml'), 'port = 1\nhost = "0.0.0.0"\n')
    const cmdline = join(dir, 'cmdline')
    writeFileSync(cmdline, ['/usr/local/bin/syncserver', 'serve', '--config', join(dir, 'b.toml'), '--port', String(server.port), ''].join('\0'))
    try {
      const input = await servingProcessInput(cmdline)
      expect(input?.options).toEqual({ config: join(dir, 'b.toml'), port: String(server.port) })
      const { settings } = await loadConfiguration({ configFile: join(dir, 'b.toml'), env: {}, overrides: { values: { port: input?.options.port }, sources: new Map() } })
      expect(settings.port).toBe(server.port as number)
    } finally {
      await server.stop(true)
    }
    writeFileSync(cmdline, ['/sbin/init', ''].join('\0'))
    expect(await servingProcessInput(cmdline)).toBeUndefined()
  })

  test("reads a live process's /proc/<pid>/cmdline (whose size stat reports as 0)", async () => {
    await buildBinary()
    writeFileSync(join(dir, 'c.toml'), 'port = 0\n[syncstorage]\ndatabase_url = "sqlite://:memory:"\n[tokenserver]\nenabled = false\n')
    const child = Bun.spawn([BINARY, 'serve', '--config', join(dir, 'c.toml'), '--port', '0'], { env: cleanEnv(), stdout: 'ignore', stderr: 'ignore' })
    try {
      let input: Awaited<ReturnType<typeof servingProcessInput>>
      for (let tries = 0; tries < 100 && input === undefined; tries++) {
        await Bun.sleep(20)
        input = await servingProcessInput(`/proc/${child.pid}/cmdline`)
      }
      expect(input?.options).toEqual({ config: join(dir, 'c.toml'), port: '0' })
    } finally {
      child.kill()
      await child.exited
    }
  })
})
