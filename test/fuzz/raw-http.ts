import { connect } from 'node:net'

/** An answer read off the socket, or why there was none. */
export type RawAnswer =
  | { status: number; headers: Map<string, string>; body: Buffer }
  | { error: string }

/**
 * Sends bytes exactly as given on a fresh connection and reads the answer until the server
 * closes it (the request says `Connection: close`). fetch would normalise the request line
 * (dot segments, invalid percent escapes, raw bytes); the fuzzer needs what it sends to arrive.
 */
export function rawRequest(port: number, request: Buffer, timeoutMs = 15_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let settled = false
    const socket = connect({ host: '127.0.0.1', port })
    const finish = (answer: RawAnswer) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(answer)
    }
    const timer = setTimeout(() => finish({ error: `no answer within ${timeoutMs} ms` }), timeoutMs)
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      const answer = parseAnswer(Buffer.concat(chunks))
      if (answer !== undefined) finish(answer)
    })
    socket.on('error', (error) => finish(parseAnswer(Buffer.concat(chunks), true) ?? { error: error.message }))
    socket.on('close', () => finish(parseAnswer(Buffer.concat(chunks), true) ?? { error: 'connection closed without an answer' }))
    socket.write(request)
  })
}

/** The answer once it is complete (headers plus Content-Length bytes), or at the end of the stream. */
function parseAnswer(bytes: Buffer, ended = false): RawAnswer | undefined {
  const end = bytes.indexOf('\r\n\r\n')
  if (end === -1) return undefined
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n')
  const status = Number(statusLine.split(' ')[1])
  const headers = new Map<string, string>()
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
  }
  const body = bytes.subarray(end + 4)
  const length = headers.get('content-length')
  if (length !== undefined && body.length >= Number(length)) return { status, headers, body: body.subarray(0, Number(length)) }
  if (ended || status === 304 || status === 204) return { status, headers, body }
  return undefined
}
