/**
 * The container image built and run (issue 12, finding 6), where a Docker engine answers: the
 * commit and uid build arguments, .dockerignore, a mounted config file over the image's, the
 * health check following it, and the public URL warning. Skipped, with the reason, where no
 * engine runs or the base images can be neither found nor pulled (a machine without Docker
 * Hub: scripts/docker-stand-in-images.sh makes local stand-ins). test/docker/image.test.ts
 * checks the Dockerfile itself everywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { ROOT, freePort } from '../support/binary.ts'

const TAG = `syncserver-container-test-${process.pid}`
const COMMIT = '0123456789abcdef0123456789abcdef01234567'

function docker(...args: string[]): { code: number; out: string } {
  const ran = Bun.spawnSync(['docker', ...args], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdout: 'pipe', stderr: 'pipe' })
  return { code: ran.exitCode, out: `${ran.stdout.toString()}${ran.stderr.toString()}` }
}

function mustDocker(...args: string[]): string {
  const { code, out } = docker(...args)
  if (code !== 0) throw new Error(`docker ${args.join(' ')} failed (${code}): ${out.slice(-2000)}`)
  return out.trim()
}

/** Why the image cannot be built and run here, or undefined when it can. */
function unavailable(): string | undefined {
  if (Bun.which('docker') === null) return 'no docker client'
  const info = docker('info', '--format', '{{.ServerVersion}}')
  if (info.code !== 0) return `no Docker engine answers (${info.out.trim().split('\n').at(-1)})`
  const bun = /^ARG BUN_VERSION=(.+)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1]
  for (const image of [`oven/bun:${bun}`, 'debian:bookworm-slim']) {
    if (docker('image', 'inspect', image).code === 0) continue
    const pulled = docker('pull', image)
    if (pulled.code !== 0) return `base image ${image} is not here and cannot be pulled (${pulled.out.trim().split('\n').at(-1)}); scripts/docker-stand-in-images.sh makes a local stand-in`
  }
  return undefined
}

const skipReason = unavailable()
if (skipReason !== undefined) console.log(`[docker] container tests skipped: ${skipReason}`)

/** The build context as a checkout gives it, plus what a developer's folder holds that must stay out. */
function contextWithLitter(): string {
  const context = mkdtempSync(join(tmpdir(), 'syncserver-docker-context-'))
  const files = Bun.spawnSync(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT }).stdout.toString().split('\0')
  for (const file of files.filter((name) => name !== '')) {
    mkdirSync(dirname(join(context, file)), { recursive: true })
    cpSync(join(ROOT, file), join(context, file))
  }
  for (const litter of ['syncserver.db', 'syncserver.db.secret', 'mine.toml', 'node_modules/planted/index.js', 'dist/syncserver', '.git/HEAD']) {
    mkdirSync(dirname(join(context, litter)), { recursive: true })
    writeFileSync(join(context, litter), 'litter\n')
  }
  return context
}

describe.skipIf(skipReason !== undefined)('the container image, built and run', () => {
  const containers: string[] = []
  let context: string

  beforeAll(() => {
    context = contextWithLitter()
    mustDocker('build', '-q', '--target', 'build', '-t', `${TAG}-build`, context)
    mustDocker('build', '-q', '--build-arg', `COMMIT=${COMMIT}`, '-t', TAG, context)
    mustDocker('build', '-q', '--build-arg', `COMMIT=${COMMIT}`, '--build-arg', 'UID=4321', '--build-arg', 'GID=4321', '-t', `${TAG}-uid`, context)
  }, 600_000)

  afterAll(() => {
    for (const container of containers) docker('rm', '-f', container)
    for (const image of [TAG, `${TAG}-build`, `${TAG}-uid`]) docker('rmi', '-f', image)
    rmSync(context, { recursive: true, force: true })
  })

  /** Starts a container; resolves with the published host port once /__heartbeat__ answers 200. */
  async function run(image: string, containerPort: number, args: string[] = []): Promise<{ id: string; url: string }> {
    const port = await freePort()
    const id = mustDocker('run', '-d', '-p', `127.0.0.1:${port}:${containerPort}`, ...args, image)
    containers.push(id)
    const url = `http://127.0.0.1:${port}`
    for (let tries = 0; tries < 60; tries++) {
      const status = await fetch(`${url}/__heartbeat__`).then((response) => response.status, () => 0)
      if (status === 200) return { id, url }
      await Bun.sleep(250)
    }
    throw new Error(`container of ${image} never answered: ${docker('logs', id).out.slice(-2000)}`)
  }

  test('.dockerignore keeps databases, secrets, local config, packages, builds and .git out of the build', () => {
    const listed = mustDocker('run', '--rm', '--entrypoint', 'sh', `${TAG}-build`, '-c', 'ls -a /src; ls /src/node_modules/planted 2>&1 || true')
    for (const kept of ['syncserver.db', 'syncserver.db.secret', 'mine.toml', '.git']) expect(listed.split('\n')).not.toContain(kept)
    expect(listed).toContain('No such file')
    expect(Number(mustDocker('run', '--rm', '--entrypoint', 'stat', `${TAG}-build`, '-c', '%s', '/src/dist/syncserver'))).toBeGreaterThan(1_000_000)
  }, 30_000)

  test('the commit build argument reaches /__version__; the server runs as uid 10001, or the UID build argument', async () => {
    const { id, url } = await run(TAG, 8000)
    expect(((await (await fetch(`${url}/__version__`)).json()) as { commit: string }).commit).toBe(COMMIT)
    expect(mustDocker('exec', id, 'id', '-u')).toBe('10001')
    expect(mustDocker('exec', id, 'stat', '-c', '%u', '/data/syncserver.db.secret')).toBe('10001')
    const other = await run(`${TAG}-uid`, 8000)
    expect(mustDocker('exec', other.id, 'id', '-u')).toBe('4321')
  }, 60_000)

  test('without a public URL the log warns that Firefox is told 127.0.0.1; with SYNC_PUBLIC_URL it is told that', async () => {
    const bare = await run(TAG, 8000)
    expect(mustDocker('logs', bare.id)).toContain('host is 0.0.0.0 but public_url is not set: Firefox is told http://127.0.0.1:8000')
    const published = await run(TAG, 8000, ['-e', 'SYNC_PUBLIC_URL=https://sync.example.com'])
    const logs = mustDocker('logs', published.id)
    expect(logs).not.toContain('public_url is not set')
    expect(logs).toContain('identity.sync.tokenserver.uri = https://sync.example.com/1.0/sync/1.5')
  }, 60_000)

  test('a mounted config file overrides the defaults, and the health check follows it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncserver-docker-config-'))
    writeFileSync(
      join(dir, 'syncserver.toml'),
      'host = "0.0.0.0"\nport = 8100\npublic_url = "https://mine.example.com"\n[syncstorage]\ndatabase_url = "sqlite:////data/mine.db"\n',
    )
    try {
      const { id } = await run(TAG, 8100, ['-v', `${dir}/syncserver.toml:/etc/syncserver/syncserver.toml:ro`, '--health-interval', '1s'])
      expect(mustDocker('exec', id, 'ls', '/data')).toContain('mine.db')
      let health = ''
      for (let tries = 0; tries < 40 && health !== 'healthy'; tries++) {
        await Bun.sleep(500)
        health = mustDocker('inspect', '--format', '{{.State.Health.Status}}', id)
      }
      expect(health).toBe('healthy')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
