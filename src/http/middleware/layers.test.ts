import { describe, expect, test } from 'bun:test'
import { Hono } from 'hono'
import type { AppEnv } from '../env.ts'
import { layers, type Layer } from './layers.ts'

/** A layer that records its halves in `trace` and, when `answer` is set, answers early. */
const traced = (name: string, trace: string[], answer?: number): Layer => ({
  before() {
    trace.push(`${name} in`)
    return answer === undefined ? undefined : new Response(name, { status: answer })
  },
  after(c) {
    trace.push(`${name} out ${c.res.status}`)
  },
})

const appWith = (stack: Layer[], trace: string[]) => {
  const app = new Hono<AppEnv>()
  app.use(layers(...stack))
  app.get('/', () => {
    trace.push('route')
    return new Response('ok', { status: 201 })
  })
  app.get('/boom', () => {
    throw new Error('boom')
  })
  app.onError(() => new Response('error', { status: 500 }))
  return app
}

describe('layers', () => {
  test('run outermost first on the way in and last on the way out, like app.use one by one', async () => {
    const trace: string[] = []
    const response = await appWith([traced('a', trace), traced('b', trace)], trace).request('/')
    expect(response.status).toBe(201)
    expect(trace).toEqual(['a in', 'b in', 'route', 'b out 201', 'a out 201'])
  })

  test('a layer answering early stops the way in; only the layers outside it see the response', async () => {
    const trace: string[] = []
    const response = await appWith([traced('a', trace), traced('b', trace, 503), traced('c', trace)], trace).request('/')
    expect(response.status).toBe(503)
    expect(await response.text()).toBe('b')
    expect(trace).toEqual(['a in', 'b in', 'a out 503'])
  })

  test("the error handler's response passes every layer on the way out", async () => {
    const trace: string[] = []
    const response = await appWith([traced('a', trace), traced('b', trace)], trace).request('/boom')
    expect(response.status).toBe(500)
    expect(trace).toEqual(['a in', 'b in', 'b out 500', 'a out 500'])
  })
})
