import { describe, expect, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { serverForSuite } from '../support/server.ts'

describe.each(backends)('routing, framing and operational endpoints on $name', (backend) => {
  const server = serverForSuite(backend, { cors_allowed_origin: '*' })

  test('unknown paths answer 404 with JSON body 0 and an X-Weave-Timestamp', async () => {
    for (const path of ['/nope', '/1.5/12345678901/info/collections', '/1.5/1/storage/bad$name', '/1.5/1/info/collections/', '/1.5/1/storage/a/b/c']) {
      const response = await fetch(`${server.url}${path}`)
      expect({ path, status: response.status, body: await response.text() }).toEqual({ path, status: 404, body: '0' })
      expect(response.headers.get('content-type')).toBe('application/json')
      expect(response.headers.get('x-weave-timestamp')).toMatch(/^\d+\.\d{2}$/)
    }
  })

  test('a collection name of 33 characters is an unknown path', async () => {
    const response = await server.client().get(`/storage/${'a'.repeat(33)}`)
    expect(response.status).toBe(404)
  })

  test('a known path with an unsupported method answers 405 with an empty body', async () => {
    const client = server.client()
    for (const [method, path] of [['PATCH', '/storage/tabs'], ['PUT', '/info/quota'], ['GET', ''], ['POST', '/storage/tabs/a']]) {
      const response = await client.request(method!, path!)
      expect({ method, path, status: response.status, body: await response.text() }).toEqual({ method, path, status: 405, body: '' })
    }
  })

  test('a percent-encoded BSO id is decoded, and an id that is not printable ASCII answers 400', async () => {
    const client = server.client()
    expect((await client.put('/storage/tabs/a%20b', { payload: 'x' })).status).toBe(200)
    expect(await client.json('GET', '/storage/tabs')).toEqual(['a b'])
    const response = await client.put('/storage/tabs/%C3%A9', { payload: 'x' })
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('0')
  })

  test('__heartbeat__ checks the database and carries no X-Weave-Timestamp', async () => {
    const response = await fetch(`${server.url}/__heartbeat__`)
    expect(response.status).toBe(200)
    expect(response.headers.get('x-weave-timestamp')).toBeNull()
    const body = (await response.json()) as Record<string, unknown>
    expect(body).toMatchObject({ database: 'Ok', status: 'Ok', quota: { enabled: false, size: 2097152000 } })
    expect(typeof body.version).toBe('string')
  })

  test('__lbheartbeat__ reports connections', async () => {
    const response = await fetch(`${server.url}/__lbheartbeat__`)
    expect(response.status).toBe(200)
    expect(Object.keys((await response.json()) as object).sort()).toEqual(['active_connections', 'idle_connections'])
  })

  test('__lbheartbeat__ counts no more idle connections than the pool can hold (10 here)', async () => {
    const body = (await (await fetch(`${server.url}/__lbheartbeat__`)).json()) as { active_connections: number; idle_connections: number }
    expect(body.active_connections).toBe(0)
    expect(body.idle_connections).toBeGreaterThanOrEqual(0)
    expect(body.idle_connections).toBeLessThanOrEqual(10)
  })

  test('__version__ answers JSON with version and commit', async () => {
    const body = (await (await fetch(`${server.url}/__version__`)).json()) as Record<string, string>
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(typeof body.commit).toBe('string')
  })

  test('__error__ answers 500', async () => {
    expect((await fetch(`${server.url}/__error__`)).status).toBe(500)
  })

  test('/ redirects to the API documentation', async () => {
    const response = await fetch(`${server.url}/`, { redirect: 'manual' })
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toContain('readthedocs.io')
  })

  test('every OPTIONS request is a CORS preflight answered before routing and auth', async () => {
    const response = await fetch(`${server.url}/1.5/1/__nothing__`, {
      method: 'OPTIONS',
      headers: { origin: 'localhost', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization, x-weave-records' },
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('access-control-allow-origin')).toBe('localhost')
    expect(response.headers.get('access-control-max-age')).toBe('1728000')
    expect(response.headers.get('access-control-allow-methods')).toContain('PUT')
    expect(response.headers.get('x-weave-timestamp')).toBeNull()
  })

  test('a preflight for a method or header that is not allowed answers 400', async () => {
    const badMethod = await fetch(`${server.url}/1.5/1/storage/tabs`, {
      method: 'OPTIONS',
      headers: { origin: 'https://a.example', 'access-control-request-method': 'PATCH' },
    })
    expect(badMethod.status).toBe(400)
    const badHeader = await fetch(`${server.url}/1.5/1/storage/tabs`, {
      method: 'OPTIONS',
      headers: { origin: 'https://a.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-evil' },
    })
    expect(badHeader.status).toBe(400)
  })

  test('a request with Origin gets Access-Control-Allow-Origin echoing it', async () => {
    const response = await server.client().get('/storage/tabs', { headers: { origin: 'https://addon.example' } })
    expect(response.headers.get('access-control-allow-origin')).toBe('https://addon.example')
    expect(response.headers.get('vary')).toContain('Origin')
  })

  test('old Firefox for iOS builds are refused with 503 and a plain 0, new and dev builds are served', async () => {
    const old = 'Firefox-iOS-Sync/18.0b1 (iPhone; iPhone OS 12.0) (Fennec)'
    const response = await server.client().get('/storage/tabs', { headers: { 'user-agent': old } })
    expect(response.status).toBe(503)
    expect(await response.text()).toBe('0')
    expect(response.headers.get('x-weave-timestamp')).toBeNull()
    for (const agent of ['Firefox-iOS-Sync/20.0b1 (iPhone; iPhone OS 12.0) (Fennec)', 'Firefox-iOS-Sync/dev (iPhone; iPhone OS 12.0) (Fennec)']) {
      expect((await server.client().get('/storage/tabs', { headers: { 'user-agent': agent } })).status).toBe(200)
    }
  })

  test('responses carry the standard reason phrase in the status line', async () => {
    const response = await server.client().get('/storage/tabs')
    expect(response.statusText).toBe('OK')
  })
})
