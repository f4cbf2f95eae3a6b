export type DatabaseLocation =
  | { engine: 'sqlite'; path: string } // ':memory:' for an in-memory database
  | { engine: 'postgres'; url: string }
  | { engine: 'mysql'; url: string }
  | { engine: 'spanner'; url: string; database: string }

/**
 * Reads a database URL. SQLite URLs follow the retired Python syncserver:
 * `sqlite:///relative.db`, `sqlite:////absolute.db`, plus `sqlite:relative.db` and
 * `sqlite::memory:`. Relative paths are taken from `cwd`.
 */
export function parseDatabaseUrl(url: string, cwd = process.cwd()): DatabaseLocation {
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase()
  switch (scheme) {
    case 'sqlite':
      return { engine: 'sqlite', path: sqlitePath(url.slice('sqlite:'.length), cwd) }
    case 'postgres':
    case 'postgresql':
      return { engine: 'postgres', url }
    case 'mysql':
    case 'mariadb':
      return { engine: 'mysql', url: url.replace(/^mariadb:/i, 'mysql:') }
    case 'spanner':
      return { engine: 'spanner', url, database: url.slice('spanner://'.length) }
    default:
      throw new Error(
        `unsupported database URL "${redact(url)}": expected sqlite:///path.db, postgres://…, mysql://… or spanner://projects/P/instances/I/databases/D`,
      )
  }
}

function sqlitePath(rest: string, cwd: string): string {
  if (rest === ':memory:' || rest === '//:memory:' || rest === '///:memory:') return ':memory:'
  // After the empty authority "//" comes one "/" separator: sqlite:///rel.db, sqlite:////abs.db.
  const cleaned = rest.startsWith('//') ? rest.slice(3) : rest
  if (cleaned === '') throw new Error('sqlite database URL has no path: expected sqlite:///path.db')
  return cleaned.startsWith('/') ? cleaned : resolvePosix(cwd, cleaned)
}

/**
 * node:path's `resolve(cwd, relative)` for POSIX paths, written out so that starting the server
 * does not load node:path (memory at start): `.`, `..` and empty segments are folded away.
 */
function resolvePosix(cwd: string, relative: string): string {
  const segments: string[] = []
  for (const segment of `${cwd}/${relative}`.split('/')) {
    if (segment === '..') segments.pop()
    else if (segment !== '' && segment !== '.') segments.push(segment)
  }
  return `/${segments.join('/')}`
}

/** The URL with any password hidden, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@')
}
