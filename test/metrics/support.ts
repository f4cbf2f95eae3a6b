import { createSocket } from 'node:dgram'

/** A port free a moment ago (for listeners whose port must be known before they start). */
export function freePort(): number {
  const probe = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
  const port = probe.port as number
  probe.stop(true)
  return port
}

export interface StatsdLine {
  name: string
  value: number
  type: string
  tags: Record<string, string>
}

/** A UDP listener that keeps every StatsD line it receives, parsed. */
export async function statsdReceiver(): Promise<{ port: number; lines: StatsdLine[]; raw: string[]; close(): void }> {
  const socket = createSocket('udp4')
  const lines: StatsdLine[] = []
  const raw: string[] = []
  socket.on('message', (message) => {
    for (const line of message.toString('utf8').split('\n')) {
      if (line === '') continue
      raw.push(line)
      const [metric = '', type = '', ...rest] = line.split('|')
      const tagPart = rest.find((part) => part.startsWith('#'))
      const tags = Object.fromEntries(
        (tagPart?.slice(1).split(',') ?? []).map((tag) => tag.split(':') as [string, string]),
      )
      const at = metric.lastIndexOf(':')
      lines.push({ name: metric.slice(0, at), value: Number(metric.slice(at + 1)), type, tags })
    }
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  return { port: socket.address().port, lines, raw, close: () => socket.close() }
}

/** Polls `check` until it passes or `ms` elapse (UDP and buffered metrics arrive a little later). */
export async function eventually(check: () => void | Promise<void>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      await check()
      return
    } catch (error) {
      if (Date.now() > deadline) throw error
      await Bun.sleep(50)
    }
  }
}
