import postgres from 'postgres'

const URL_PARTS = /^(postgres(?:ql)?:\/\/)([^/?#]*)(.*)$/i

/**
 * A postgres.js client for `url`, including libpq's two ways of naming a Unix-socket directory,
 * which postgres.js 3.4 does not read: a percent-encoded path as the host
 * (`postgres://user@%2Fvar%2Frun%2Fpostgresql/db`), which it would look up in DNS, and a `host`
 * query parameter (`postgres://user@localhost/db?host=/var/run/postgresql`), which it would send
 * to the server as a setting. A same-host database is then reached without TCP over loopback.
 */
export function connectPostgres(url: string, options: postgres.Options<Record<string, never>>): postgres.Sql {
  const socket = unixSocketTarget(url)
  return socket === undefined ? postgres(url, options) : postgres(socket.url, { ...options, host: socket.directory })
}

/** The socket directory `url` names, and the URL left for postgres.js to read the rest from. */
export function unixSocketTarget(url: string): { directory: string; url: string } | undefined {
  const parts = URL_PARTS.exec(url)
  if (parts === null) return undefined
  const [, scheme, authority = '', rest = ''] = parts
  const at = authority.lastIndexOf('@')
  const userinfo = authority.slice(0, at + 1)
  const hostPort = authority.slice(at + 1)
  const [path, query = ''] = splitOnce(rest, '?')
  const params = new URLSearchParams(query)
  const hostParam = params.get('host')
  const encodedHost = decodeURIComponent(hostPort.replace(/:\d*$/, ''))
  const directory = hostParam?.startsWith('/') ? hostParam : encodedHost.startsWith('/') ? encodedHost : undefined
  if (directory === undefined) return undefined
  params.delete('host')
  const port = /:\d+$/.exec(hostPort)?.[0] ?? ''
  const left = params.toString()
  return { directory, url: `${scheme}${userinfo}localhost${port}${path}${left === '' ? '' : `?${left}`}` }
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const index = text.indexOf(separator)
  return index < 0 ? [text, undefined] : [text.slice(0, index), text.slice(index + 1)]
}
