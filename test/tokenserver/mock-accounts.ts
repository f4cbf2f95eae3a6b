/**
 * A stand-in for the FxA OAuth server's two endpoints the tokenserver calls (tokenserver.md §4.2):
 * `GET /v1/jwks` and `POST /v1/verify`. Answers are set per test; every call is recorded.
 */
export interface MockAccounts {
  /** Origin without a path, like the reference test stack's `http://fxa-mock:6000`. */
  url: string
  /** The next `/v1/jwks` answers. */
  jwks: { status: number; body: string }
  /** The next `/v1/verify` answers; `delayMs` holds the answer back. */
  verify: { status: number; body: string; delayMs?: number }
  /** Path of every request, in order. */
  calls: string[]
  /** The raw bodies `/v1/verify` received. */
  verifyBodies: string[]
  count(path: string): number
  stop(): Promise<void>
}

export function startMockAccounts(): MockAccounts {
  const mock: Omit<MockAccounts, 'url' | 'stop'> = {
    jwks: { status: 200, body: '{"keys":[]}' },
    verify: { status: 401, body: '{"code":401,"errno":108,"error":"Unauthorized"}' },
    calls: [],
    verifyBodies: [],
    count: (path) => mock.calls.filter((call) => call === path).length,
  }
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(request) {
      const path = new URL(request.url).pathname
      mock.calls.push(path)
      if (request.method === 'GET' && path === '/v1/jwks') return json(mock.jwks)
      if (request.method === 'POST' && path === '/v1/verify') {
        mock.verifyBodies.push(await request.text())
        if (mock.verify.delayMs !== undefined) await Bun.sleep(mock.verify.delayMs)
        return json(mock.verify)
      }
      return new Response('not found', { status: 404 })
    },
  })
  return Object.assign(mock, { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) })
}

const json = (answer: { status: number; body: string }) =>
  new Response(answer.body, { status: answer.status, headers: { 'content-type': 'application/json' } })
