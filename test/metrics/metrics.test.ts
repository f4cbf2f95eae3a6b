import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { parseSettings } from '../../src/config/load.ts'
import { resolveSettings } from '../../src/config/settings.ts'
import { silentLogger } from '../../src/http/logger.ts'
import { openMetrics } from '../../src/metrics/index.ts'
import { backends } from '../support/backends.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { eventually, freePort, statsdReceiver, type StatsdLine } from './support.ts'

const counted = (lines: StatsdLine[], name: string) =>
  lines.filter((line) => line.name === name && line.type === 'c').reduce((sum, line) => sum + line.value, 0)

describe.each(backends)('metrics on $name', (backend) => {
  let receiver: Awaited<ReturnType<typeof statsdReceiver>>
  let server: TestServer
  let metricsUrl: string
  beforeAll(async () => {
    receiver = await statsdReceiver()
    const prometheusPort = freePort()
    metricsUrl = `http://127.0.0.1:${prometheusPort}/metrics`
    server = await startTestServer(await backend.freshDatabaseUrl(), {
      statsd_host: '127.0.0.1',
      statsd_port: receiver.port,
      prometheus_port: prometheusPort,
    })
  })
  afterAll(async () => {
    await server.stop()
    receiver.close()
  })

  test("StatsD receives syncstorage-rs's request counters, tagged with the token's origin, and no user identifiers", async () => {
    const client = server.client()
    expect((await client.put('/storage/bookmarks/one', { payload: 'x' })).status).toBe(200)
    expect((await client.put('/storage/bookmarks/two', { payload: 'y' })).status).toBe(200)
    expect((await client.get('/storage/bookmarks/one')).status).toBe(200)
    expect((await client.get('/info/collections')).status).toBe(200)
    expect((await client.post('/storage/tabs?batch=true', [{ id: 'a', payload: 'z' }])).status).toBe(202)
    expect((await client.delete('/storage/bookmarks?ids=one')).status).toBe(200)
    expect((await client.delete('/storage/tabs')).status).toBe(200)
    // Refused before the handler: counted by no operation.
    expect((await fetch(`${server.url}/1.5/${client.uid}/info/collection_counts`)).status).toBe(401)

    await eventually(() => expect(counted(receiver.lines, 'syncstorage.request.delete_collection')).toBe(1))
    expect(counted(receiver.lines, 'syncstorage.request.put_bso')).toBe(2)
    expect(counted(receiver.lines, 'syncstorage.request.get_bso')).toBe(1)
    expect(counted(receiver.lines, 'syncstorage.request.get_collections')).toBe(1)
    expect(counted(receiver.lines, 'syncstorage.request.post_collection')).toBe(1)
    expect(counted(receiver.lines, 'syncstorage.request.post_collection_batch')).toBe(1)
    expect(counted(receiver.lines, 'syncstorage.request.delete_bsos')).toBe(1)
    expect(counted(receiver.lines, 'syncstorage.request.get_collection_counts')).toBe(0)
    const putBso = receiver.lines.find((line) => line.name === 'syncstorage.request.put_bso')
    expect(putBso?.tags).toEqual({ tokenserver_origin: 'rust' })
    expect(receiver.raw.join('\n')).not.toContain(String(client.uid))
  })

  test('the Prometheus endpoint reports requests by route and status, latency, pool and process figures', async () => {
    const client = server.client()
    for (let i = 0; i < 3; i++) expect((await client.put(`/storage/forms/r${i}`, { payload: 'p' })).status).toBe(200)
    expect((await client.get('/storage/forms/missing')).status).toBe(404)

    const scrape = await fetch(metricsUrl)
    expect(scrape.status).toBe(200)
    expect(scrape.headers.get('content-type')).toContain('text/plain')
    const text = await scrape.text()
    const bso = 'route="/1.5/:uid/storage/:collection/:bso"'
    const series = (name: string, labels: string) => {
      const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}}`))
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    expect(series('syncserver_http_requests_total', `method="PUT",${bso},status="200"`)).toBeGreaterThanOrEqual(3)
    expect(series('syncserver_http_requests_total', `method="GET",${bso},status="404"`)).toBe(1)
    expect(series('syncserver_http_request_duration_seconds_count', `method="GET",${bso},status="404"`)).toBe(1)
    expect(series('syncserver_http_request_duration_seconds_bucket', `le="+Inf",method="GET",${bso},status="404"`)).toBe(1)
    expect(series('syncserver_db_pool_connections', 'state="max"')).toBeGreaterThanOrEqual(1)
    expect(text).toMatch(/^process_cpu_seconds_total \d/m)
    expect(text).toMatch(/^process_resident_memory_bytes \d/m)
    expect(text).not.toContain(String(client.uid))
  })

  test('the endpoint serves only GET /metrics, and not on the Sync port', async () => {
    expect((await fetch(metricsUrl.replace('/metrics', '/other'))).status).toBe(404)
    expect((await fetch(metricsUrl, { method: 'POST' })).status).toBe(404)
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404)
  })
})

describe('metrics off', () => {
  test('without statsd_host and prometheus_port nothing is opened', async () => {
    const settings = await resolveSettings(parseSettings({ syncstorage: { database_url: 'sqlite:///:memory:' } }))
    expect(settings.statsd_host).toBeUndefined()
    expect(settings.prometheus_port).toBeUndefined()
    expect(await openMetrics({ settings, logger: silentLogger })).toBeUndefined()
  })
})
