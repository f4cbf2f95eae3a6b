/**
 * The HTTP ceiling: the smallest useful Bun.serve, in its own process like the server it is
 * compared with. It ignores the Hawk header the load generator still sends, so the client does
 * exactly the same work for it as for the real server.
 */
const port = Number(process.env.HELLO_PORT ?? 0)

Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch: () => new Response('{"hello":"world"}', { headers: { 'content-type': 'application/json' } }),
})

process.once('SIGTERM', () => process.exit(0))
