import { expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePorts, startServerProcess } from '../support/server-process.ts'
import { eventually } from './support.ts'

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts')

/** A free port whose successor is free too. */
async function twoFreePorts(): Promise<number> {
  for (;;) {
    const [first] = (await freePorts(1)) as [number]
    try {
      Bun.serve({ hostname: '127.0.0.1', port: first + 1, fetch: () => new Response() }).stop(true)
      return first
    } catch {
      // taken: try another
    }
  }
}

test('with two workers, each serves its own Prometheus endpoint on consecutive ports', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncserver-metrics-workers-'))
  const [port] = (await freePorts(1)) as [number]
  const prometheusPort = await twoFreePorts()
  const server = await startServerProcess({
    command: [process.execPath, MAIN, 'serve'],
    cwd: dir,
    env: {
      SYNC_HOST: '127.0.0.1',
      SYNC_PORT: String(port),
      SYNC_SYNCSTORAGE__DATABASE_URL: `sqlite:///${join(dir, 'sync.db')}`,
      SYNC_TOKENSERVER__ENABLED: 'false',
      SYNC_WORKERS: '2',
      SYNC_PROMETHEUS_PORT: String(prometheusPort),
    },
    port,
  })
  try {
    await eventually(async () => {
      for (const metricsPort of [prometheusPort, prometheusPort + 1]) {
        const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
        expect(response.status).toBe(200)
        expect(await response.text()).toContain('syncserver_http_requests_total')
      }
    }, 15_000)
    // The Sync port stays one, shared by both workers.
    expect((await fetch(`http://127.0.0.1:${port}/__lbheartbeat__`)).status).toBe(200)
  } finally {
    await server.stop()
  }
})
