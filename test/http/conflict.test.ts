import { afterEach, describe, expect, setSystemTime, test } from 'bun:test'
import { backends } from '../support/backends.ts'
import { servedByBinary, serverForSuite } from '../support/server.ts'

describe.each(backends)('write conflicts on $name', (backend) => {
  const server = serverForSuite(backend)
  afterEach(() => setSystemTime())

  test.skipIf(servedByBinary)('a write to a collection stamped ahead of the clock answers 503 with Retry-After, never 409, and writes nothing', async () => {
    const client = server.client()
    // The server runs in this process: a clock 5 s ahead stamps the collection in the future,
    // as another server with a skewed clock would.
    setSystemTime(new Date(Date.now() + 5_000))
    expect((await client.put('/storage/tabs/a', { payload: 'ahead' })).status).toBe(200)
    setSystemTime()
    const response = await client.put('/storage/tabs/a', { payload: 'now' })
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('10')
    expect(await response.text()).toBe('0')
    expect(((await client.json('GET', '/storage/tabs/a')) as { payload: string }).payload).toBe('ahead')
  })

  test('two concurrent writes to one collection both succeed, with distinct increasing timestamps', async () => {
    const client = server.client()
    const [first, second] = await Promise.all([
      client.put('/storage/forms/a', { payload: 'one' }),
      client.put('/storage/forms/b', { payload: 'two' }),
    ])
    expect([first.status, second.status]).toEqual([200, 200])
    const stamps = [Number(await first.text()), Number(await second.text())].sort()
    expect(stamps[1]!).toBeGreaterThan(stamps[0]!)
  })
})
