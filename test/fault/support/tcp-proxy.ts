import type { Socket, TCPSocketListener } from 'bun'

/**
 * A TCP proxy between the server and a database that a test can turn against it: `refuse` stops
 * listening (new connections get ECONNREFUSED), `reset` cuts every open connection, `stall`
 * keeps connections open but forwards nothing, `heal` goes back to forwarding.
 */
export interface TcpProxy {
  port: number
  /** Connections accepted so far. */
  accepted: number
  refuse(): void
  reset(): void
  stall(): void
  heal(): void
  close(): void
}

interface Pair {
  client: Socket<Pair>
  upstream?: Socket<undefined>
  /** Bytes from the client waiting for the upstream connection (or for the stall to end). */
  toUpstream: Uint8Array[]
  toClient: Uint8Array[]
}

export function startTcpProxy(target: { host: string; port: number }): TcpProxy {
  let stalled = false
  let listener: TCPSocketListener<Pair> | undefined
  const pairs = new Set<Pair>()

  const flush = (pair: Pair) => {
    if (stalled) return
    if (pair.upstream !== undefined) for (const chunk of pair.toUpstream.splice(0)) pair.upstream.write(chunk)
    for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk)
  }
  const drop = (pair: Pair) => {
    pairs.delete(pair)
    pair.client.end()
    pair.upstream?.end()
  }

  const listen = (port: number) =>
    Bun.listen<Pair>({
      hostname: '127.0.0.1',
      port,
      socket: {
        open(client) {
          const pair: Pair = { client, toUpstream: [], toClient: [] }
          client.data = pair
          pairs.add(pair)
          proxy.accepted++
          Bun.connect<undefined>({
            hostname: target.host,
            port: target.port,
            socket: {
              open(upstream) {
                pair.upstream = upstream
                flush(pair)
              },
              data(_upstream, chunk) {
                pair.toClient.push(new Uint8Array(chunk))
                flush(pair)
              },
              close: () => drop(pair),
              error: () => drop(pair),
            },
          }).catch(() => drop(pair))
        },
        data(client, chunk) {
          client.data.toUpstream.push(new Uint8Array(chunk))
          flush(client.data)
        },
        close: (client) => drop(client.data),
        error: (client) => drop(client.data),
      },
    })

  listener = listen(0)
  const port = listener.port
  const proxy: TcpProxy = {
    port,
    accepted: 0,
    refuse() {
      listener?.stop(true)
      listener = undefined
      for (const pair of [...pairs]) drop(pair)
    },
    reset() {
      for (const pair of [...pairs]) {
        pairs.delete(pair)
        pair.client.terminate()
        pair.upstream?.terminate()
      }
    },
    stall() {
      stalled = true
    },
    heal() {
      stalled = false
      listener ??= listen(port)
      for (const pair of pairs) flush(pair)
    },
    close() {
      listener?.stop(true)
      listener = undefined
      for (const pair of [...pairs]) drop(pair)
    },
  }
  return proxy
}
