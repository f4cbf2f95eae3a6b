import { expect, test } from 'bun:test'
import { Hono } from 'hono'
import type { AppEnv } from '../env.ts'
import { spreadConnections } from './connection-spread.ts'
import { layers } from './layers.ts'

test('a response closes its connection when the draw falls in the first 1 / requestsPerConnection of the range', async () => {
  const draws = [0.1, 0.3, 0.24, 0.25, 0.9]
  const app = new Hono<AppEnv>()
  app.use(layers(spreadConnections(4, () => draws.shift() as number)))
  app.get('/', () => new Response('ok'))
  app.get('/missing', () => new Response('0', { status: 404 }))
  const closed: (string | null)[] = []
  for (const path of ['/', '/', '/missing', '/', '/']) closed.push((await app.request(path)).headers.get('connection'))
  expect(closed).toEqual(['close', null, 'close', null, null])
})
